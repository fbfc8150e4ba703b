"""firmware/outbox.py, counter.py and storage.py: bounds, dead letters, corruption, recovery."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paymote.crypto import messages
from paymote.firmware.counter import SequenceCounter
from paymote.firmware.outbox import Outbox, OutboxFull
from paymote.firmware.storage import CorruptRecord, FlashStorage
from tests.conftest import MPY_SCRIPTS, run_cpython, run_micropython


def _flash(tmp_path):
    return FlashStorage(str(tmp_path / "flash"))


def test_full_outbox_refuses_new_messages_and_drops_none(tmp_path):
    """At capacity, put raises OutboxFull; everything queued is still there, oldest first."""
    outbox = Outbox(_flash(tmp_path), capacity=3)
    for seq in (1, 2, 3):
        outbox.put(seq, b"m%d" % seq)
    with pytest.raises(OutboxFull):
        outbox.put(4, b"m4")
    assert [m for _, m in outbox.oldest(10)] == [b"m1", b"m2", b"m3"]


def test_dead_letter_keeps_the_reason_and_the_chain_head(tmp_path):
    """A refused message moves to dead/ with its reason and stays the chain head if newest."""
    flash = _flash(tmp_path)
    outbox = Outbox(flash)
    outbox.put(1, b"first")
    outbox.put(2, b"second")
    (name1, _), (name2, _) = outbox.oldest(2)
    outbox.done(name1, b"receipt-1")
    outbox.dead_letter(name2, "4.09 does not chain")
    assert len(outbox) == 0
    assert flash.read("dead/0000000002") == b"second"
    assert flash.read("dead/0000000002.why") == b"4.09 does not chain"
    assert outbox.prev_hash() == messages.chain_hash(b"second")


def test_torn_or_rotted_records_are_detected(tmp_path):
    """A record whose CRC-32 does not match raises CorruptRecord instead of being trusted."""
    flash = _flash(tmp_path)
    flash.write("outbox/0000000001", b"signed bytes")
    path = tmp_path / "flash" / "outbox" / "0000000001"
    data = bytearray(path.read_bytes())
    data[3] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptRecord):
        flash.read("outbox/0000000001")


def test_boot_finishes_a_move_the_power_cut_interrupted(tmp_path):
    """A receipt stored but the record not yet moved: the next boot retires the record."""
    flash = _flash(tmp_path)
    Outbox(flash).put(7, b"seven")
    flash.write("receipts/0000000007", b"receipt")
    outbox = Outbox(_flash(tmp_path))
    assert len(outbox) == 0 and outbox.prev_hash() == messages.chain_hash(b"seven")


def test_counter_reserves_blocks_and_skips_them_after_a_reboot(tmp_path):
    """One write per 16 numbers; a reboot continues after the whole reserved block."""
    flash = _flash(tmp_path)
    counter = SequenceCounter(flash)
    taken = [counter.take() for _ in range(20)]
    assert taken == list(range(1, 21)) and flash.writes == 4  # two reservations, 2 steps each
    assert SequenceCounter(_flash(tmp_path)).take() == 33  # 1..32 reserved before the "crash"


def test_receipts_are_kept_for_the_last_numbers_only_across_reboots(tmp_path, compiled):
    """Receipts older than the last receipts_kept numbers go, also across
    reboots that skipped numbers (a new Outbox finds where removal stopped by
    walking the folder), for intents and reading batches alike; the same on
    MicroPython in a 96 KB heap."""
    script = MPY_SCRIPTS / "receipt_retention.py"
    out = run_cpython(script, str(tmp_path / "a"))
    assert out.splitlines() == [
        "first boot ['0000000006', '0000000007', '0000000008', '0000000009', '0000000010']",
        "after a reboot ['0000000026', '0000000027', '0000000028', '0000000029', '0000000030']",
        "after empty boots ['0000000049', '0000000050']",
        "readings ['r0000000003', 'r0000000004'] intents still 2",
    ]
    assert run_micropython(script, str(tmp_path / "b"), path=compiled) == out


def test_the_kept_length_and_newest_agree_with_flash_on_both_interpreters(tmp_path, compiled):
    """Length and newest number live in RAM (signing walks no folder: each walk reads every
    directory entry on flash); after each of 400 puts, answers, dead letters (the newest
    too) and reboots they equal a walk of the folder, on CPython and on MicroPython in a
    96 KB heap, and signing read no entry (the walk-per-call code read 3,252). Making both
    kinds' outboxes again, as a wake from deep sleep does, reads the queue (5 entries, twice),
    not the 150 receipts (305 entries before the receipts were walked at the first answer)."""
    script = MPY_SCRIPTS / "outbox_counts.py"
    out = run_cpython(script, str(tmp_path / "a"), "400")
    assert out.splitlines()[-2:] == [
        "end 5 outbox/0000000267 signing read 0 entries",
        "a wake read 10 entries, with 150 receipts on flash",
    ]
    assert out.count("boot") > 20  # the sequence reboots often enough to matter
    assert run_micropython(script, str(tmp_path / "b"), "400", path=compiled) == out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("pdxb"), st.integers(0, 63)), max_size=60))
def test_the_kept_length_and_newest_follow_any_sequence_of_operations(tmp_path_factory, operations):
    """Any mix of put (p, numbers rising with gaps), done (d, oldest first), dead letter (x,
    any queued) and reboot (b): len() and newest() equal what is on flash."""
    storage = FlashStorage(str(tmp_path_factory.mktemp("flash")))
    outbox, seq = Outbox(storage, capacity=8), 0
    for operation, pick in operations:
        queued = outbox.oldest(8)
        if operation == "p" and len(queued) < 8:
            seq += 1 + pick % 3
            outbox.put(seq, b"%d" % seq)
        elif operation == "d" and queued:
            outbox.done(queued[0][0], b"receipt")
        elif operation == "x" and queued:
            outbox.dead_letter(queued[pick % len(queued)][0], "4.00")
        elif operation == "b":
            outbox = Outbox(storage, capacity=8)
        on_flash = sorted(storage.numbers("outbox"))
        assert len(outbox) == len(on_flash)
        assert outbox.newest() == ("outbox/%010d" % on_flash[-1] if on_flash else None)
