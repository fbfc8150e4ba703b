"""Attestations (/n, /a), reading batches (/r) and batch uploads (/b) over CoAP."""

from __future__ import annotations

from pathlib import Path

import pycddl
import pytest
from aiocoap.numbers.codes import Code

from paymote.crypto import cbor, cose, inbound, messages
from paymote.gateway import authenticate, keys
from paymote.gateway.store import Store
from tests.gateway_helpers import Device, running_gateway


def _gateway_keys(data_dir):
    key = keys.load(data_dir / keys.KEY_FILE)
    return {key.kid: authenticate.Ed25519Key(key.public)}


async def test_attestation_with_a_fresh_nonce_is_stored_once(tmp_path):
    """GET /n, then POST /a: 2.01 with a kind-2 receipt; the claims the appraisal needs are stored;
    the same message again is 2.04 with the same receipt."""
    device = Device(300)
    device.register(tmp_path)
    async with running_gateway(tmp_path) as gateway:
        nonce = cbor.decode((await gateway.get("n")).payload)
        message = device.attestation(nonce, bootcount=4)
        first = await gateway.post("a", message)
        again = await gateway.post("a", message)
    assert (first.code, again.code) == (Code.CREATED, Code.CHANGED) and again.payload == first.payload
    _, receipt = inbound.open_receipt(first.payload, _gateway_keys(tmp_path))
    assert (receipt.kind, receipt.seq, receipt.device_id) == (inbound.KIND_ATTESTATION, 4, device.kid)
    store = Store(tmp_path)
    stored = store.latest_attestation(device.kid)
    store.close()
    assert stored["measurement"] == bytes(range(32)) and stored["bootcount"] == 4
    assert stored["swversion"] == "0.1.0" and '"1": 52.3712345' in stored["location"]


async def test_attestation_nonces_are_single_use_and_issued_here(tmp_path):
    """A nonce we never issued is 4.01; a used nonce in another attestation is 4.09."""
    device = Device(301)
    device.register(tmp_path)
    async with running_gateway(tmp_path) as gateway:
        unknown = await gateway.post("a", device.attestation(bytes(16)))
        nonce = cbor.decode((await gateway.get("n")).payload)
        assert (await gateway.post("a", device.attestation(nonce, bootcount=1))).code == Code.CREATED
        reused = await gateway.post("a", device.attestation(nonce, bootcount=2))
    assert unknown.code == Code.UNAUTHORIZED and b"nonce" in unknown.payload
    assert reused.code == Code.CONFLICT


async def test_attestation_must_name_its_own_device(tmp_path):
    """An attestation whose ueid is another device's is malformed: 4.00."""
    device, other = Device(302), Device(303)
    device.register(tmp_path)
    async with running_gateway(tmp_path) as gateway:
        nonce = cbor.decode((await gateway.get("n")).payload)
        response = await gateway.post(
            "a", device.attestation(nonce, ueid=messages.ueid_for(other.key.public))
        )
    assert response.code == Code.BAD_REQUEST and b"ueid" in response.payload


async def test_reading_batches_become_a_time_series(tmp_path):
    """SenML base name and times are resolved; a batch number is stored once; other content is 4.09."""
    device = Device(304)
    device.register(tmp_path)
    async with running_gateway(tmp_path) as gateway:
        batch = device.reading_batch(1, [1000, 1010, 1025])
        assert (await gateway.post("r", batch)).code == Code.CREATED
        assert (await gateway.post("r", batch)).code == Code.CHANGED
        assert (await gateway.post("r", device.reading_batch(1, [5]))).code == Code.CONFLICT
    store = Store(tmp_path)
    samples = store.samples(device.kid)
    store.close()
    assert samples == [
        ("m1:energy", "Wh", 1000.0, 1764374400.0),
        ("m1:energy", "Wh", 1010.0, 1764374460.0),
        ("m1:energy", "Wh", 1025.0, 1764374520.0),
    ]


async def test_batch_upload_gives_each_intent_its_own_verdict(tmp_path):
    """Twelve intents in one POST (block-wise, over 1 KiB): each gets a verdict and receipt,
    and the bad items in between (garbage, an unknown device) spoil nothing."""
    device, stranger = Device(305), Device(306)
    device.register(tmp_path)
    good = [device.intent(amount_minor=i + 1) for i in range(12)]
    items = good[:4] + [b"\x00garbage", stranger.intent()] + good[4:]
    payload = cbor.encode(items)
    assert len(payload) > 1024
    async with running_gateway(tmp_path) as gateway:
        response = await gateway.post("b", payload)
        replay = await gateway.post("b", payload)
    assert response.code == Code.CHANGED and response.opt.content_format == 60
    verdicts = cbor.decode(response.payload, size_max=8192)
    codes = [item[0] for item in verdicts]
    assert codes == [65] * 4 + [128, 129] + [65] * 8  # 2.01 x4, 4.00, 4.01, 2.01 x8
    gateway_keys = _gateway_keys(tmp_path)
    seqs = [inbound.open_receipt(item[1], gateway_keys)[1].seq for item in verdicts if item[0] == 65]
    assert seqs == list(range(1, 13))
    cddl = (Path(__file__).resolve().parent.parent / "docs" / "paymote.cddl").read_text()
    pycddl.Schema(f"root = batch-verdicts\n{cddl}").validate_cbor(response.payload)
    pycddl.Schema(f"root = intent-batch\n{cddl}").validate_cbor(payload)
    replayed = cbor.decode(replay.payload, size_max=8192)
    assert [item[0] for item in replayed] == [68] * 4 + [128, 129] + [68] * 8
    store = Store(tmp_path)
    assert store.entry_count() == 12
    store.close()


@pytest.mark.parametrize("workers", [1, 2])
async def test_an_intent_the_ledger_cannot_commit_is_5_00_in_its_batch_alone(tmp_path, monkeypatch, workers):
    """One device's intent 1 fails in the ledger writer (a bug its content hits), in a
    one-datagram batch (the fast path) and in a block-wise one (aiocoap), with the writer
    in the request process and in a process of its own (workers=2): the answer is
    still 2.04 with a verdict per intent; that intent and its device's later ones in the
    batch get 5.00 (the board sends them again, none taken for a fork), the others their
    receipts. Sent again once the writer copes, they are accepted."""
    from paymote.gateway import committer, record

    board, other = Device(308), Device(309)
    board.register(tmp_path)
    other.register(tmp_path)
    broken = [True]

    def apply(ctx, device_id, message, parsed, now_s):
        if broken[0] and device_id == board.kid and parsed.seq in (1, 4):
            raise RuntimeError("a bug")
        return record.intent(ctx, device_id, message, parsed, now_s)

    monkeypatch.setitem(committer.APPLY_FOR_KIND, inbound.KIND_INTENT, apply)
    small = [other.intent(), board.intent(), board.intent(), other.intent()]  # board's 1, 2
    large = [board.intent() for _ in range(2)] + [other.intent() for _ in range(6)]  # 3, 4
    assert len(cbor.encode(small)) < 1024 < len(cbor.encode(large))
    async with running_gateway(tmp_path, workers=workers) as gateway:
        first_small = await gateway.post("b", cbor.encode(small))
        broken[0] = False
        again_small = await gateway.post("b", cbor.encode(small[1:3]))
        broken[0] = True
        first_large = await gateway.post("b", cbor.encode(large))
        broken[0] = False
        again_large = await gateway.post("b", cbor.encode(large[1:2]))
    codes = [[item[0] for item in cbor.decode(r.payload, size_max=8192)] for r in (first_small, first_large)]
    assert first_small.code == first_large.code == Code.CHANGED
    assert codes == [[65, 160, 160, 65], [65, 160] + [65] * 6]  # 2.01, 5.00
    assert cbor.decode(first_small.payload)[1][1] == "ledger error"
    assert [item[0] for item in cbor.decode(again_small.payload)] == [65, 65]
    assert [item[0] for item in cbor.decode(again_large.payload)] == [65]
    with Store(tmp_path) as store:
        assert [e.seq for e in store.entries() if e.device_id == board.kid] == [1, 2, 3, 4]
        assert store.device(board.kid).flagged is None


async def test_batch_that_is_not_an_array_is_4_00(tmp_path):
    """The batch itself must be an array of 1..32 byte strings."""
    async with running_gateway(tmp_path) as gateway:
        response = await gateway.post("b", cbor.encode({1: 2}))
        empty = await gateway.post("b", cbor.encode([]))
    assert response.code == Code.BAD_REQUEST and empty.code == Code.BAD_REQUEST


async def test_resources_are_listed_in_well_known_core(tmp_path):
    """/.well-known/core (RFC 6690) lists every resource with its rt and ct."""
    async with running_gateway(tmp_path) as gateway:
        core = (await gateway.get(".well-known/core")).payload.decode()
    for path in ("</i>", "</b>", "</a>", "</n>", "</r>", "</t>"):
        assert path in core
    assert 'rt="paymote.intent"' in core and f'ct="{cose.CONTENT_FORMAT_SIGN1}"' in core


async def test_block_wise_uploads_are_bounded_before_they_are_buffered(tmp_path):
    """RFC 7959 §2.9.3: /i refuses a block-wise upload at its first block, /b past the batch
    limit, both with 4.13 and Size1, so no hostile upload is buffered whole."""
    from paymote.gateway.pipeline import BATCH_BYTES_MAX

    device = Device(307)
    device.register(tmp_path)
    async with running_gateway(tmp_path) as gateway:
        big_intent = await gateway.post("i", bytes(5000))
        big_batch = await gateway.post("b", cbor.encode([bytes(180)] * 40))
        fine = await gateway.post("i", device.intent())
    assert big_intent.code == Code.REQUEST_ENTITY_TOO_LARGE
    assert big_intent.opt.size1 == messages.INTENT_BYTES_MAX
    assert big_batch.code == Code.REQUEST_ENTITY_TOO_LARGE and big_batch.opt.size1 == BATCH_BYTES_MAX
    assert fine.code == Code.CREATED


async def test_reading_batches_with_names_senml_forbids_are_4_00(tmp_path):
    """RFC 8428 §4.5.1: a resolved name with a space, or starting with '-', is
    refused as malformed and nothing is stored; the board's own names pass."""
    from paymote.crypto import cose, messages

    device = Device(305)
    device.register(tmp_path)

    def batch(seq: int, name: str) -> bytes:
        records = [messages.senml(name, "Cel", 21, 0)]
        return cose.sign1(
            messages.reading_batch_payload(seq=seq, time_s=1764374400, records=records),
            device.key,
            device.kid,
        )

    async with running_gateway(tmp_path) as gateway:
        refused = [(await gateway.post("r", batch(i, n))).code for i, n in ((1, "air temp"), (2, "-temp"))]
        accepted = (await gateway.post("r", batch(3, "air-temp"))).code
    assert refused == [Code.BAD_REQUEST] * 2 and accepted == Code.CREATED
    with Store(tmp_path, readonly=True) as store:
        assert [s[0] for s in store.samples(device.kid)] == ["air-temp"]
