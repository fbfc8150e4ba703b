"""crypto.cbor: deterministic encoding (RFC 8949 §4.2.1) and the strict decoder."""

from __future__ import annotations

import math
import struct
from unittest import mock

import cbor2
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from paymote.crypto import cbor
from paymote.crypto.errors import (
    DecodeError,
    DuplicateKey,
    EncodeError,
    IndefiniteLength,
    NonCanonical,
    TooDeep,
    TooLarge,
    TooLong,
    TrailingBytes,
    Truncated,
    Unsupported,
)

# Values whose RFC 8949 §4.2.1 encoding equals cbor2's canonical one: maps
# keyed by one major type, or by keys that all encode in one byte (there
# bytewise and length-first order agree; the SenML labels -3..6 are such).
ints = st.integers(min_value=-(2**64), max_value=2**64 - 1)
# cbor2 never writes half floats of exponent 15 (32768..65504) although they are
# exact: those are compared with the RFC oracle below, not with cbor2.
floats = st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not 32768 <= abs(x) < 65536)
scalars = st.one_of(ints, floats, st.binary(max_size=40), st.text(max_size=20), st.booleans(), st.none())


def _maps(children):
    return st.one_of(
        st.dictionaries(st.integers(0, 2**64 - 1), children, max_size=5),
        st.dictionaries(st.integers(-(2**64), -1), children, max_size=5),
        st.dictionaries(st.integers(-24, 23), children, max_size=5),
        st.dictionaries(st.text(max_size=8), children, max_size=5),
        st.dictionaries(st.binary(max_size=8), children, max_size=5),
    )


values = st.recursive(scalars, lambda c: st.one_of(st.lists(c, max_size=5), _maps(c)), max_leaves=20)


def _same(a, b):
    """Equality that tells -0.0 from 0.0 and compares nested containers."""
    if isinstance(a, float) and isinstance(b, float):
        return struct.pack(">d", a) == struct.pack(">d", b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@settings(max_examples=400)
@given(values)
def test_encoding_equals_cbor2_canonical(value):
    """Our deterministic encoding is byte for byte cbor2's canonical encoding."""
    assert cbor.encode_portable(value) == cbor2.dumps(value, canonical=True)
    assert cbor.encode(value) == cbor.encode_portable(value)


_mixed_keys = st.one_of(st.integers(-(2**64), 2**64 - 1), st.text(max_size=4), st.binary(max_size=4))
_anything = st.recursive(
    st.one_of(
        scalars,
        st.floats(),
        st.integers(-(2**70), 2**70),
        st.builds(bytearray, st.binary(max_size=8)),
    ),
    lambda c: st.one_of(
        st.lists(c, max_size=4),
        st.tuples(c, c),
        st.dictionaries(st.one_of(_mixed_keys, st.booleans(), st.floats()), c, max_size=4),
        st.builds(cbor.Tag, st.integers(0, 2**64 - 1), c),
        _maps(c),
    ),
    max_leaves=24,
)


@settings(max_examples=1000)
@given(_anything)
def test_the_cpython_accelerator_writes_the_portable_bytes_or_steps_aside(value):
    """cbor2's C path (crypto/_cbor_host.py) is taken only where it writes
    exactly what a board's portable encoder writes; everything else (mixed key
    types, floats, values the encoder refuses) is left to the portable one."""
    from paymote.crypto import _cbor_host

    fast = _cbor_host.make_encoder(cbor.Tag, cbor.DEPTH_MAX)(value)
    try:
        portable = cbor.encode_portable(value)
    except EncodeError:
        assert fast is None
        with pytest.raises(EncodeError):
            cbor.encode(value)
        return
    assert fast is None or fast == portable
    assert cbor.encode(value) == portable


def test_the_accelerator_takes_the_gateways_own_shapes():
    """Receipts, entry hashes and COSE structures are all plain enough for cbor2."""
    from paymote.crypto import _cbor_host

    fast = _cbor_host.make_encoder(cbor.Tag, cbor.DEPTH_MAX)
    receipt = {1: bytes(8), 2: 17, 3: bytes(32), 4: 1764374400, 5: 1}
    envelope = cbor.Tag(18, [b"\xa1\x01\x27", {4: bytes(8)}, b"payload", bytes(64)])
    entry = [1, "abcd-1", bytes(8), 1, "hh-1", "utility", 42, "EUR", 1764374400, 1764374401, bytes(32)]
    for value in (receipt, envelope, entry, ["Signature1", b"\xa1\x01\x27", b"", b"payload"]):
        assert fast(value) == cbor.encode_portable(value)


@settings(max_examples=400)
@given(values)
def test_decoding_cbor2_output_round_trips(value):
    """decode(cbor2 canonical output) gives back the value, and re-encodes identically."""
    encoded = cbor2.dumps(value, canonical=True)
    decoded = cbor.decode(encoded, size_max=1 << 20, length_max=1 << 20)
    assert _same(decoded, value)
    assert cbor.encode(decoded) == encoded


@settings(max_examples=1000)
@given(st.binary(max_size=64))
def test_random_bytes_raise_only_decode_errors(data):
    """Arbitrary bytes either decode to something that re-encodes to them, or raise DecodeError."""
    try:
        value = cbor.decode(data)
    except DecodeError:
        return
    assert cbor.encode(value) == data


@settings(max_examples=1000)
@given(values, st.data())
def test_mutated_encodings_raise_only_decode_errors(value, data):
    """Flipping, inserting or dropping bytes of a valid encoding never raises anything else."""
    encoded = bytearray(cbor2.dumps(value, canonical=True))
    assume(encoded)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(encoded) - 1))
        action = data.draw(st.sampled_from(["flip", "insert", "drop"]))
        if action == "flip":
            encoded[i] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "insert":
            encoded.insert(i, data.draw(st.integers(0, 255)))
        elif len(encoded) > 1:
            del encoded[i]
    try:
        decoded = cbor.decode(bytes(encoded), size_max=1 << 20)
    except DecodeError:
        return
    assert cbor.encode(decoded) == bytes(encoded)


def rfc8949_float(x: float) -> bytes:
    """The preferred serialization of x (RFC 8949 §4.2.1): the shortest of
    half, single and double that gives back exactly x. Independent of cbor2."""
    for fmt, head in ((">e", 0xF9), (">f", 0xFA)):
        try:
            packed = struct.pack(fmt, x)
        except OverflowError:
            continue
        if struct.unpack(fmt, packed)[0] == x:
            return bytes([head]) + packed
    return b"\xfb" + struct.pack(">d", x)


@settings(max_examples=1000)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_take_their_shortest_exact_form(x):
    """Every finite float encodes as the shortest exact IEEE form, and decodes back."""
    assert cbor.encode(x) == rfc8949_float(x)
    assert _same(cbor.decode(rfc8949_float(x)), x)


class _SinglePrecisionStruct:
    """struct as on a port whose floats are single precision (ESP32): a double
    unpacks rounded to the nearest single, and packs from that."""

    @staticmethod
    def unpack(fmt, data):
        (value,) = struct.unpack(fmt, data)
        if fmt != ">d":
            return (value,)
        try:
            return (struct.unpack(">f", struct.pack(">f", value))[0],)
        except OverflowError:  # past a single's range: infinity
            return (math.copysign(math.inf, value),)

    pack = staticmethod(struct.pack)


@settings(max_examples=500)
@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_a_single_precision_port_decodes_a_double_to_what_encodes_the_same(x):
    """On a port with single-precision floats, a double the port cannot hold
    decodes as cbor.Float (its bits), so a board re-encoding what it decoded
    (the readings a deep sleep keeps, firmware/agent.py) writes the same bytes."""
    encoded = cbor.encode(x)
    with mock.patch.object(cbor, "struct", _SinglePrecisionStruct):
        decoded = cbor.decode(encoded)
        assert cbor.encode_portable([decoded]) == b"\x81" + encoded
    try:
        single = struct.unpack(">f", struct.pack(">f", x))[0]
    except OverflowError:  # beyond a single's range
        single = None
    assert isinstance(decoded, cbor.Float) == (single != x)


def test_half_floats_of_exponent_15_where_cbor2_differs():
    """40000.0 is exact as a half float: we write f9 78e2; cbor2 writes a single float."""
    assert cbor.encode(40000.0) == bytes.fromhex("f978e2")
    assert cbor2.dumps(40000.0, canonical=True) == bytes.fromhex("fa471c4000")
    with pytest.raises(NonCanonical):
        cbor.decode(bytes.fromhex("fa471c4000"))


def test_map_order_is_rfc8949_bytewise_not_cbor2_length_first():
    """Where the two orderings differ (mixed key types), we follow RFC 8949 §4.2.1."""
    value = {256: 1, -1: 2}
    ours = cbor.encode(value)
    assert ours == bytes.fromhex("a2190100012002")  # 256 (0x19...) sorts before -1 (0x20)
    assert cbor2.dumps(value, canonical=True) == bytes.fromhex("a2200219010001")
    with pytest.raises(NonCanonical):
        cbor.decode(cbor2.dumps(value, canonical=True))


@pytest.mark.parametrize(
    ("hexed", "error"),
    [
        ("", Truncated),
        ("19 01", Truncated),
        ("43 0102", Truncated),
        ("82 01", Truncated),
        ("01 02", TrailingBytes),
        ("5f 41 00 ff", IndefiniteLength),
        ("9f 01 ff", IndefiniteLength),
        ("bf 01 01 ff", IndefiniteLength),
        ("18 17", NonCanonical),
        ("19 00ff", NonCanonical),
        ("1a 0000ffff", NonCanonical),
        ("1b 00000000ffffffff", NonCanonical),
        ("38 00", NonCanonical),
        ("58 01 00", NonCanonical),
        ("fb 3ff8000000000000", NonCanonical),  # 1.5 fits a half float
        ("fa 3fc00000", NonCanonical),
        ("a2 02 01 01 01", NonCanonical),  # keys out of order
        ("a2 01 01 01 02", DuplicateKey),
        ("f7", Unsupported),  # undefined
        ("f0", Unsupported),  # simple value 16
        ("f8 20", Unsupported),
        ("f9 7e00", Unsupported),  # NaN
        ("f9 7c00", Unsupported),  # infinity
        ("1c", Unsupported),  # reserved additional information
        ("ff", Unsupported),  # break outside an indefinite item
        ("62 c328", Unsupported),  # invalid UTF-8
        ("a1 81 01 01", Unsupported),  # array as map key
        ("a1 f4 01", Unsupported),  # false as map key: Python would take it for key 0
    ],
)
def test_each_malformation_has_its_own_error(hexed, error):
    """Every way of departing from deterministic CBOR raises its specific DecodeError."""
    with pytest.raises(error):
        cbor.decode(bytes.fromhex(hexed.replace(" ", "")))


def test_limits_are_enforced_before_reading():
    """Size, depth and length limits each give their own error."""
    with pytest.raises(TooLarge):
        cbor.decode(b"\x40" * 11, size_max=10)
    with pytest.raises(TooDeep):
        cbor.decode(bytes.fromhex("81818101"), depth_max=2)
    assert cbor.decode(bytes.fromhex("81818101"), depth_max=3) == [[[1]]]
    with pytest.raises(TooLong):
        cbor.decode(bytes.fromhex("5a ffffffff".replace(" ", "")) + b"x", length_max=100)
    with pytest.raises(TooLong):
        cbor.decode(bytes.fromhex("9b 0000000100000000".replace(" ", "")))


def test_encoder_refuses_what_the_formats_never_use():
    """NaN, infinities, big integers, odd key types and unknown objects are EncodeErrors."""
    for value in (math.nan, math.inf, 2**64, -(2**64) - 1, {(1,): 2}, {True: 1}, object()):
        with pytest.raises(EncodeError):
            cbor.encode(value)


@settings(max_examples=500)
@given(st.integers(-(10**12), 10**12), st.integers(-340, 300))
def test_float_from_decimal_is_correctly_rounded(mantissa, exp10):
    """The integer-only conversion gives the same double as CPython's correctly rounded parser."""
    expected = float(f"{mantissa}e{exp10}")
    assume(math.isfinite(expected))
    got = cbor.float_from_decimal(mantissa, exp10)
    assert got.bits == struct.unpack(">Q", struct.pack(">d", expected))[0]
    assert cbor.encode(got) == rfc8949_float(expected)


def test_tag_and_float_wrappers_compare_by_value():
    """Tag equality is structural; Float equals the float with the same bits."""
    assert cbor.Tag(18, [1]) == cbor.Tag(18, [1])
    assert cbor.Tag(18, [1]) != cbor.Tag(19, [1])
    assert cbor.float_from_decimal(15, -1) == 1.5
    assert cbor.float_from_decimal(1, -1) != 0.1000000001
