"""yujing.alerting: warnings from hazard results, to the people who act on them.

=====================  =====================================================================
module                 what it holds
=====================  =====================================================================
``lifecycle``          decisions per warning area: issue, upgrade, downgrade (hysteresis),
                       extend, update, cancel; lead time and evidence
``review``             the duty forecaster's confirm / edit / hold / cancel, with an audit
``cap``, ``cap_rules`` CAP 1.2 messages: model, identifiers, writing, safe parsing,
                       XSD and Google Public Alerts rules
``messages``           a decision as a bilingual (zh-CN, en-US) CAP message, threaded
``subscriptions/``     sector operators' assets, rules and channels (SQLAlchemy, Alembic)
``errors``             the exception tree
=====================  =====================================================================

Delivery (outbox, webhook, MQTT, e-mail, Atom feed) is the next part of the alerting issue.
"""
