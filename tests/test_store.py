"""gateway/store.py, on both engines (SQLite, PostgreSQL): the writer's device
rows, kept between its transactions, are never staler than a fresh read would
be; the schema holds one entry per transfer; a ledger has one writer."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import threading

import pytest

from paymote.gateway import ledger, registry, store, store_postgres
from tests.gateway_helpers import Device, free_udp_port, start_gateway_process

pytestmark = pytest.mark.usefixtures("ledger_engine")


def _registered(tmp_path, n: int) -> list[bytes]:
    devices = [Device(40 + i) for i in range(n)]
    for device in devices:
        device.register(tmp_path)
    return [device.kid for device in devices]


def test_a_revocation_by_another_connection_is_seen_by_the_next_transaction(tmp_path):
    (kid,) = _registered(tmp_path, 1)
    with store.Store(tmp_path) as writer:
        with writer.transaction():
            assert writer.device(kid).status == "active"
        with store.Store(tmp_path) as command_line:
            assert registry.revoke(command_line, kid.hex(), 1764374400)
        with writer.transaction():
            assert writer.device(kid).status == "revoked"


def test_the_writers_own_writes_are_what_it_reads_back(tmp_path):
    (kid,) = _registered(tmp_path, 1)
    with store.Store(tmp_path) as writer:
        with writer.transaction():
            writer.device(kid)
            writer.advance_device(kid, 7, b"\x01" * 16, 20426, 300)
            writer.flag_device(kid, "possible cloned key")
        with writer.transaction():
            seen = writer.device(kid)
        with store.Store(tmp_path) as fresh:
            assert fresh.device(kid) == seen
    assert (seen.last_seq, seen.last_hash, seen.day, seen.spent_minor) == (7, b"\x01" * 16, 20426, 300)
    assert seen.flagged == "possible cloned key"


def test_a_rolled_back_transaction_leaves_nothing_behind_in_the_rows_read_later(tmp_path):
    (kid,) = _registered(tmp_path, 1)
    with store.Store(tmp_path) as writer:
        with pytest.raises(RuntimeError), writer.transaction():
            writer.device(kid)
            writer.advance_device(kid, 9, b"\x02" * 16, 20426, 500)
            raise RuntimeError("the batch failed")
        with writer.transaction():
            assert writer.device(kid).last_seq == 0


def test_the_rows_kept_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "DEVICES_CACHED_MAX", 3)
    kids = _registered(tmp_path, 5)
    with store.Store(tmp_path) as writer, writer.transaction():
        for kid in kids:
            assert writer.device(kid).device_id == kid
        assert len(writer._devices) == 3  # noqa: SLF001 - the bound is the point


def _entry(device_id: bytes, seq: int, transfer_id: str) -> store.Entry:
    return store.Entry(
        position=1,
        transfer_id=transfer_id,
        device_id=device_id,
        seq=seq,
        debit="alice",
        credit="utility",
        amount_minor=42,
        currency="EUR",
        device_time_s=1764374400,
        gateway_time_s=1764374401,
        evidence=b"signed intent",
        receipt=b"receipt",
        entry_hash=bytes(32),
    )


def test_a_transfer_id_is_its_device_and_number_so_there_is_one_per_transfer(tmp_path):
    """The schema holds what idempotency rests on: an entry's id is
    ledger.transfer_id(device, seq), and a (device, seq) has one entry."""
    kid = bytes(range(8))
    with store.Store(tmp_path) as writer:
        with pytest.raises(writer.integrity_error, match="(?i)check"), writer.transaction():
            writer.add_entry(_entry(kid, 7, ledger.transfer_id(kid, 8)))
        with writer.transaction():
            writer.add_entry(_entry(kid, 7, ledger.transfer_id(kid, 7)))
        with pytest.raises(writer.integrity_error, match="(?i)unique"), writer.transaction():
            writer.add_entry(dataclasses.replace(_entry(kid, 7, ledger.transfer_id(kid, 7)), position=2))
        assert writer.entry_count() == 1


def test_a_ledger_has_one_writer_until_it_closes(tmp_path, monkeypatch):
    """A second gateway on the same ledger is refused at its start (its
    entries' positions would collide with the first's), and can start once
    the first has stopped; readers are not writers and are never refused."""
    monkeypatch.setattr(store_postgres, "WRITER_WAIT_S", 0.2)  # not the 5 s a restart may need
    with store.Store(tmp_path) as first:
        first.claim_writer()
        with store.Store(tmp_path) as second, pytest.raises(store.StoreError, match="another gateway"):
            second.claim_writer()
        with store.Store(tmp_path) as reader:
            assert reader.entry_count() == 0
    with store.Store(tmp_path) as third:
        third.claim_writer()


def test_every_entry_is_read_back_in_position_order_as_written(tmp_path):
    """entries() streams (PostgreSQL: a server-side cursor, in chunks) and
    gives back each field as it was written, bytes as bytes."""
    kid = bytes(range(8))
    written = [
        dataclasses.replace(
            _entry(kid, seq, ledger.transfer_id(kid, seq)),
            position=seq,
            evidence=seq.to_bytes(2, "big") * 150,
        )
        for seq in range(1, 2501)
    ]
    with store.Store(tmp_path) as writer:
        with writer.transaction():
            for entry in written:
                writer.add_entry(entry)
        assert list(writer.entries()) == written
        assert writer.last_entry() == (2500, bytes(32))
        assert writer.balances() == [("alice", "EUR", -2500 * 42), ("utility", "EUR", 2500 * 42)]


def test_a_revocation_waits_for_the_writers_transaction_and_is_seen_by_the_next(tmp_path):
    """A revocation never lands inside a batch: while the writer's transaction
    is open it waits (SQLite: BEGIN IMMEDIATE; PostgreSQL: the registry row
    every writer locks), and the writer, reading afresh inside it, still sees
    the device active; its next transaction sees it revoked."""
    (kid,) = _registered(tmp_path, 1)
    revoked = threading.Event()

    def revoke() -> None:
        with store.Store(tmp_path) as command_line:
            registry.revoke(command_line, kid.hex(), 1764374400)
        revoked.set()

    with store.Store(tmp_path) as writer:
        with writer.transaction():
            assert writer.device(kid).status == "active"
            thread = threading.Thread(target=revoke)
            thread.start()
            assert not revoked.wait(0.5)  # it waits for this transaction
            assert [d.status for d in writer.devices()] == ["active"]  # a fresh read, not the cache
        thread.join(30)
        assert revoked.is_set()
        with writer.transaction():
            assert writer.device(kid).status == "revoked"


def test_what_a_transaction_appends_is_what_its_own_reads_see(tmp_path, monkeypatch):
    """Entries, balance changes and device heads are written in bulk before a
    read of their tables and at commit: inside the transaction every read
    already sees them (a device row no longer cached included), a rollback
    leaves none of them, and a commit all of them, balances summed."""
    monkeypatch.setattr(store, "DEVICES_CACHED_MAX", 1)
    first, second = _registered(tmp_path, 2)
    with store.Store(tmp_path) as writer:
        with pytest.raises(RuntimeError), writer.transaction():
            writer.add_entry(_entry(first, 1, ledger.transfer_id(first, 1)))
            writer.advance_device(first, 1, b"\x03" * 16, 20426, 42)
            raise RuntimeError("the batch failed")
        with writer.transaction():
            assert writer.entry_count() == 0 and writer.balances() == []
            assert writer.device(first).last_seq == 0
            writer.add_entry(_entry(first, 1, ledger.transfer_id(first, 1)))
            assert writer.entry_by_seq(first, 1).amount_minor == 42
            writer.advance_device(first, 1, b"\x03" * 16, 20426, 42)
            writer.device(second)  # pushes first out of the one-row cache
            assert writer.device(first).last_seq == 1  # read from the table: written before the read
            later = dataclasses.replace(_entry(first, 2, ledger.transfer_id(first, 2)), position=2)
            writer.add_entry(later)
            writer.advance_device(first, 2, b"\x04" * 16, 20426, 84)
            assert writer.last_entry() == (2, bytes(32))
        assert writer.balances() == [("alice", "EUR", -84), ("utility", "EUR", 84)]
        with store.Store(tmp_path) as fresh:
            assert (fresh.device(first).last_seq, fresh.device(first).spent_minor) == (2, 84)
            assert [e.seq for e in fresh.entries()] == [1, 2]


def test_an_append_outside_a_transaction_is_refused_not_held(tmp_path):
    """Appends are held until the transaction writes them; outside one
    nothing would, so it is a programming error, raised at once."""
    (kid,) = _registered(tmp_path, 1)
    with store.Store(tmp_path) as writer:
        with pytest.raises(RuntimeError, match="inside Store.transaction"):
            writer.add_entry(_entry(kid, 1, ledger.transfer_id(kid, 1)))
        with pytest.raises(RuntimeError, match="inside Store.transaction"):
            writer.advance_device(kid, 1, b"\x01" * 16, 20426, 42)
        assert writer.entry_count() == 0


def test_a_second_gateway_on_the_same_ledger_refuses_to_start(tmp_path):
    """`paymote gateway run` on a ledger another gateway writes exits 1 and
    says why (a "refused" event and a line on stderr), leaving the first
    serving; on PostgreSQL after waiting WRITER_WAIT_S for the lock."""
    first = start_gateway_process(tmp_path, free_udp_port())
    try:
        command = [sys.executable, "-m", "paymote.gateway.cli", "gateway", "run", "--data", str(tmp_path)]
        second = subprocess.run(
            [*command, "--bind", f"127.0.0.1:{free_udp_port()}"], capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 1, second.stderr
        assert json.loads(second.stdout.splitlines()[-1])["event"] == "refused"
        assert "another gateway writes" in second.stderr
        assert first.poll() is None  # still serving
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0


def test_a_snapshot_reads_one_state_while_another_connection_commits(tmp_path):
    """`ledger verify` reads every entry and then the balances; a gateway
    committing in between must not make them disagree. Inside snapshot()
    the entries, their count and the balances stay as they were when it
    began, whatever another connection commits meanwhile."""
    kid = bytes(range(8))
    with store.Store(tmp_path) as writer:
        with writer.transaction():
            writer.add_entry(_entry(kid, 1, ledger.transfer_id(kid, 1)))
        with store.Store(tmp_path) as reader, reader.snapshot():
            assert [e.seq for e in reader.entries()] == [1]
            with writer.transaction():
                later = dataclasses.replace(_entry(kid, 2, ledger.transfer_id(kid, 2)), position=2)
                writer.add_entry(later)
            assert reader.entry_count() == 1
            assert reader.balances() == [("alice", "EUR", -42), ("utility", "EUR", 42)]
        with store.Store(tmp_path) as after:
            assert after.entry_count() == 2
