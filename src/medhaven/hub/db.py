"""The hub database: engine, sessions (one transaction per unit of work) and migrations.

SQLite in the data directory is the embedded default; PostgreSQL is used when
``MEDHAVEN_HUB_DATABASE_URL`` names it. On SQLite every transaction starts with
``BEGIN IMMEDIATE`` so that two writers queue instead of failing half-way; on
PostgreSQL the services take row locks (``SELECT ... FOR UPDATE``) instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from medhaven.errors import ConfigError, Conflict, StoreError

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def database_url(*, data_dir: Path, url: str | None) -> str:
    """The SQLAlchemy URL of the hub database: ``url`` if given, else SQLite in ``data_dir``."""
    if not url:
        return f"sqlite:///{(data_dir / 'hub.db').resolve()}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    try:
        make_url(url)
    except ArgumentError as exc:
        raise ConfigError("hub database URL is not a valid SQLAlchemy URL") from exc
    return url


def _brief(exc: DBAPIError) -> str:
    """The driver's error class and first line, without the statement or its values."""
    orig = exc.orig
    first = str(orig).splitlines()[0] if orig is not None and str(orig) else ""
    return f"{type(orig).__name__}: {first[:200]}"


def _sqlite_setup(engine: Engine, *, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_con: Any, _record: Any) -> None:
        dbapi_con.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_con.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(con: Any) -> None:
        # writers take the write lock up front, so two of them queue instead of one failing
        # half-way; readers use a deferred BEGIN and run side by side (WAL)
        con.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str, *, readonly: bool = False) -> Engine:
    """An engine for ``url`` (SQLite parents are created; foreign keys and WAL switched on)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            parent = Path(parsed.database).parent
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"{parent}: cannot create the hub data directory") from exc
        engine = create_engine(
            url, connect_args={"check_same_thread": False}, pool_size=20, hide_parameters=True
        )
        _sqlite_setup(engine, immediate=not readonly)
        return engine
    # hide_parameters: a failing statement's values (hashes, emails) never reach a log line
    return create_engine(
        url, pool_size=20, max_overflow=40, pool_pre_ping=True, hide_parameters=True
    )


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (``alembic upgrade head``)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.connect() as con:
            cfg.attributes["connection"] = con
            command.upgrade(cfg, "head")
            con.commit()
    except OperationalError as exc:
        raise StoreError("the hub database could not be migrated", detail=_brief(exc)) from exc


class Database:
    """An engine plus a session factory; ``unit()`` is one transaction, committed on success."""

    def __init__(self, url: str, *, migrate_now: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        if migrate_now:
            migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # on SQLite a second engine whose transactions do not take the write lock up front
        self.read_engine = make_engine(url, readonly=True) if self.is_sqlite else self.engine
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)

    @contextmanager
    def unit(self, *, readonly: bool = False) -> Iterator[Session]:
        """One transaction: commit when the block ends, roll back on any exception.

        ``readonly`` units must not write (on SQLite they may run beside a writer).
        """
        session = (self._read_sessions if readonly else self._sessions)()
        try:
            with session.begin():
                yield session
        except IntegrityError as exc:
            # e.g. two clients creating the same name at once: the loser gets a clean 409
            raise Conflict(
                "the change conflicts with data stored meanwhile", detail=_brief(exc)
            ) from exc
        except OperationalError as exc:
            raise StoreError("the hub database failed", detail=_brief(exc)) from exc
        finally:
            session.close()

    def close(self) -> None:
        """Release all pooled connections."""
        self.engine.dispose()
        self.read_engine.dispose()


def open_database(*, data_dir: Path, url: str | None = None) -> Database:
    """Open (and migrate) the hub database for ``data_dir`` or ``url``."""
    return Database(database_url(data_dir=data_dir, url=url))


__all__ = ["Database", "database_url", "make_engine", "migrate", "open_database"]
