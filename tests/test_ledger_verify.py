"""`paymote ledger verify` finds edits, deletions and reorderings, naming the entry."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paymote.crypto import cbor
from paymote.gateway import ledger
from paymote.gateway.cli import main
from paymote.gateway.store import Entry
from tests.gateway_helpers import Device, raw_sql, running_gateway


@pytest.fixture
async def ledger_dir(tmp_path, ledger_engine):
    """A data directory holding five accepted intents from two devices, in
    SQLite and in PostgreSQL."""
    alice, bob = Device(31, payer="alice"), Device(32, payer="bob")
    alice.register(tmp_path)
    bob.register(tmp_path)
    async with running_gateway(tmp_path) as gateway:
        for device, amount in ((alice, 10), (bob, 20), (alice, 30), (bob, 40), (alice, 50)):
            assert (await gateway.post("i", device.intent(amount_minor=amount))).code.is_successful()
    return tmp_path


def _verify(data_dir, capsys):
    code = main(["ledger", "verify", "--data", str(data_dir)])
    return code, capsys.readouterr().out


async def test_untouched_ledger_verifies(ledger_dir, capsys):
    """A ledger written by the gateway passes: chain, signatures, receipts and balances."""
    code, out = _verify(ledger_dir, capsys)
    assert code == 0 and "5 entries" in out
    assert main(["ledger", "balances", "--data", str(ledger_dir), "--json"]) == 0
    balances = json.loads(capsys.readouterr().out)
    assert {(b["account"], b["balance_minor"]) for b in balances} == {
        ("alice", -90),
        ("bob", -60),
        ("utility", 150),
    }
    assert sum(b["balance_minor"] for b in balances) == 0


async def test_changed_amount_is_named(ledger_dir, capsys):
    """One byte of a stored amount changed: verify fails at that entry."""
    raw_sql(ledger_dir, "UPDATE entries SET amount_minor = amount_minor + 1 WHERE position = 3")
    code, out = _verify(ledger_dir, capsys)
    assert code == 1 and "entry 3 " in out and "hash" in out


async def test_recomputed_hashes_still_fail_on_the_signed_evidence(ledger_dir, capsys):
    """Editing the amount and recomputing every hash still fails: the intent is signed."""
    from paymote.gateway import ledger
    from paymote.gateway.store import Store

    raw_sql(ledger_dir, "UPDATE entries SET amount_minor = 1 WHERE position = 2")
    store = Store(ledger_dir)
    previous = bytes(32)
    for entry in list(store.entries()):
        digest = ledger.entry_hash(previous, entry)
        raw_sql(ledger_dir, "UPDATE entries SET entry_hash = ? WHERE position = ?", digest, entry.position)
        previous = digest
    store.close()
    code, out = _verify(ledger_dir, capsys)
    assert code == 1 and "entry 2 " in out and "signed intent" in out


async def test_deleted_entry_is_named(ledger_dir, capsys):
    """An entry removed from the middle: verify names the missing position."""
    raw_sql(ledger_dir, "DELETE FROM entries WHERE position = 2")
    code, out = _verify(ledger_dir, capsys)
    assert code == 1 and "entry 2 " in out and "missing" in out


async def test_deleted_last_entry_is_caught_by_the_balances(ledger_dir, capsys):
    """Truncating the newest entry leaves the chain intact but not the stored balances."""
    raw_sql(ledger_dir, "DELETE FROM entries WHERE position = 5")
    code, out = _verify(ledger_dir, capsys)
    assert code == 1 and "balances" in out


async def test_reordered_entries_are_named(ledger_dir, capsys):
    """Two entries swapped in position: verify fails at the first of them."""
    raw_sql(ledger_dir, "UPDATE entries SET position = -1 WHERE position = 2")
    raw_sql(ledger_dir, "UPDATE entries SET position = 2 WHERE position = 4")
    raw_sql(ledger_dir, "UPDATE entries SET position = 4 WHERE position = -1")
    code, out = _verify(ledger_dir, capsys)
    assert code == 1 and "entry 2 " in out


async def test_export_formats(ledger_dir, capsys):
    """jsonl has one transfer a line with the evidence as received; csv has a header and 5 rows."""
    assert main(["ledger", "export", "--data", str(ledger_dir), "--format", "jsonl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    first = json.loads(lines[0])
    assert {
        "id",
        "device_id",
        "seq",
        "debit",
        "credit",
        "amount_minor",
        "currency",
        "entry_hash",
        "evidence",
    } <= set(first)
    assert first["amount_minor"] == 10 and bytes.fromhex(first["evidence"])[0] == 0xD2
    assert main(["ledger", "export", "--data", str(ledger_dir), "--format", "csv"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].startswith("position,id,device_id") and len(rows) == 6


def _out(capsys, *args):
    assert main(["ledger", *args]) == 0
    return capsys.readouterr().out


async def test_every_command_prints_the_same_rows_in_every_format(ledger_dir, capsys):
    """json is the array of the jsonl lines; csv has the same columns and values,
    a header first; show and export print the same entries."""
    for command in ("balances", "show", "export"):
        data = ["--data", str(ledger_dir)]
        as_json = json.loads(_out(capsys, command, *data, "--json"))
        lines = [json.loads(line) for line in _out(capsys, command, *data, "--format", "jsonl").splitlines()]
        table = list(csv.reader(io.StringIO(_out(capsys, command, *data, "--format", "csv"))))
        assert as_json == lines and len(lines) == (3 if command == "balances" else 5)
        assert table[0] == list(lines[0])
        assert table[1:] == [[str(v) for v in row.values()] for row in lines]
    assert json.loads(_out(capsys, "show", "--data", str(ledger_dir), "--json")) == as_json
    assert _out(capsys, "export", "--data", str(ledger_dir)).splitlines() == [json.dumps(r) for r in as_json]


async def test_verify_json_names_the_entry(ledger_dir, capsys):
    """--json: ok, entry count and, where it fails, the entry and why; the exit code says the same."""
    assert json.loads(_out(capsys, "verify", "--data", str(ledger_dir), "--json")) == {
        "ok": True,
        "entries": 5,
        "position": None,
        "id": None,
        "reason": None,
    }
    raw_sql(ledger_dir, "UPDATE entries SET amount_minor = amount_minor + 1 WHERE position = 3")
    assert main(["ledger", "verify", "--data", str(ledger_dir), "--json"]) == 1
    verdict = json.loads(capsys.readouterr().out)
    assert not verdict["ok"] and verdict["position"] == 3 and "hash" in verdict["reason"]
    assert verdict["id"] == json.loads(_out(capsys, "show", "--data", str(ledger_dir), "--json"))[2]["id"]
    assert main(["ledger", "verify", "--data", str(ledger_dir), "--format", "csv"]) == 1
    header, row = csv.reader(io.StringIO(capsys.readouterr().out))
    assert header == ["ok", "entries", "position", "id", "reason"] and row[:3] == ["False", "5", "3"]


@pytest.mark.parametrize("command", [["balances", "--json"], ["show"], ["verify"], ["export"]])
def test_ledger_commands_never_create_a_ledger(tmp_path, capsys, command):
    """A --data path with no ledger is an error (exit 2), and nothing is created there."""
    missing = tmp_path / "typo"
    assert main(["ledger", command[0], "--data", str(missing), *command[1:]]) == 2
    assert "no ledger in" in capsys.readouterr().err
    assert not missing.exists()


_HASHED_FIELDS = (
    "position",
    "transfer_id",
    "device_id",
    "seq",
    "debit",
    "credit",
    "amount_minor",
    "currency",
    "device_time_s",
    "gateway_time_s",
)
_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@settings(max_examples=300, deadline=None)
@given(
    st.binary(min_size=32, max_size=32),
    st.builds(
        Entry,
        position=_INT64,
        transfer_id=st.text(max_size=60),
        device_id=st.binary(max_size=16),
        seq=_INT64,
        debit=st.text(max_size=40),
        credit=st.text(max_size=40),
        amount_minor=_INT64,
        currency=st.text(max_size=4),
        device_time_s=_INT64,
        gateway_time_s=_INT64,
        evidence=st.binary(max_size=300),
        receipt=st.just(b""),
        entry_hash=st.just(b""),
    ),
)
def test_the_entry_hash_covers_the_deterministic_encoding_of_the_fields(previous, entry):
    """The chain link is SHA-256(previous entry hash || deterministic CBOR of
    the fields, evidence as its SHA-256), whichever encoder writes it: here
    the portable one, for every value an SQLite row can hold."""
    fields = [getattr(entry, name) for name in _HASHED_FIELDS] + [hashlib.sha256(entry.evidence).digest()]
    assert ledger.entry_hash(previous, entry) == hashlib.sha256(previous + cbor.encode(fields)).digest()
