"""The gateway path (cbor2 + cryptography) and the portable path agree on every input."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paymote.crypto import cbor, cose, ed25519, inbound, messages
from paymote.crypto.errors import MessageError
from paymote.gateway import authenticate, decode
from paymote.simulator.sample import sample
from tests.mutations import mutate

SAMPLE = sample(5)
KIND_NAMES = {
    inbound.KIND_INTENT: "intent",
    inbound.KIND_ATTESTATION: "attestation",
    inbound.KIND_READING_BATCH: "reading_batch",
}
TEST_KEY = ed25519.SigningKey(bytes(32))


def _outcome(open_fn, message, kind):
    """('ok', parsed fields) or ('error', error class name)."""
    try:
        _, parsed = open_fn(message, kind)
    except MessageError as e:
        return "error", type(e).__name__
    return "ok", {name: getattr(parsed, name) for name in type(parsed).FIELDS}


def _paths(public):
    """(portable, gateway) openers that trust one device key."""
    kid = cose.key_id(public)
    pure_keys = {kid: cose.Ed25519Key(public)}
    fast_keys = {kid: authenticate.Ed25519Key(public)}

    def pure(message, kind):
        return inbound.open_message(message, kind, pure_keys)

    def fast(message, kind):
        envelope, parsed = decode.decode_message(message, kind)
        authenticate.authenticate(envelope, fast_keys)
        return envelope, parsed

    return pure, fast


_pure, _fast = _paths(SAMPLE["device_public_key"])
_test_pure, _test_fast = _paths(TEST_KEY.public)


def _signed(payload: bytes) -> bytes:
    """A COSE_Sign1 of any payload bytes, validly signed by TEST_KEY, so that
    only decoding can refuse it."""
    signature = TEST_KEY.sign(cose.sig_structure(cose.PROTECTED_EDDSA, payload))
    kid = cose.key_id(TEST_KEY.public)
    return cbor.encode(cbor.Tag(18, [cose.PROTECTED_EDDSA, {4: kid}, payload, signature]))


@pytest.mark.parametrize("kind", sorted(KIND_NAMES))
def test_valid_messages_agree(kind):
    """Both paths accept the sample messages with identical fields."""
    message = SAMPLE[KIND_NAMES[kind]]
    assert _outcome(_pure, message, kind) == _outcome(_fast, message, kind)
    assert _outcome(_fast, message, kind)[0] == "ok"


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(sorted(KIND_NAMES)), st.data())
def test_mutated_messages_get_the_same_verdict(kind, data):
    """Flipped, inserted, deleted or truncated bytes: same error class or same fields on both paths."""
    message = mutate(data, SAMPLE[KIND_NAMES[kind]])
    assert _outcome(_pure, message, kind) == _outcome(_fast, message, kind)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_get_the_same_verdict(data):
    """Random bytes: both paths refuse with the same error class."""
    assert _outcome(_pure, data, inbound.KIND_INTENT) == _outcome(_fast, data, inbound.KIND_INTENT)


def test_re_encoded_payloads_are_byte_identical():
    """cbor2's canonical encoding of each sample payload equals ours, byte for byte."""
    for name in KIND_NAMES.values():
        payload = cose.parse_sign1(SAMPLE[name]).payload
        assert cbor2.dumps(cbor2.loads(payload), canonical=True) == payload
        assert cbor.encode(cbor.decode(payload)) == payload


def test_non_canonical_payload_with_valid_signature_is_refused_by_both():
    """A validly signed payload whose map is not deterministic is refused the same way."""
    fields = messages.Intent(
        seq=1,
        time_s=1764374400,
        prev=bytes(16),
        payer="a",
        payee="b",
        amount_minor=1,
        currency="EUR",
        evidence=[1, 0, 1],
        tariff=[1, 1],
        period_s=60,
    ).payload()
    message = _signed(cbor2.dumps(dict(reversed(list(fields.items())))))  # keys in descending order
    outcome = _outcome(_test_pure, message, inbound.KIND_INTENT)
    assert outcome == _outcome(_test_fast, message, inbound.KIND_INTENT) == ("error", "NonCanonical")


def test_mixed_key_types_in_length_first_order_are_refused_by_both():
    """Keys -11 and 256 in cbor2's length-first order are NonCanonical under RFC 8949 §4.2.1.

    Found by fuzzing: a payload map that cbor2 considers canonical but whose keys
    are not in bytewise order must be refused by the gateway path too.
    """
    payload = cbor2.dumps({6: 1764374405, -11: b"x", 256: b"y"}, canonical=True)
    assert payload.index(b"\x2a") < payload.index(b"\x19\x01\x00")  # -11 before 256
    with pytest.raises(MessageError) as pure_error:
        cbor.decode(payload)
    with pytest.raises(MessageError) as fast_error:
        decode.loads(payload, 1024)
    assert type(pure_error.value).__name__ == type(fast_error.value).__name__ == "NonCanonical"


@pytest.mark.parametrize(("encoded", "verdict"), [("f978e2", "ok"), ("fa471c4000", "NonCanonical")])
def test_half_float_of_exponent_15_gets_the_same_verdict(encoded, verdict):
    """40000.0 as a half float is canonical; as a single float it is not, whatever cbor2 thinks.

    Found by CI's hypothesis run: cbor2's canonical form writes it as a single float,
    so without a check the gateway path would accept the non-canonical encoding.
    """
    record = bytes.fromhex("a102") + bytes.fromhex(encoded)  # {2: 40000.0}
    message = _signed(bytes.fromhex("a3 01 01 02 1a692a3780 03 81".replace(" ", "")) + record)
    outcome = _outcome(_test_pure, message, inbound.KIND_READING_BATCH)
    assert outcome == _outcome(_test_fast, message, inbound.KIND_READING_BATCH)
    assert (outcome[0] if verdict == "ok" else outcome[1]) == verdict
