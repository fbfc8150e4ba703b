"""The PostgreSQL engine of gateway/store.py: the same statements and schema
as the SQLite ledger, in a schema of a PostgreSQL database.

A data directory is bound to it once (`--store postgresql://...`, which
store.bind records in DIR/store.url); the URL is libpq's, and its search_path
option picks the schema, so one database can hold several ledgers:
``postgresql://paymote@db.example/paymote?options=-csearch_path%3Dfleet_a``.

What SQLite gives by its nature is stated here:
- One writer at a time. Every write transaction begins by locking the one row
  of `registry_version` (FOR UPDATE), as SQLite's BEGIN IMMEDIATE locks the
  file: a revocation commits wholly before or wholly after a batch of
  intents, never inside one.
- What another connection changed. SQLite's PRAGMA data_version has no
  equivalent, so every registry write bumps that row's version, and the
  writer's cached device rows are dropped when it moved.
- Durability. A writer refuses a server without fsync and sets
  synchronous_commit=on for its session, so COMMIT returns after the WAL is
  on disk (a server default of `off` would acknowledge what a crash loses).
- Cheap statements. SQLite runs in the writer's process; PostgreSQL is a
  round trip away, so a write transaction's statements go in pipeline mode
  (libpq's; sent without waiting for each answer, which a read inside the
  transaction waits for): an upsert 149 -> 26 µs here. A statement's error then
  surfaces at the next read or at commit; the committer, whose group
  failed, commits its messages one by one, each in its own transaction, so
  an error there is that message's.
- One ledger writer. The gateway's writer holds a session advisory lock on
  the schema; a second gateway on the same ledger refuses to start.
A connection that broke (the server restarted) is made again when the next
transaction begins; the batch that was in flight fails (5.00) and the boards
send it again, and the committer reads the ledger's head again.
"""

from __future__ import annotations

import contextlib
import secrets
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from paymote.gateway.store import SCHEMA, StoreError, bind

# SQLite's type names and functions in SCHEMA, and PostgreSQL's for them.
_TYPES = (
    ("lower(hex(device_id))", "encode(device_id, 'hex')"),
    (" BLOB", " BYTEA"),
    (" INTEGER", " BIGINT"),
    (" REAL", " DOUBLE PRECISION"),
)
_REGISTRY_VERSION = """
CREATE TABLE IF NOT EXISTS registry_version (   -- bumped by every registry write; locked by every writer
    one BIGINT PRIMARY KEY CHECK (one = 1),
    version BIGINT NOT NULL
);
INSERT INTO registry_version VALUES (1, 0) ON CONFLICT DO NOTHING;
"""
_LOCK_CLASS = 0x70796D74  # "pymt": advisory locks (class, hashtext(schema)) are paymote's
_SCHEMA_LOCK, _WRITER_LOCK = _LOCK_CLASS, _LOCK_CLASS + 1
WRITER_WAIT_S = 5.0  # how long a starting writer waits for the lock before it refuses


def schema() -> str:
    """SCHEMA in PostgreSQL's types, and the registry's version row."""
    text = SCHEMA
    for sqlite_name, postgres_name in _TYPES:
        text = text.replace(sqlite_name, postgres_name)
    return text + _REGISTRY_VERSION


class Postgres:
    """The engine: one psycopg connection in autocommit mode, so reads stand
    alone and writes happen between begin() and commit()."""

    def __init__(self, url: str, readonly: bool) -> None:
        try:
            import psycopg
        except ImportError:
            raise StoreError(
                "this ledger is in PostgreSQL; install psycopg: pip install 'paymote[postgres]'"
            ) from None
        self._psycopg = psycopg
        self.integrity_error = psycopg.IntegrityError
        self._url = url
        self._readonly = readonly
        self._sql: dict[str, str] = {}  # statements with ?, in psycopg's %s
        self._writer = False
        self._pipeline: Any = None  # the open transaction's, while there is one
        self._db = self._connect()

    def _connect(self) -> Any:
        try:
            db: Any = self._psycopg.connect(self._url, autocommit=True, connect_timeout=10)
        except self._psycopg.OperationalError as e:
            raise StoreError(f"cannot reach the ledger's PostgreSQL server: {e}".strip()) from None
        if db.execute("SELECT current_schema()").fetchone()[0] is None:
            db.close()
            raise StoreError("the store URL's search_path names no existing schema; CREATE SCHEMA it")
        if self._readonly:
            db.execute("SET default_transaction_read_only = on")
            return db
        if db.execute("SHOW fsync").fetchone()[0] != "on":
            db.close()
            raise StoreError("the PostgreSQL server runs with fsync off: a commit would not be durable")
        db.execute("SET synchronous_commit = on")
        db.execute("SELECT pg_advisory_lock(%s, hashtext(current_schema()))", (_SCHEMA_LOCK,))
        try:
            db.execute(schema())  # CREATE IF NOT EXISTS; the lock keeps two first starts apart
        finally:
            db.execute("SELECT pg_advisory_unlock(%s, hashtext(current_schema()))", (_SCHEMA_LOCK,))
        if self._writer:
            self._lock_writer(db)
        return db

    def _statement(self, sql: str) -> str:
        text = self._sql.get(sql)
        if text is None:
            text = self._sql[sql] = sql.replace("?", "%s")  # paymote's statements hold no other ?
        return text

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._db.execute(self._statement(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._db.cursor() as cursor:
            cursor.executemany(self._statement(sql), rows)

    def begin(self) -> object:
        """Begin the write transaction, holding every other writer off until
        it ends; returns the registry's version."""
        if self._db.broken or self._db.closed:
            self._db.close()
            self._db = self._connect()
        self._db.execute("BEGIN")
        version = self._db.execute("SELECT version FROM registry_version FOR UPDATE").fetchone()[0]
        self._pipeline = self._db.pipeline()
        self._pipeline.__enter__()
        return version

    def _end_pipeline(self, failed: BaseException | None) -> None:
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            pipeline.__exit__(type(failed) if failed else None, failed, None)  # waits for every answer

    def commit(self) -> None:
        self._end_pipeline(None)  # the first statement that failed raises here
        self._db.execute("COMMIT")

    def rollback(self) -> None:
        try:
            self._end_pipeline(RuntimeError("rolling back"))
        except self._psycopg.Error:
            pass  # the error being rolled back, or the connection's end
        if self._db.broken or self._db.closed:
            return  # the server ended the transaction with the connection
        if self.in_transaction:
            self._db.execute("ROLLBACK")

    def begin_reading(self) -> None:
        self._db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")  # one snapshot throughout

    def end_reading(self) -> None:
        self._db.execute("COMMIT")

    @property
    def in_transaction(self) -> bool:
        return self._db.info.transaction_status != self._psycopg.pq.TransactionStatus.IDLE

    def registry_changed(self) -> None:
        self._db.execute("UPDATE registry_version SET version = version + 1")

    def claim_writer(self) -> None:
        self._lock_writer(self._db)
        self._writer = True  # and again on every new connection

    def _lock_writer(self, db: Any) -> None:
        # A writer restarted after a crash may find the server still ending
        # the dead one's session, which holds the lock: wait a little for it.
        db.execute(f"SET lock_timeout = '{int(WRITER_WAIT_S * 1000)}ms'")
        try:
            db.execute("SELECT pg_advisory_lock(%s, hashtext(current_schema()))", (_WRITER_LOCK,))
        except self._psycopg.errors.LockNotAvailable:
            raise StoreError("another gateway writes this ledger (its PostgreSQL schema is locked)") from None
        finally:
            db.execute("RESET lock_timeout")

    def iterate(self, sql: str) -> Iterator[Any]:
        """Rows read in chunks by a server-side cursor, so a ledger of millions
        of entries never sits in memory (psycopg's default fetches them all)."""
        with self._db.transaction(), self._db.cursor(name="paymote_rows") as cursor:
            cursor.itersize = 2000
            cursor.execute(self._statement(sql))
            yield from cursor

    def close(self) -> None:
        self._db.close()


@contextlib.contextmanager
def scratch_schema(database_url: str, prefix: str = "paymote_scratch") -> Iterator[str]:
    """A new, uniquely named schema in the database at database_url for as
    long as the block runs, dropped with everything in it afterwards; yields
    the store URL that selects it. For tests and benchmarks."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as admin:
        admin.execute(f"CREATE SCHEMA {name}")
        separator = "&" if "?" in database_url else "?"
        try:
            yield f"{database_url}{separator}options={urllib.parse.quote(f'-csearch_path={name}')}"
        finally:
            admin.execute("SET lock_timeout = '10s'")  # a connection left open fails the drop, not hangs it
            admin.execute(f"DROP SCHEMA {name} CASCADE")


@contextlib.contextmanager
def scratch_ledger(data_dir: Path, database_url: str, prefix: str = "paymote_scratch") -> Iterator[str]:
    """data_dir's ledger in a scratch_schema() for as long as the block runs
    (the benchmarks' --postgres); yields the store URL."""
    with scratch_schema(database_url, prefix) as url:
        bind(data_dir, url)
        yield url
