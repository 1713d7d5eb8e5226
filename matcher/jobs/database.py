"""The run history's database: an engine for its URL (SQLite or PostgreSQL), the schema migrated under a lock."""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from matcher.errors import ConfigurationError, DatabaseError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: the databases the run history is written for (and migrated and tested on)
SUPPORTED = ("sqlite://", "postgresql://", "postgres://", "postgresql+psycopg://")
#: PostgreSQL advisory lock held while migrating ("trialmatch" in ASCII, folded into 63 bits)
_MIGRATION_LOCK = 0x7472_6961_6C6D_6174


def open_database(url: str) -> Engine:
    """An engine for `url` with its schema at the latest migration; any failure is a DatabaseError."""
    try:
        engine = engine_for(url)
        migrate(engine, url)
    except (SQLAlchemyError, OSError) as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise DatabaseError(
            f"the run history database {safe_url(url)} cannot be used: {type(exc).__name__} {first}"
        ) from None
    return engine


def engine_for(url: str) -> Engine:
    """An engine for `url`; plain postgresql:// URLs use psycopg 3, SQLite waits for concurrent shards."""
    if not url.startswith(SUPPORTED):
        raise ConfigurationError(
            f"TRIALMATCH_DATABASE_URL must start with sqlite:/// or postgresql://, not {url.split('://', 1)[0][:30]}://"
        )
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the shard that writes
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    return engine


def migrate(engine: Engine, url: str) -> None:
    """Bring the schema to the latest migration; shards starting together wait for each other."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _file_lock(engine, url), engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def _file_lock(engine: Engine, url: str) -> Iterator[None]:
    """SQLite: an exclusive lock on a file beside the database (PostgreSQL locks inside the transaction)."""
    if engine.dialect.name != "sqlite" or not url.startswith("sqlite:///"):
        yield
        return
    with Path(url.removeprefix("sqlite:///") + ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def insert(engine: Engine, table: type[Any]) -> Any:
    """An INSERT for `table` in the engine's dialect, so it can say ON CONFLICT."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def safe_url(url: str) -> str:
    """A database URL without its password, fit for logs and messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
    return url


@contextmanager
def exclusive(engine: Engine, url: str, name: str) -> Iterator[bool]:
    """Hold a lock named `name` for as long as the block runs; yields False when another process holds it.

    PostgreSQL: a session advisory lock on a connection of its own; SQLite: a lock on a file beside the
    database. Either is released by the operating system or the server if the process dies, so a killed
    run never leaves a lock behind.
    """
    key = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big") >> 1  # 63 bits
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            held = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
            try:
                yield held
            finally:
                if held:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        return
    if not url.startswith("sqlite:///"):  # an in-memory database belongs to one process
        yield True
        return
    path = Path(url.removeprefix("sqlite:///") + f".{key:016x}.lock")
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
