"""yujing.alerting: warnings from hazard results, to the people who act on them.

=====================  =====================================================================
module                 what it holds
=====================  =====================================================================
``lifecycle``          decisions per warning area: issue, upgrade, downgrade (hysteresis),
                       extend, update, cancel; lead time and evidence
``review``             the duty forecaster's confirm / edit / hold / cancel, with an audit
``in_force``           what the public has in force: lowering it waits for the forecaster,
                       prolonging it does not, and it is kept while the forecaster is asked
``cap``, ``cap_rules`` CAP 1.2 messages: model, identifiers, writing, safe parsing,
                       XSD and Google Public Alerts rules
``messages``           a decision as a bilingual (zh-CN, en-US) CAP message, threaded
``subscriptions/``     sector operators' assets, rules and channels (SQLAlchemy, Alembic)
``impact``             impact forecasts for subscribed assets and rules
``impact_records``     what an assessment gives back: a forecast (with its texts) or why not
``cycle``              one cycle: result → decisions → proposals → CAP → outbox (one commit)
``outbox/``            the alert store (state, proposals, messages, deliveries, audit) and
                       the dispatcher (leases, retries with backoff, dead letters)
``delivery/``          senders: signed webhooks (and a reference receiver), MQTT v5, SMTP
``feed``               the public CAP Atom feed
``database``           the shared SQL base, engine and Alembic migrations
``errors``             the exception tree
=====================  =====================================================================
"""
