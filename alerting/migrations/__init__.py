"""Alembic migrations of the alerting database: 0001 subscriptions, 0002 the alert store.

Apply them with :func:`alerting.database.upgrade` (the stores' ``upgrade()``), which points
Alembic's ``script_location`` here and passes its own connection to ``env.py``. From the
command line, an ``alembic.ini`` with ``script_location = alerting/migrations`` works too;
the database URL is then given as ``alembic -x url=sqlite:///subscriptions.db upgrade head``.

New revisions go in ``versions/`` as ``NNNN_<what>.py`` (template: ``script.py.mako``) and
must leave the schema equal to :mod:`alerting.subscriptions.tables` and
:mod:`alerting.outbox.tables`;
``tests/services/test_subscriptions.py`` compares the two with Alembic's autogenerate.
"""
