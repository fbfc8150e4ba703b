"""The ledger in PostgreSQL (gateway/store_postgres.py): a data directory names
its one ledger, the commands follow it, a bad URL is a clear refusal, and a
writer whose connection the server dropped fails that batch (5.00) and then
goes on, with nothing lost and nothing counted twice."""

from __future__ import annotations

import json
import stat

import psycopg
import pytest
from aiocoap.numbers.codes import Code

from paymote.gateway import store, store_postgres
from paymote.gateway.cli import main
from tests.gateway_helpers import Device, running_gateway


def test_a_data_directory_is_bound_once_to_one_ledger(tmp_path):
    """bind records the URL (owner-only: it may hold a password), again is a
    no-op, and another URL, an SQLite ledger already there or a URL that is
    not PostgreSQL's is refused, so no command opens a second, empty ledger."""
    url = "postgresql://paymote@db.invalid/paymote"
    with pytest.raises(store.StoreError, match="postgresql://"):
        store.bind(tmp_path / "a", "sqlite:///x")
    store.bind(tmp_path / "a", url)
    store.bind(tmp_path / "a", url)
    assert store.ledger_url(tmp_path / "a") == url and store.has_ledger(tmp_path / "a")
    assert stat.S_IMODE((tmp_path / "a" / store.STORE_URL_FILE).stat().st_mode) == 0o600
    with pytest.raises(store.StoreError, match="one ledger"):
        store.bind(tmp_path / "a", url + "2")
    store.Store(tmp_path / "b").close()  # an SQLite ledger
    with pytest.raises(store.StoreError, match="SQLite"):
        store.bind(tmp_path / "b", url)
    assert store.ledger_url(tmp_path / "b") is None


def test_the_commands_follow_the_binding_and_keep_nothing_in_the_directory(tmp_path, postgres_schema, capsys):
    """`devices add --store URL` binds DIR; `devices list` and `ledger
    balances` on DIR then read PostgreSQL, and DIR holds no SQLite file."""
    device = Device(61, payer="farm-7")
    add = ["devices", "add", "--data", str(tmp_path), "--pubkey", device.key.public.hex()]
    add += ["--payer", "farm-7", "--allow-payee", "coop", "--store", postgres_schema, "--json"]
    assert main(add) == 0
    assert json.loads(capsys.readouterr().out)["device_id"] == device.kid.hex()
    assert main(["devices", "list", "--data", str(tmp_path), "--json"]) == 0
    assert [d["device_id"] for d in json.loads(capsys.readouterr().out)] == [device.kid.hex()]
    assert main(["ledger", "balances", "--data", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []  # no transfers yet, and no "no ledger"
    assert not (tmp_path / store.DB_NAME).exists()
    with psycopg.connect(postgres_schema) as pg:
        assert pg.execute("SELECT count(*) FROM devices").fetchone()[0] == 1


def test_a_url_naming_no_schema_or_no_server_is_a_clear_refusal(tmp_path, postgres_schema, capsys):
    """The commands say what is wrong and exit 1; no traceback, nothing bound
    half-way that a later command would trust."""
    no_schema = postgres_schema.rsplit("%3D", 1)[0] + "%3Dpaymote_no_such_schema"
    store.bind(tmp_path / "a", no_schema)
    assert main(["ledger", "balances", "--data", str(tmp_path / "a")]) == 2
    assert "CREATE SCHEMA" in capsys.readouterr().err
    store.bind(tmp_path / "b", "postgresql://postgres@127.0.0.1:1/test?connect_timeout=2")
    assert main(["devices", "list", "--data", str(tmp_path / "b")]) == 1
    assert "cannot reach" in capsys.readouterr().err


def _end_the_writers_session(url: str) -> int:
    """pg_terminate_backend on the session holding the ledger's writer lock."""
    with psycopg.connect(url, autocommit=True) as pg:
        (pid,) = pg.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = %s "
            "AND objid = hashtext(current_schema())::oid AND granted",
            (store_postgres._WRITER_LOCK,),  # noqa: SLF001 - the lock is what this test finds
        ).fetchone()
        assert pg.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
        return pid


async def test_a_dropped_connection_fails_one_batch_and_the_writer_goes_on(tmp_path, postgres_schema):
    """The server ends the writer's session between two intents: the next
    commit fails (5.00, as RFC 7252 §5.9.3.1 says for an unexpected
    condition), the writer connects again (and takes its lock again), the
    board's resend is accepted, and the ledger has each intent once and verifies."""
    store.bind(tmp_path, postgres_schema)
    device = Device(62, payer="van-3")
    device.register(tmp_path)
    async with running_gateway(tmp_path) as gateway:
        assert (await gateway.post("i", device.intent(amount_minor=100))).code == Code.CREATED
        first_pid = _end_the_writers_session(postgres_schema)
        second = device.intent(amount_minor=200)
        assert (await gateway.post("i", second)).code == Code.INTERNAL_SERVER_ERROR
        assert (await gateway.post("i", second)).code == Code.CREATED
        assert (await gateway.post("i", device.intent(amount_minor=300))).code == Code.CREATED
        assert _end_the_writers_session(postgres_schema) != first_pid  # a new session holds the lock
    with store.Store(tmp_path) as ledger:
        assert [(e.position, e.seq, e.amount_minor) for e in ledger.entries()] == [
            (1, 1, 100),
            (2, 2, 200),
            (3, 3, 300),
        ]
    assert main(["ledger", "verify", "--data", str(tmp_path)]) == 0
