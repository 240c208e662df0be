"""Alembic revisions of the alerting database, oldest first."""
