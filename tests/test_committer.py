"""The ledger writer when a group commit fails: nothing of it is acknowledged,
a message that fails alone does not take the rest of its group with it, its
device's later messages queued behind it are not taken for a fork, and what
the rollback undid (an attestation's nonce) is usable again."""

from __future__ import annotations

import asyncio

from paymote.crypto import inbound
from paymote.gateway import committer as committer_module
from paymote.gateway import decode, keys, ledger_command, record
from paymote.gateway.committer import Committer
from paymote.gateway.outcomes import Accepted, Duplicate, Failed
from paymote.gateway.store import Store
from tests.gateway_helpers import Device

NOW_S = 1764374400.0


class _BugError(Exception):
    """What a message's content might hit in the writer: not a refusal, a failure."""


def _submit(committer: Committer, kind: int, message: bytes) -> asyncio.Future:
    envelope, parsed = decode.decode_message(message, kind)
    return committer.submit(kind, envelope.kid, message, parsed)


def _failing_for(kids):
    def apply(ctx, device_id, message, parsed, now_s):
        if device_id in kids:
            raise _BugError(device_id.hex())
        return record.intent(ctx, device_id, message, parsed, now_s)

    return apply


async def _one_group(tmp_path, monkeypatch, failing):
    """An intent of `good`, an attestation of `attesting` and an intent of
    `poison`, queued before the writer runs, so they form one group commit;
    intents of the devices in failing(devices) raise in the writer."""
    good, attesting, poison = Device(41, payer="a"), Device(42, payer="b"), Device(43, payer="c")
    for device in (good, attesting, poison):
        device.register(tmp_path)
    monkeypatch.setitem(
        committer_module.APPLY_FOR_KIND,
        inbound.KIND_INTENT,
        _failing_for({d.kid for d in failing(good, poison)}),
    )
    committer = Committer(tmp_path, keys.load_or_create(tmp_path), lambda: NOW_S)
    await committer.start()
    nonce = committer.issue_nonce()
    futures = [
        _submit(committer, inbound.KIND_INTENT, good.intent(amount_minor=5)),
        _submit(committer, inbound.KIND_ATTESTATION, attesting.attestation(nonce)),
        _submit(committer, inbound.KIND_INTENT, poison.intent(amount_minor=7)),
    ]
    results = await asyncio.gather(*futures)
    await committer.stop()
    with Store(tmp_path) as store:
        entries = [(e.device_id, e.amount_minor) for e in store.entries()]
        attested = store.attestation(attesting.kid, nonce) is not None
    return results, committer.batches_committed, entries, attested, (good, poison)


async def test_a_message_that_fails_alone_does_not_fail_its_group(tmp_path, monkeypatch):
    """The group's commit fails and rolls back; committed one by one, the intent and the
    attestation are accepted (the attestation's nonce, consumed by the rolled-back
    transaction, is unused again) and only the failing message gets its error."""
    results, commits, entries, attested, (good, poison) = await _one_group(
        tmp_path, monkeypatch, lambda good, poison: [poison]
    )
    assert isinstance(results[0], Accepted) and isinstance(results[1], Accepted)
    assert results[2] == Failed("commit failed: _BugError", "commit_failed")
    assert commits == 2  # not the group: the two that commit alone
    assert entries == [(good.kid, 5)] and attested
    assert ledger_command.problem_in(tmp_path)[0] is None


async def test_a_commit_that_fails_for_all_acknowledges_none(tmp_path, monkeypatch):
    """Every intent fails (as on an I/O error): each waiter gets Failed (5.00), no intent
    is written, and the attestation, which does not fail, is stored once."""
    results, commits, entries, attested, _ = await _one_group(
        tmp_path, monkeypatch, lambda good, poison: [good, poison]
    )
    assert results[0] == results[2] == Failed("commit failed: _BugError", "commit_failed")
    assert isinstance(results[1], Accepted) and attested
    assert commits == 1 and entries == []
    assert ledger_command.problem_in(tmp_path)[0] is None


async def test_a_devices_messages_queued_behind_a_failed_one_wait_for_it(tmp_path, monkeypatch):
    """A board's batch upload [1, 2, 3] whose intent 1 fails in the writer, split over two
    group commits (two items each here), with another device's intent in between: 2 and 3
    fail too, unattempted, instead of being taken for a fork of a chain without 1 (4.09,
    device flagged as a possible clone); the other device's is accepted. The board then
    sends 1, 2, 3 again and all three are accepted, in order."""
    board, other = Device(44, payer="a"), Device(45, payer="b")
    board.register(tmp_path)
    other.register(tmp_path)
    broken = [True]

    def apply(ctx, device_id, message, parsed, now_s):
        if broken[0] and device_id == board.kid and parsed.seq == 1:
            raise _BugError("seq 1")
        return record.intent(ctx, device_id, message, parsed, now_s)

    monkeypatch.setitem(committer_module.APPLY_FOR_KIND, inbound.KIND_INTENT, apply)
    committer = Committer(tmp_path, keys.load_or_create(tmp_path), lambda: NOW_S, batch_items_max=2)
    await committer.start()
    upload = [board.intent(amount_minor=n) for n in (1, 2, 3)]
    queued = [upload[0], other.intent(amount_minor=9), upload[1], upload[2]]
    first = await asyncio.gather(*(_submit(committer, inbound.KIND_INTENT, m) for m in queued))
    broken[0] = False
    again = await asyncio.gather(*(_submit(committer, inbound.KIND_INTENT, m) for m in upload))
    await committer.stop()
    assert first[0] == Failed("commit failed: _BugError", "commit_failed") and isinstance(first[1], Accepted)
    assert first[2] == first[3] == Failed("waits for seq 1", "held_back")
    assert all(isinstance(outcome, Accepted) for outcome in again)
    with Store(tmp_path) as store:
        assert [(e.device_id, e.amount_minor) for e in store.entries()] == [
            (other.kid, 9),
            (board.kid, 1),
            (board.kid, 2),
            (board.kid, 3),
        ]
        assert store.device(board.kid).flagged is None
    assert ledger_command.problem_in(tmp_path)[0] is None


async def test_a_failure_holds_back_nothing_sent_after_it(tmp_path, monkeypatch):
    """A retransmission of an accepted intent fails in the writer (as on an I/O error):
    the board already holds that receipt and sends the next number, which is tried
    and accepted, not left waiting for a number the board will never send again."""
    board = Device(46, payer="a")
    board.register(tmp_path)
    failing = [False]

    def apply(ctx, device_id, message, parsed, now_s):
        if failing[0]:
            raise _BugError("disk")
        return record.intent(ctx, device_id, message, parsed, now_s)

    monkeypatch.setitem(committer_module.APPLY_FOR_KIND, inbound.KIND_INTENT, apply)
    committer = Committer(tmp_path, keys.load_or_create(tmp_path), lambda: NOW_S)
    await committer.start()
    one = board.intent(amount_minor=1)
    accepted = await _submit(committer, inbound.KIND_INTENT, one)
    failing[0] = True
    retransmitted = await _submit(committer, inbound.KIND_INTENT, one)
    failing[0] = False
    following = await _submit(committer, inbound.KIND_INTENT, board.intent(amount_minor=2))
    await committer.stop()
    assert isinstance(accepted, Accepted) and isinstance(retransmitted, Failed)
    assert isinstance(following, Accepted)


async def test_a_commit_whose_answer_was_lost_is_answered_again_from_the_ledger(
    tmp_path, monkeypatch, ledger_engine
):
    """COMMIT reached the disk but its answer never came back (a PostgreSQL
    connection dropped at that instant): that intent is answered Failed, its
    resend is a Duplicate carrying the receipt that was stored, and the next
    intent takes the next position, because the writer read the ledger's head
    again instead of trusting its own, so the ledger verifies."""
    device = Device(44, payer="d")
    device.register(tmp_path)
    committer = Committer(tmp_path, keys.load_or_create(tmp_path), lambda: NOW_S)
    await committer.start()
    engine = type(committer._ctx.store._db)  # noqa: SLF001 - the engine is what fails here
    real_commit = engine.commit
    answers_lost = [ConnectionError("the server's answer to COMMIT was lost")]

    def commit_and_lose_the_answer(self):
        real_commit(self)
        if answers_lost:
            raise answers_lost.pop()

    monkeypatch.setattr(engine, "commit", commit_and_lose_the_answer)
    first = device.intent(amount_minor=5)
    assert isinstance(await _submit(committer, inbound.KIND_INTENT, first), Failed)
    resent = await _submit(committer, inbound.KIND_INTENT, first)
    following = await _submit(committer, inbound.KIND_INTENT, device.intent(amount_minor=6))
    await committer.stop()
    assert isinstance(following, Accepted)
    with Store(tmp_path) as store:
        stored = list(store.entries())
    assert [(e.position, e.seq) for e in stored] == [(1, 1), (2, 2)]
    assert isinstance(resent, Duplicate) and resent.receipt == stored[0].receipt
    assert ledger_command.problem_in(tmp_path)[0] is None
