"""The alerting database: one SQL database for subscriptions, warnings, messages, outbox, audit.

SQLite by default (a file, nothing to run), PostgreSQL by configuration; the schema comes from
the Alembic migrations in ``alerting/migrations`` only. The stores of this package
(:class:`~alerting.subscriptions.SubscriptionStore`, :class:`~alerting.outbox.AlertStore`)
share what is here: the declarative base with its naming convention, an aware-UTC column
type, the audit log table, engine creation with an error that names the URL, and schema checks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import DateTime, Index, Integer, MetaData, String, Text, create_engine, event
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from alerting.errors import AlertingError

__all__ = [
    "MIGRATIONS",
    "AuditRow",
    "Base",
    "SqlStore",
    "UTCDateTime",
    "current_revision",
    "head_revision",
    "make_engine",
    "public_url",
    "upgrade",
    "utc_now",
]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
"""The Alembic script directory of the alerting schema."""

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utc_now() -> datetime:
    """The current time, aware, in UTC: the stores' default, injectable clock.

    Stores read it only for bookkeeping (when a row was written, when a delivery is due);
    every decision of a cycle is taken at the issue time the caller passes in, so a replay
    decides the same whatever the wall clock says.
    """
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC instant on every backend (SQLite stores it naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"{value!r} is naive; give a timezone-aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every alerting table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AuditRow(Base):
    """One state change, who made it and why: of a proposal, message or delivery (the alert
    store) or of a subscriber (the subscription store), in the transaction of the change."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    entity: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index(None, "entity", "entity_id"),)


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str, what: str, error: type[AlertingError]) -> Engine:
    """An engine for ``url``; a URL SQLAlchemy cannot use raises ``error`` naming it.

    SQLite connections get foreign keys on and a 30 s busy timeout (a second writer, such as
    a dispatcher beside the cycle, waits instead of failing at once).
    """
    try:
        engine = create_engine(make_url(url))
    except (ArgumentError, NoSuchModuleError, ValueError) as err:
        raise error(
            f"{what} URL {url!r} is not usable ({err}); give e.g. 'sqlite:///alerts.db' or "
            "'postgresql+psycopg://user@host:5432/db'"
        ) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def public_url(target: Engine | str) -> str:
    """The URL of an engine (or a URL) with any password hidden (for messages)."""
    url = make_url(target) if isinstance(target, str) else target.url
    return url.render_as_string(hide_password=True)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with the Alembic migrations (idempotent)."""
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The schema revision of the database (None when never migrated)."""
    with engine.connect() as connection:
        revision: str | None = MigrationContext.configure(connection).get_current_revision()
        return revision


def head_revision() -> str | None:
    """The newest revision of the migrations."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


class SqlStore:
    """What the alerting stores share: an engine and sessions, migrations, a schema check.

    Parameters
    ----------
    url
        SQLAlchemy URL of the alerting database.
    what
        The store's name in messages (``"alert store"``).
    error
        The store's exception class (raised for an unusable URL or an old schema).
    """

    def __init__(self, url: str, what: str, error: type[AlertingError]) -> None:
        self._engine = make_engine(url, what, error)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        self._where = public_url(self._engine)
        self._what = what
        self._error = error
        self._schema_checked = False

    @property
    def where(self) -> str:
        """The database URL, password hidden."""
        return self._where

    def close(self) -> None:
        """Release the connection pool."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` with the Alembic migrations (idempotent)."""
        upgrade(self._engine, revision)
        self._schema_checked = False

    def current_revision(self) -> str | None:
        """Return the schema revision of the database (None when never migrated)."""
        return current_revision(self._engine)

    def _check_schema(self) -> None:
        if self._schema_checked:
            return
        current, head = self.current_revision(), head_revision()
        if current != head:
            raise self._error(
                f"{self._what} database {self._where} is at schema revision {current}, this "
                f"code needs {head}; run {type(self).__name__}.upgrade() (alembic upgrade head)"
            )
        self._schema_checked = True
