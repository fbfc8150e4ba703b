"""gateway/envelope.py: the COSE_Sign1 layout by byte position agrees with
crypto/cose.py's encoder and with the generic decoder, on every input."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from paymote.crypto import cbor, cose
from paymote.crypto.errors import MessageError
from paymote.gateway import decode, envelope, keys
from tests.mutations import mutate

GATEWAY_KEY = keys.GatewayKey(bytes(range(32)))
_PARTS = st.tuples(
    st.binary(min_size=8, max_size=8), st.binary(max_size=700), st.binary(min_size=64, max_size=64)
)


def _fields(sign1):
    return None if sign1 is None else {name: getattr(sign1, name) for name in cose.Sign1.__slots__}


def _generic(message):
    """What loads and envelope_from_value make of message, or None where they refuse it."""
    try:
        return _fields(cose.envelope_from_value(decode.loads(message, 4096, depth_max=3)))
    except MessageError:
        return None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=1500))
def test_receipts_are_byte_for_byte_what_cose_sign1_writes(payload):
    """GatewayKey.sign1 and envelope.sig_structure give cose.sign1's and
    cose.sig_structure's bytes for payloads of every head size (1, 2, 3 bytes)."""
    assert envelope.sig_structure(payload) == cose.sig_structure(cose.PROTECTED_EDDSA, payload)
    assert GATEWAY_KEY.sign1(payload) == cose.sign1(payload, GATEWAY_KEY, GATEWAY_KEY.kid)


@settings(max_examples=400, deadline=None)
@given(_PARTS, st.data())
def test_reading_by_position_agrees_with_the_generic_decoder(parts, data):
    """envelope.read returns exactly what the generic path returns for
    well-formed envelopes, and for damaged ones either the same or None
    (then the generic path decides)."""
    kid, payload, signature = parts
    message = cbor.encode(cbor.Tag(18, [cose.PROTECTED_EDDSA, {4: kid}, payload, signature]))
    assert message == envelope.write(kid, payload, signature)
    assert _fields(envelope.read(message)) == _generic(message) is not None
    damaged = mutate(data, message)
    read = envelope.read(damaged)
    assert read is None or _fields(read) == _generic(damaged)


def test_near_misses_go_to_the_generic_decoder():
    """A long head for a short payload, trailing bytes, a 63-byte signature, a
    text string for the payload: not this layout, so None (and the generic
    decoder refuses each with its own reason)."""
    kid, signature = bytes(8), bytes(64)
    good = envelope.write(kid, b"abc", signature)
    long_head = envelope.HEAD + kid + b"\x58\x03abc\x58\x40" + signature
    short_signature = envelope.HEAD + kid + b"\x43abc\x58\x3f" + signature[:63]
    text_payload = envelope.HEAD + kid + b"\x63abc\x58\x40" + signature
    for message in (long_head, good + b"\x00", short_signature, text_payload, good[:-1]):
        assert envelope.read(message) is None and _generic(message) is None
    assert envelope.read(good) is not None
