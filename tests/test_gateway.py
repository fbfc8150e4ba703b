"""The gateway over real CoAP on loopback: every outcome, its code, and what it writes."""

from __future__ import annotations

import asyncio

import pytest
from aiocoap.numbers.codes import Code

from paymote.crypto import cose, inbound, messages
from paymote.gateway import authenticate, keys
from paymote.gateway.store import Store
from tests.gateway_helpers import Device, running_gateway


def _gateway_keys(data_dir):
    key = keys.load(data_dir / keys.KEY_FILE)
    return {key.kid: authenticate.Ed25519Key(key.public)}


def _ledger(data_dir):
    with Store(data_dir) as store:
        return list(store.entries()), store.balances(), store.devices()


async def test_accepted_intent_gets_a_receipt_and_one_entry(tmp_path):
    """2.01 with a gateway-signed receipt naming the entry; one double-entry transfer recorded."""
    device = Device(1)
    async with running_gateway(tmp_path) as gateway:
        device.register(tmp_path)
        message = device.intent(amount_minor=42)
        response = await gateway.post("i", message)
    assert response.code == Code.CREATED
    assert response.opt.content_format == 18
    _, receipt = inbound.open_receipt(response.payload, _gateway_keys(tmp_path))
    entries, balances, _ = _ledger(tmp_path)
    assert len(entries) == 1 and entries[0].evidence == message
    assert (receipt.device_id, receipt.seq, receipt.entry_hash) == (device.kid, 1, entries[0].entry_hash)
    assert sorted(balances) == [("hh-1", "EUR", -42), ("utility", "EUR", 42)]


async def test_retransmission_gets_2_04_and_the_same_receipt(tmp_path):
    """A duplicate of an accepted message: 2.04, byte-identical receipt, nothing written."""
    device = Device(2)
    device.register(tmp_path)
    async with running_gateway(tmp_path) as gateway:
        message = device.intent()
        first = await gateway.post("i", message)
        again = await gateway.post("i", message)
    assert (first.code, again.code) == (Code.CREATED, Code.CHANGED)
    assert again.payload == first.payload
    assert len(_ledger(tmp_path)[0]) == 1


async def test_same_seq_other_content_is_a_conflict_and_flags_the_device(tmp_path):
    """4.09 for a fork (a possible cloned key); the device is flagged; nothing recorded for it."""
    device = Device(3)
    device.register(tmp_path)
    async with running_gateway(tmp_path) as gateway:
        assert (await gateway.post("i", device.intent(amount_minor=10))).code == Code.CREATED
        clone = device.intent(amount_minor=99, seq=1, prev=messages.GENESIS_HASH)
        response = await gateway.post("i", clone)
    assert response.code == Code.CONFLICT
    entries, _, devices = _ledger(tmp_path)
    assert len(entries) == 1 and entries[0].amount_minor == 10
    assert devices[0].flagged and "cloned" in devices[0].flagged


async def test_broken_chain_and_stale_seq_are_conflicts(tmp_path):
    """A prev that does not chain, or a seq behind the head never seen, is 4.09."""
    device = Device(4)
    device.register(tmp_path)
    async with running_gateway(tmp_path) as gateway:
        assert (await gateway.post("i", device.intent())).code == Code.CREATED
        assert (await gateway.post("i", device.intent(prev=bytes(16)))).code == Code.CONFLICT
        assert (
            await gateway.post("i", device.intent(seq=5))
        ).code == Code.CONFLICT  # chains to the refused fork
    assert len(_ledger(tmp_path)[0]) == 1


async def test_skipped_numbers_are_a_recorded_gap_not_an_error(tmp_path):
    """A board that crashed skips reserved numbers: accepted, and the gap is recorded."""
    device = Device(5)
    device.register(tmp_path)
    async with running_gateway(tmp_path) as gateway:
        assert (await gateway.post("i", device.intent())).code == Code.CREATED
        assert (await gateway.post("i", device.intent(seq=40))).code == Code.CREATED
    store = Store(tmp_path)
    assert store.gaps(device.kid) == [(1, 40)]
    store.close()


async def test_policy_refusals_are_4_03_and_the_chain_continues(tmp_path):
    """Over the limit or to a payee not allowed: 4.03, nothing in the ledger; the next intent
    (signed offline after the refused one, so chaining to it) is accepted."""
    device = Device(6)
    device.register(tmp_path, max_amount_minor=100)
    async with running_gateway(tmp_path) as gateway:
        over = await gateway.post("i", device.intent(amount_minor=101))
        elsewhere = await gateway.post("i", device.intent(payee="someone-else"))
        again = await gateway.post("i", device.intent(amount_minor=50))
    assert over.code == Code.FORBIDDEN and b"limit" in over.payload
    assert elsewhere.code == Code.FORBIDDEN and b"payee" in elsewhere.payload
    assert again.code == Code.CREATED
    entries = _ledger(tmp_path)[0]
    assert [(e.seq, e.amount_minor) for e in entries] == [(3, 50)]


async def test_daily_limit_counts_what_was_accepted_today(tmp_path):
    """The per-day limit sums accepted amounts in the gateway's UTC day."""
    device = Device(7)
    device.register(tmp_path, max_daily_minor=100)
    async with running_gateway(tmp_path, clock=lambda: 1764374400.0) as gateway:
        codes = [(await gateway.post("i", device.intent(amount_minor=40))).code for _ in range(3)]
    assert codes == [Code.CREATED, Code.CREATED, Code.FORBIDDEN]


async def test_revoked_device_is_refused_from_then_on(tmp_path):
    """After revocation the device's intents are 4.03 and write nothing."""
    from paymote.gateway import registry

    device = Device(8)
    device.register(tmp_path)
    async with running_gateway(tmp_path) as gateway:
        assert (await gateway.post("i", device.intent())).code == Code.CREATED
        store = Store(tmp_path)
        registry.revoke(store, device.kid.hex(), 0)
        store.close()
        response = await gateway.post("i", device.intent())
    assert response.code == Code.FORBIDDEN and b"revoked" in response.payload
    assert len(_ledger(tmp_path)[0]) == 1


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda m, other: other, Code.UNAUTHORIZED),  # unregistered device
        (lambda m, other: m[:-1] + bytes([m[-1] ^ 1]), Code.UNAUTHORIZED),  # bad signature
        (lambda m, other: m[:-3], Code.BAD_REQUEST),  # truncated
        (lambda m, other: b"\xd1" + m[1:], Code.BAD_REQUEST),  # wrong tag
        (lambda m, other: m + bytes(200), Code.REQUEST_ENTITY_TOO_LARGE),
    ],
)
async def test_bad_messages_get_their_codes_and_write_nothing(tmp_path, mutate, code):
    """Unknown key or bad signature 4.01, malformed 4.00, oversized 4.13; nothing written."""
    device, stranger = Device(9), Device(10)
    device.register(tmp_path)
    async with running_gateway(tmp_path) as gateway:
        response = await gateway.post("i", mutate(device.intent(), stranger.intent()))
    assert response.code == code
    assert response.payload  # a short diagnostic
    entries, _, devices = _ledger(tmp_path)
    assert entries == [] and devices[0].last_seq == 0


async def test_rate_limit_answers_4_29_with_max_age(tmp_path):
    """A device over its rate gets 4.29 Too Many Requests with Max-Age (RFC 8516)."""
    device = Device(11)
    device.register(tmp_path)
    limits = {"burst_per_device": 2, "rate_per_device_per_s": 0.1}
    async with running_gateway(tmp_path, clock=lambda: 1764374400.0, **limits) as gateway:
        codes = [await gateway.post("i", device.intent()) for _ in range(3)]
    assert [r.code for r in codes] == [Code.CREATED, Code.CREATED, Code.TOO_MANY_REQUESTS]
    assert codes[2].opt.max_age == 10


async def test_full_queue_answers_5_03_with_max_age(tmp_path):
    """With the ledger queue at its bound, the pipeline answers Busy at once: 5.03 with Max-Age.

    (One aiocoap client keeps one request in flight per server, NSTART=1, so the
    queue is filled directly: a committer that is not running never drains it.)
    """
    from paymote.gateway import pipeline, responses
    from paymote.gateway.committer import Committer
    from paymote.gateway.outcomes import Busy

    first, second = Device(20), Device(21)
    first.register(tmp_path)
    second.register(tmp_path)
    key = keys.load_or_create(tmp_path)
    committer = Committer(tmp_path, key, lambda: 1764374400.0, queue_items_max=1)
    device_keys = pipeline.DeviceKeys(tmp_path)
    flow = pipeline.Pipeline(device_keys, committer, pipeline.RateLimiter(10, 10), lambda: 1764374400.0)
    queued = asyncio.ensure_future(flow.intent(first.intent()))
    await asyncio.sleep(0)
    outcome = await flow.intent(second.intent())
    assert outcome == Busy(2) and not queued.done()
    response = responses.for_outcome(outcome)
    assert response.code == Code.SERVICE_UNAVAILABLE and response.opt.max_age == 2
    queued.cancel()
    device_keys.close()


async def test_time_and_resource_discovery(tmp_path):
    """GET /t gives gateway time as CBOR; /.well-known/core lists the resources (RFC 6690)."""
    from paymote.crypto import cbor

    async with running_gateway(tmp_path, clock=lambda: 1764374400.5) as gateway:
        now = await gateway.get("t")
        core = await gateway.get(".well-known/core")
    assert cbor.decode(now.payload) == 1764374400
    assert b"</i>" in core.payload and b"</t>" in core.payload


def test_receipt_signature_is_checked_against_the_gateway_key(tmp_path):
    """Receipts name the gateway's kid and verify under its key only."""
    key = keys.load_or_create(tmp_path)
    payload = inbound.receipt_payload(
        device_id=bytes(8), seq=1, entry_hash=bytes(32), time_s=1764374400, kind=inbound.KIND_INTENT
    )
    receipt = cose.sign1(payload, key, key.kid)
    assert inbound.open_receipt(receipt, _gateway_keys(tmp_path))[1].seq == 1
