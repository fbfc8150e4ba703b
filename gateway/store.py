"""The gateway's storage: one SQLite file in WAL mode in the data directory,
or a PostgreSQL schema the data directory names (gateway/store_postgres.py).

This module and its engines are the only code that speaks SQL. The ledger,
registry and committer use the small ``Store`` interface below, whichever
database holds the ledger: the statements are written once, and an engine
(``_Sqlite`` here, ``Postgres`` there) owns the connection, the schema's
types, how a write transaction begins and the one-writer lock. Every write
happens inside a transaction opened by ``transaction()``; commits are durable
(SQLite: WAL with synchronous=FULL; PostgreSQL: synchronous_commit=on on a
server with fsync), so a commit returns after fsync.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

DB_NAME = "paymote.sqlite"
STORE_URL_FILE = "store.url"  # in a data directory whose ledger is in PostgreSQL: its URL
WRITER_LOCK_FILE = "writer.lock"  # held by the one process that writes an SQLite ledger
GENESIS_ENTRY_HASH = bytes(32)
DEVICES_CACHED_MAX = 65536  # the writer's device rows kept between transactions (575 B each, measured)

# In SQLite's types; store_postgres.py maps them to PostgreSQL's.
SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    device_id BLOB PRIMARY KEY,
    public_key BLOB NOT NULL UNIQUE,
    board TEXT,
    payer TEXT NOT NULL,
    allowed_payees TEXT NOT NULL,          -- JSON array of account names
    max_amount_minor INTEGER,              -- per intent; NULL: no limit
    max_daily_minor INTEGER,               -- per UTC day of gateway time; NULL: no limit
    status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    registered_s INTEGER NOT NULL,
    revoked_s INTEGER,
    flagged TEXT                           -- why it may be cloned, if ever
);
CREATE TABLE IF NOT EXISTS device_state (  -- the head of each device's chain
    device_id BLOB PRIMARY KEY REFERENCES devices (device_id),
    last_seq INTEGER NOT NULL,
    last_hash BLOB NOT NULL,
    day INTEGER NOT NULL,                  -- UTC day (gateway time) of spent_minor
    spent_minor INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    position INTEGER PRIMARY KEY,          -- 1, 2, 3, ... with no gaps
    -- ledger.transfer_id(device id, seq), so with UNIQUE (device_id, seq) below one per
    -- transfer: idempotent. (Ledgers made before 2026-12-02 index it UNIQUE as well, which
    -- the CHECK makes redundant; the index cost 20 us an entry, docs/performance.md.)
    transfer_id TEXT NOT NULL CHECK (transfer_id = lower(hex(device_id)) || '-' || seq),
    device_id BLOB NOT NULL,
    seq INTEGER NOT NULL,
    debit TEXT NOT NULL,
    credit TEXT NOT NULL,
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    device_time_s INTEGER NOT NULL,
    gateway_time_s INTEGER NOT NULL,
    evidence BLOB NOT NULL,                -- the signed intent exactly as received
    receipt BLOB NOT NULL,
    entry_hash BLOB NOT NULL,
    UNIQUE (device_id, seq)
);
CREATE TABLE IF NOT EXISTS balances (
    account TEXT NOT NULL,
    currency TEXT NOT NULL,
    balance_minor INTEGER NOT NULL,
    PRIMARY KEY (account, currency)
);
CREATE TABLE IF NOT EXISTS refusals (      -- authentic intents refused by policy
    device_id BLOB NOT NULL,
    seq INTEGER NOT NULL,
    message_hash BLOB NOT NULL,
    reason TEXT NOT NULL,
    gateway_time_s INTEGER NOT NULL,
    PRIMARY KEY (device_id, seq)
);
CREATE TABLE IF NOT EXISTS attestations (
    device_id BLOB NOT NULL REFERENCES devices (device_id),
    nonce BLOB NOT NULL,
    bootcount INTEGER NOT NULL,
    iat_s INTEGER NOT NULL,
    measurement BLOB NOT NULL,             -- SHA-256 of the firmware manifest, to appraise
    swname TEXT NOT NULL,
    swversion TEXT NOT NULL,
    dbgstat INTEGER NOT NULL,
    location TEXT,                         -- JSON {"1": lat, "2": lon, ...} or NULL
    gateway_time_s INTEGER NOT NULL,
    evidence BLOB NOT NULL,
    receipt BLOB NOT NULL,
    PRIMARY KEY (device_id, nonce)
);
CREATE TABLE IF NOT EXISTS reading_batches (
    device_id BLOB NOT NULL REFERENCES devices (device_id),
    seq INTEGER NOT NULL,
    time_s INTEGER NOT NULL,
    gateway_time_s INTEGER NOT NULL,
    evidence BLOB NOT NULL,
    receipt BLOB NOT NULL,
    PRIMARY KEY (device_id, seq)
);
CREATE TABLE IF NOT EXISTS samples (       -- the time series, one row per SenML record
    device_id BLOB NOT NULL,
    batch_seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    unit TEXT,
    value REAL NOT NULL,
    time_s REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_by_device_time ON samples (device_id, name, time_s);
CREATE TABLE IF NOT EXISTS gaps (          -- sequence numbers a device skipped
    device_id BLOB NOT NULL,
    after_seq INTEGER NOT NULL,
    next_seq INTEGER NOT NULL,
    gateway_time_s INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Device:
    """A registered device and the head of its chain."""

    device_id: bytes
    public_key: bytes
    board: str | None
    payer: str
    allowed_payees: tuple[str, ...]
    max_amount_minor: int | None
    max_daily_minor: int | None
    status: str
    registered_s: int
    revoked_s: int | None
    flagged: str | None
    last_seq: int
    last_hash: bytes
    day: int
    spent_minor: int


@dataclass(frozen=True)
class Entry:
    """One ledger entry: a transfer from debit to credit, with its evidence."""

    position: int
    transfer_id: str
    device_id: bytes
    seq: int
    debit: str
    credit: str
    amount_minor: int
    currency: str
    device_time_s: int
    gateway_time_s: int
    evidence: bytes
    receipt: bytes
    entry_hash: bytes


_DEVICE_COLUMNS = (
    "d.device_id, d.public_key, d.board, d.payer, d.allowed_payees, d.max_amount_minor, "
    "d.max_daily_minor, d.status, d.registered_s, d.revoked_s, d.flagged, "
    "s.last_seq, s.last_hash, s.day, s.spent_minor"
)
_ENTRY_COLUMNS = (
    "position, transfer_id, device_id, seq, debit, credit, amount_minor, currency, "
    "device_time_s, gateway_time_s, evidence, receipt, entry_hash"
)
_ENTRY_FIELDS = tuple(name.strip() for name in _ENTRY_COLUMNS.split(","))
_INSERT_ENTRY = f"INSERT INTO entries ({_ENTRY_COLUMNS}) VALUES ({', '.join('?' * len(_ENTRY_FIELDS))})"
_ADVANCE_DEVICE = (
    "UPDATE device_state SET last_seq = ?, last_hash = ?, day = ?, spent_minor = ? WHERE device_id = ?"
)
_ADD_TO_BALANCE = (
    "INSERT INTO balances VALUES (?, ?, ?) ON CONFLICT (account, currency) "
    "DO UPDATE SET balance_minor = balances.balance_minor + excluded.balance_minor"
)


def _device(row: Any) -> Device:
    values = list(row)
    values[4] = tuple(json.loads(values[4]))
    return Device(*values)


class StoreError(Exception):
    """A data directory or database the gateway cannot use as it stands; the
    message says what to do."""


def ledger_url(data_dir: Path) -> str | None:
    """The PostgreSQL URL data_dir's ledger lives at, or None: SQLite in data_dir."""
    try:
        return (data_dir / STORE_URL_FILE).read_text().strip()
    except FileNotFoundError:
        return None


def bind(data_dir: Path, url: str) -> None:
    """Make data_dir's ledger the PostgreSQL schema at url (a libpq URL; its
    search_path option picks the schema), once: every command on data_dir
    then follows it. A data directory has one ledger, so binding one that
    holds an SQLite ledger, or another URL, is refused."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise StoreError(f"--store wants a postgresql:// URL, not {url!r}")
    bound = ledger_url(data_dir)
    if bound == url:
        return
    if bound is not None:
        raise StoreError(f"{data_dir}'s ledger is at {bound}; a data directory has one ledger")
    if (data_dir / DB_NAME).exists():
        raise StoreError(f"{data_dir} holds an SQLite ledger ({DB_NAME}); a data directory has one ledger")
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / STORE_URL_FILE
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:  # may hold a password
        f.write(url + "\n")
        f.flush()
        os.fsync(f.fileno())


def has_ledger(data_dir: Path) -> bool:
    """Whether data_dir has a ledger (commands that only read never make one)."""
    return (data_dir / DB_NAME).exists() or (data_dir / STORE_URL_FILE).exists()


class Engine(Protocol):
    """What Store needs of a database: _Sqlite below, store_postgres.Postgres.
    Statements come with ? placeholders; an engine that wants others maps them."""

    @property
    def integrity_error(self) -> type[Exception]: ...  # what a constraint of the schema raises
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...  # a cursor: fetchone, iteration
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...
    def iterate(self, sql: str) -> Iterator[Any]: ...  # rows read lazily, however many
    def begin(self) -> object: ...  # a write transaction; changes when another connection committed
    def commit(self) -> None: ...  # durable when it returns
    def rollback(self) -> None: ...  # also when no transaction is open
    def begin_reading(self) -> None: ...  # every read until end_reading() sees one state
    def end_reading(self) -> None: ...
    @property
    def in_transaction(self) -> bool: ...
    def registry_changed(self) -> None: ...  # before a write to devices, inside the transaction
    def claim_writer(self) -> None: ...  # StoreError if another process writes this ledger
    def close(self) -> None: ...


class _Sqlite:
    """The SQLite engine: one file in WAL mode in the data directory."""

    integrity_error = sqlite3.IntegrityError

    def __init__(self, data_dir: Path, readonly: bool) -> None:
        self._data_dir = data_dir
        self._writer_lock: int | None = None
        path = data_dir / DB_NAME
        if readonly:  # another thread may use it (the request side's key lookups)
            self._db = sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=30, check_same_thread=False
            )
            return
        data_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a commit returns after fsync
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._db.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._db.executemany(sql, rows)

    def begin(self) -> object:
        """Begin the write transaction (no other connection writes until it
        ends); returns what changes when another connection has committed."""
        self._db.execute("BEGIN IMMEDIATE")
        return self._db.execute("PRAGMA data_version").fetchone()[0]

    def commit(self) -> None:
        self._db.execute("COMMIT")

    def rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def begin_reading(self) -> None:
        self._db.execute("BEGIN")  # deferred: in WAL mode its first read fixes what it sees

    def end_reading(self) -> None:
        self._db.execute("COMMIT")

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction

    def registry_changed(self) -> None:
        """Nothing to do: PRAGMA data_version sees other connections' commits."""

    def claim_writer(self) -> None:
        fd = os.open(self._data_dir / WRITER_LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the kernel lets go when the process dies
        except BlockingIOError:
            os.close(fd)
            raise StoreError(f"another gateway writes the ledger in {self._data_dir}") from None
        self._writer_lock = fd

    def iterate(self, sql: str) -> Iterator[Any]:
        return iter(self._db.execute(sql))

    def close(self) -> None:
        self._db.close()
        if self._writer_lock is not None:
            os.close(self._writer_lock)


class Store:
    """The ledger's storage. One instance per thread: the committer owns one,
    each command-line call opens its own."""

    def __init__(self, data_dir: Path, readonly: bool = False) -> None:
        """readonly: look at a ledger another process writes (the simulator
        watching its gateway, a worker reading keys); nothing is created,
        nothing can be written."""
        self._lock = threading.Lock()
        # Device rows as this connection last read or wrote them, used only
        # inside its write transactions, where no other connection can commit.
        # Another connection's commit (a revocation by `paymote devices`)
        # changes what the engine's begin() returns, which empties the cache
        # when the next transaction begins; a rollback empties it too.
        self._devices: dict[bytes, Device] = {}
        self._devices_version: object = None
        # What the open transaction appends to entries, balances and device
        # heads, written with one executemany each before anything reads those
        # tables and at commit, balance changes summed per account: PostgreSQL
        # is a round trip away (a statement cost 32 to 52 µs, a row of an
        # executemany 18 to 21, docs/performance.md); SQLite, measured, neither
        # gains nor loses.
        self._entry_rows: list[list[Any]] = []
        self._balance_deltas: dict[tuple[str, str], int] = {}
        self._device_heads: dict[bytes, tuple[int, bytes, int, int]] = {}
        url = ledger_url(data_dir)
        if url is None:
            self._db: Engine = _Sqlite(data_dir, readonly)
        else:
            from paymote.gateway.store_postgres import Postgres

            self._db = Postgres(url, readonly)

    @property
    def integrity_error(self) -> type[Exception]:
        """What a constraint the schema states raises in this engine."""
        return self._db.integrity_error

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def claim_writer(self) -> None:
        """Be the ledger's one writer for as long as this store is open (entry
        positions come from the writer's own head); StoreError if another
        process is."""
        self._db.claim_writer()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction; commits (durably) on success, rolls back on error."""
        with self._lock:
            try:
                version = self._db.begin()  # may fail after its BEGIN: rolled back below
                if version != self._devices_version:
                    self._devices.clear()
                    self._devices_version = version
                yield
                self._write_appends()
                self._db.commit()
            except BaseException:
                self._devices.clear()  # it may hold writes that were not committed
                self._entry_rows, self._balance_deltas, self._device_heads = [], {}, {}
                self._db.rollback()
                raise

    def _appending(self) -> None:
        if not self._db.in_transaction:  # outside one, nothing would ever write what is held
            raise RuntimeError("the ledger's appends are made inside Store.transaction()")

    def _write_appends(self) -> None:
        """Write what the transaction appended so far (before a read of the
        tables it went to, and at commit); a constraint it breaks raises here."""
        if self._entry_rows:
            rows, self._entry_rows = self._entry_rows, []
            self._db.executemany(_INSERT_ENTRY, rows)
        if self._device_heads:
            heads, self._device_heads = self._device_heads, {}
            self._db.executemany(_ADVANCE_DEVICE, [(*head, device_id) for device_id, head in heads.items()])
        if self._balance_deltas:
            deltas, self._balance_deltas = self._balance_deltas, {}
            self._db.executemany(_ADD_TO_BALANCE, [(a, c, d) for (a, c), d in sorted(deltas.items())])

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads that all see one state of the ledger however long they take
        (`ledger verify` beside a gateway that commits: its entries and the
        balances it checks them against must be of the same moment)."""
        with self._lock:
            self._db.begin_reading()
            try:
                yield
            finally:
                self._db.end_reading()

    # ---------------------------------------------------------------- registry

    def add_device(self, device: Device) -> None:
        self._db.registry_changed()
        self._db.execute(
            "INSERT INTO devices VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                device.device_id,
                device.public_key,
                device.board,
                device.payer,
                json.dumps(list(device.allowed_payees)),
                device.max_amount_minor,
                device.max_daily_minor,
                device.status,
                device.registered_s,
                device.revoked_s,
                device.flagged,
            ),
        )
        self._db.execute(
            "INSERT INTO device_state VALUES (?, ?, ?, ?, ?)",
            (device.device_id, device.last_seq, device.last_hash, device.day, device.spent_minor),
        )

    def device(self, device_id: bytes) -> Device | None:
        if self._db.in_transaction:  # a write transaction (the connection autocommits otherwise)
            cached = self._devices.get(device_id)
            if cached is not None:
                return cached
        self._write_appends()
        row = self._db.execute(
            f"SELECT {_DEVICE_COLUMNS} FROM devices d JOIN device_state s USING (device_id) "
            "WHERE d.device_id = ?",
            (device_id,),
        ).fetchone()
        if row is None:
            return None
        device = _device(row)
        if self._db.in_transaction:
            if len(self._devices) >= DEVICES_CACHED_MAX:
                del self._devices[next(iter(self._devices))]  # the longest cached
            self._devices[device_id] = device
        return device

    def public_key(self, device_id: bytes) -> bytes | None:
        """The registered key, revoked or not (the writer decides on revocation)."""
        row = self._db.execute("SELECT public_key FROM devices WHERE device_id = ?", (device_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def devices(self) -> list[Device]:
        self._write_appends()
        rows = self._db.execute(
            f"SELECT {_DEVICE_COLUMNS} FROM devices d JOIN device_state s USING (device_id) "
            "ORDER BY d.registered_s, d.device_id"
        )
        return [_device(row) for row in rows]

    def revoke_device(self, device_id: bytes, now_s: int) -> None:
        """Revoked from now on; a device revoked before keeps its first revoked_s."""
        self._db.registry_changed()
        self._db.execute(
            "UPDATE devices SET status = 'revoked', revoked_s = ? WHERE device_id = ? AND status = 'active'",
            (now_s, device_id),
        )
        self._devices.pop(device_id, None)

    def flag_device(self, device_id: bytes, reason: str) -> None:
        self._db.registry_changed()
        self._db.execute(
            "UPDATE devices SET flagged = ? WHERE device_id = ? AND flagged IS NULL", (reason, device_id)
        )
        self._devices.pop(device_id, None)

    def advance_device(self, device_id: bytes, seq: int, message_hash: bytes, day: int, spent: int) -> None:
        self._appending()
        self._device_heads[device_id] = (seq, message_hash, day, spent)  # the last one is the head
        cached = self._devices.get(device_id)
        if cached is not None:
            self._devices[device_id] = Device(
                **{
                    **cached.__dict__,
                    "last_seq": seq,
                    "last_hash": message_hash,
                    "day": day,
                    "spent_minor": spent,
                }
            )

    def record_gap(self, device_id: bytes, after_seq: int, next_seq: int, now_s: int) -> None:
        self._db.execute("INSERT INTO gaps VALUES (?, ?, ?, ?)", (device_id, after_seq, next_seq, now_s))

    def gaps(self, device_id: bytes) -> list[tuple[int, int]]:
        rows = self._db.execute(
            "SELECT after_seq, next_seq FROM gaps WHERE device_id = ? ORDER BY after_seq", (device_id,)
        )
        return [(a, b) for a, b in rows]

    # ---------------------------------------------------------------- refusals

    def add_refusal(self, device_id: bytes, seq: int, message_hash: bytes, reason: str, now_s: int) -> None:
        self._db.execute(
            "INSERT INTO refusals VALUES (?, ?, ?, ?, ?)", (device_id, seq, message_hash, reason, now_s)
        )

    def refusal(self, device_id: bytes, seq: int) -> tuple[bytes, str] | None:
        row = self._db.execute(
            "SELECT message_hash, reason FROM refusals WHERE device_id = ? AND seq = ?", (device_id, seq)
        ).fetchone()
        return (row[0], row[1]) if row else None

    # ---------------------------------------------------------------- attestations, readings

    def add_attestation(self, device_id: bytes, nonce: bytes, *fields: Any) -> None:
        self._db.execute(
            "INSERT INTO attestations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (device_id, nonce, *fields),
        )

    def attestation(self, device_id: bytes, nonce: bytes) -> tuple[bytes, bytes] | None:
        row = self._db.execute(
            "SELECT evidence, receipt FROM attestations WHERE device_id = ? AND nonce = ?", (device_id, nonce)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def attestation_times(self, device_id: bytes) -> list[tuple[int, int]]:
        """(boot count, the board's iat) of each attestation of the device, oldest first."""
        return [
            (row[0], row[1])
            for row in self._db.execute(
                "SELECT bootcount, iat_s FROM attestations WHERE device_id = ? ORDER BY iat_s, bootcount",
                (device_id,),
            )
        ]

    def latest_attestation(self, device_id: bytes) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT bootcount, iat_s, measurement, swname, swversion, dbgstat, location, gateway_time_s "
            "FROM attestations WHERE device_id = ? ORDER BY gateway_time_s DESC, bootcount DESC LIMIT 1",
            (device_id,),
        ).fetchone()
        if row is None:
            return None
        names = (
            "bootcount",
            "iat_s",
            "measurement",
            "swname",
            "swversion",
            "dbgstat",
            "location",
            "gateway_time_s",
        )
        return dict(zip(names, row, strict=True))

    def add_reading_batch(
        self,
        device_id: bytes,
        seq: int,
        time_s: int,
        now_s: int,
        evidence: bytes,
        receipt: bytes,
        samples: list[tuple[str, str | None, float, float]],
    ) -> None:
        self._db.execute(
            "INSERT INTO reading_batches VALUES (?, ?, ?, ?, ?, ?)",
            (device_id, seq, time_s, now_s, evidence, receipt),
        )
        self._db.executemany(
            "INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?)",
            [(device_id, seq, name, unit, value, t) for name, unit, value, t in samples],
        )

    def reading_batch(self, device_id: bytes, seq: int) -> tuple[bytes, bytes] | None:
        row = self._db.execute(
            "SELECT evidence, receipt FROM reading_batches WHERE device_id = ? AND seq = ?", (device_id, seq)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def samples(self, device_id: bytes) -> list[tuple[str, str | None, float, float]]:
        rows = self._db.execute(
            "SELECT name, unit, value, time_s FROM samples WHERE device_id = ? ORDER BY time_s, name",
            (device_id,),
        )
        return [(n, u, v, t) for n, u, v, t in rows]

    # ---------------------------------------------------------------- entries

    def add_entry(self, entry: Entry) -> None:
        """Inside a transaction: the entry, and its amount off the debit's
        balance and onto the credit's."""
        self._appending()
        self._entry_rows.append([getattr(entry, name) for name in _ENTRY_FIELDS])  # astuple deep-copies
        deltas = self._balance_deltas
        for account, delta in ((entry.debit, -entry.amount_minor), (entry.credit, entry.amount_minor)):
            deltas[account, entry.currency] = deltas.get((account, entry.currency), 0) + delta

    def entry_by_seq(self, device_id: bytes, seq: int) -> Entry | None:
        self._write_appends()
        row = self._db.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE device_id = ? AND seq = ?", (device_id, seq)
        ).fetchone()
        return Entry(*row) if row else None

    def last_entry(self) -> tuple[int, bytes]:
        """(position, entry hash) of the newest entry; (0, genesis) when empty."""
        self._write_appends()
        row = self._db.execute(
            "SELECT position, entry_hash FROM entries ORDER BY position DESC LIMIT 1"
        ).fetchone()
        return (row[0], row[1]) if row else (0, GENESIS_ENTRY_HASH)

    def entries(self) -> Iterator[Entry]:
        """Every entry in position order, read lazily."""
        self._write_appends()
        for row in self._db.iterate(f"SELECT {_ENTRY_COLUMNS} FROM entries ORDER BY position"):
            yield Entry(*row)

    def entry_count(self) -> int:
        self._write_appends()
        return int(self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def balances(self) -> list[tuple[str, str, int]]:
        self._write_appends()
        rows = self._db.execute(
            "SELECT account, currency, balance_minor FROM balances ORDER BY currency, account"
        )
        return [(a, c, b) for a, c, b in rows]
