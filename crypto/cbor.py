"""Deterministic CBOR (RFC 8949 §4.2.1) for the subset paymote's formats use.

encode() writes core deterministic encoding: shortest heads, definite lengths,
map keys sorted bytewise by their encoding, floats in the shortest form that
keeps their value. decode() accepts exactly that and nothing else: every other
well-formed or malformed input raises its own DecodeError subclass.

Supported: unsigned and negative integers (64-bit), byte and text strings,
arrays, maps with int/bytes/text keys, tags, false/true/null, finite floats.
"""

import struct

from ._compat import MICROPYTHON, bit_length, const
from .errors import (
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

_SIZE_BYTES_MAX = const(1280)  # whole input, checked before parsing
DEPTH_MAX = const(8)  # nested arrays, maps and tags
_LENGTH_MAX = const(1024)  # bytes in a string, items in an array or map

_UINT64_MAX = const(0xFFFFFFFFFFFFFFFF)
_F64_MANTISSA_MASK = const(0xFFFFFFFFFFFFF)


class Tag:
    """A tagged item (RFC 8949 §3.4): number and value."""

    __slots__ = ("number", "value")

    def __init__(self, number, value):
        self.number = number
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Tag) and self.number == other.number and self.value == other.value

    def __repr__(self):
        return "Tag(%d, %r)" % (self.number, self.value)


class Float:
    """A double given by its IEEE 754 bits, so boards whose floats are single
    precision (ESP32) can still encode a double exactly. Equal to the float it
    stands for."""

    __slots__ = ("bits",)

    def __init__(self, bits):
        self.bits = bits

    def __float__(self):
        return struct.unpack(">d", self.bits.to_bytes(8, "big"))[0]

    def __eq__(self, other):
        if isinstance(other, Float):
            return self.bits == other.bits
        return isinstance(other, float) and _f64_bits(other) == self.bits

    def __repr__(self):
        return "Float(%r)" % float(self)


def _f64_bits(value):
    return int.from_bytes(struct.pack(">d", value), "big")


def float_from_decimal(mantissa, exp10):
    """The double nearest to mantissa * 10**exp10 (round half to even),
    computed with integers only: the same bits on every port."""
    sign = 1 if mantissa < 0 else 0
    num = -mantissa if sign else mantissa
    if num == 0:
        return Float(sign << 63)
    den = 1
    if exp10 >= 0:
        num *= 10**exp10
    else:
        den = 10**-exp10
    # Scale so that num / den lies in [2**52, 2**53): shift is the exponent.
    shift = bit_length(num) - bit_length(den) - 53
    while True:
        if shift >= 0:
            q, r, d = num // (den << shift), num % (den << shift), den << shift
        else:
            q, r, d = (num << -shift) // den, (num << -shift) % den, den
        if q >= 1 << 53:
            shift += 1
        elif q < 1 << 52:
            shift -= 1
        else:
            break
    exponent = shift + 52
    if exponent < -1022:  # subnormal: fix the scale at 2**-1074
        extra = -1022 - exponent
        r = r + (q & ((1 << extra) - 1)) * d
        d = d << extra
        q >>= extra
        exponent = -1023
    if 2 * r > d or (2 * r == d and q & 1):
        q += 1
        if q == 1 << 53:
            q >>= 1
            exponent += 1
        elif exponent == -1023 and q == 1 << 52:
            exponent = -1022
    if exponent > 1023:
        raise EncodeError("float out of range")
    if exponent == -1023:
        return Float((sign << 63) | q)
    return Float((sign << 63) | ((exponent + 1023) << 52) | (q & _F64_MANTISSA_MASK))


def _shortest_float(bits):
    """(additional info, value bits) of the shortest IEEE form that represents
    the double ``bits`` exactly (RFC 8949 §4.2.1 preferred serialization)."""
    sign = bits >> 63
    biased = (bits >> 52) & 0x7FF
    mantissa = bits & _F64_MANTISSA_MASK
    if biased == 0x7FF:
        raise EncodeError("NaN and infinities are not used")
    if biased == 0:
        if mantissa == 0:
            return 25, sign << 15
        return 27, bits  # a double subnormal is below every shorter form
    e = biased - 1023
    sig = mantissa | (1 << 52)
    if -14 <= e <= 15 and mantissa & ((1 << 42) - 1) == 0:
        return 25, (sign << 15) | ((e + 15) << 10) | (mantissa >> 42)
    if -24 <= e < -14 and sig % (1 << (28 - e)) == 0:
        return 25, (sign << 15) | (sig >> (28 - e))
    if -126 <= e <= 127 and mantissa & ((1 << 29) - 1) == 0:
        return 26, (sign << 31) | ((e + 127) << 23) | (mantissa >> 29)
    if -149 <= e < -126 and sig % (1 << (-97 - e)) == 0:
        return 26, (sign << 31) | (sig >> (-97 - e))
    return 27, bits


def _widen(bits, width_bits):
    """Double bits of a half (16) or single (32) float's bits; None if not finite."""
    if width_bits == 64:
        biased = (bits >> 52) & 0x7FF
        return None if biased == 0x7FF else bits
    if width_bits == 16:
        exp_bits, man_bits = 5, 10
    else:
        exp_bits, man_bits = 8, 23
    sign = bits >> (exp_bits + man_bits)
    biased = (bits >> man_bits) & ((1 << exp_bits) - 1)
    mantissa = bits & ((1 << man_bits) - 1)
    bias = (1 << (exp_bits - 1)) - 1
    if biased == (1 << exp_bits) - 1:
        return None
    if biased == 0:
        if mantissa == 0:
            return sign << 63
        e = 1 - bias
        while not mantissa & (1 << man_bits):
            mantissa <<= 1
            e -= 1
        mantissa &= (1 << man_bits) - 1
    else:
        e = biased - bias
    return (sign << 63) | ((e + 1023) << 52) | (mantissa << (52 - man_bits))


# ---------------------------------------------------------------- encoding


def _head(out, major, value):
    if value < 24:
        out.append((major << 5) | value)
    elif value < 0x100:
        out.append((major << 5) | 24)
        out.append(value)
    elif value < 0x10000:
        out.append((major << 5) | 25)
        out.extend(value.to_bytes(2, "big"))
    elif value < 0x100000000:
        out.append((major << 5) | 26)
        out.extend(value.to_bytes(4, "big"))
    elif value <= _UINT64_MAX:
        out.append((major << 5) | 27)
        out.extend(value.to_bytes(8, "big"))
    else:
        raise EncodeError("integer beyond 64 bits")


def _encode_into(out, value, depth):
    if depth > DEPTH_MAX:
        raise EncodeError("nested too deeply")
    if value is False:
        out.append(0xF4)
    elif value is True:
        out.append(0xF5)
    elif value is None:
        out.append(0xF6)
    elif isinstance(value, int):
        if value >= 0:
            _head(out, 0, value)
        else:
            _head(out, 1, -1 - value)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        _head(out, 2, len(value))
        out.extend(value)
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        _head(out, 3, len(raw))
        out.extend(raw)
    elif isinstance(value, (list, tuple)):
        _head(out, 4, len(value))
        for item in value:
            _encode_into(out, item, depth + 1)
    elif isinstance(value, dict):
        _encode_map(out, value, depth)
    elif isinstance(value, Tag):
        _head(out, 6, value.number)
        _encode_into(out, value.value, depth + 1)
    elif isinstance(value, (float, Float)):
        bits = value.bits if isinstance(value, Float) else _f64_bits(value)
        ai, short = _shortest_float(bits)
        out.append(0xE0 | ai)
        out.extend(short.to_bytes(1 << (ai - 24), "big"))
    else:
        raise EncodeError("cannot encode %s" % type(value).__name__)


def _encode_map(out, mapping, depth):
    items = []
    for key, item in mapping.items():
        if not isinstance(key, (int, str, bytes)) or isinstance(key, bool):
            raise EncodeError("map keys are int, bytes or text")
        encoded = bytearray()
        _encode_into(encoded, key, depth + 1)
        items.append((bytes(encoded), item))
    items.sort(key=lambda pair: pair[0])  # §4.2.1: bytewise lexicographic
    _head(out, 5, len(items))
    previous = None
    for encoded, item in items:
        if encoded == previous:
            raise EncodeError("duplicate map key")
        previous = encoded
        out.extend(encoded)
        _encode_into(out, item, depth + 1)


def encode(value):
    """The deterministic encoding of value (RFC 8949 §4.2.1) as bytes."""
    if _host_encode is not None:
        encoded = _host_encode(value)
        if encoded is not None:
            return encoded
    return encode_portable(value)


def encode_portable(value):
    """The encoder a board runs (encode() on CPython may take cbor2's)."""
    out = bytearray()
    _encode_into(out, value, 0)
    return bytes(out)


# ---------------------------------------------------------------- decoding


class _Reader:
    __slots__ = ("data", "pos", "depth_max", "length_max")

    def __init__(self, data, depth_max, length_max):
        self.data = data
        self.pos = 0
        self.depth_max = depth_max
        self.length_max = length_max

    def take(self, n):
        start = self.pos
        end = start + n
        if end > len(self.data):
            raise Truncated("input ends inside an item")
        self.pos = end
        return self.data[start:end]

    def head(self):
        """(major type, additional info, argument) of the next item."""
        initial = self.take(1)[0]
        major = initial >> 5
        ai = initial & 0x1F
        if ai < 24:
            return major, ai, ai
        if ai == 31:
            if major in (2, 3, 4, 5):
                raise IndefiniteLength("indefinite length")
            raise Unsupported("break or reserved indefinite item")
        if ai > 27:
            raise Unsupported("reserved additional information")
        width = 1 << (ai - 24)
        value = int.from_bytes(self.take(width), "big")
        if major != 7 and value < (24 if width == 1 else 1 << (4 * width)):
            raise NonCanonical("argument not in its shortest form")
        return major, ai, value

    def item(self, depth):
        if depth > self.depth_max:
            raise TooDeep("nested deeper than %d" % self.depth_max)
        major, ai, arg = self.head()
        if major == 0:
            return arg
        if major == 1:
            return -1 - arg
        if major == 7:
            return self.simple(ai, arg)
        if major == 6:
            return Tag(arg, self.item(depth + 1))
        if arg > self.length_max:
            raise TooLong("length %d over %d" % (arg, self.length_max))
        if major == 2:
            return bytes(self.take(arg))
        if major == 3:
            try:
                return str(self.take(arg), "utf-8")
            except UnicodeError:
                raise Unsupported("text is not UTF-8") from None
        if major == 4:
            return [self.item(depth + 1) for _ in range(arg)]
        return self.map(arg, depth)

    def map(self, count, depth):
        result = {}
        previous = None
        for _ in range(count):
            start = self.pos
            key = self.item(depth + 1)
            encoded_key = self.data[start : self.pos]
            # bool is an int to Python: false would alias key 0, true key 1.
            if isinstance(key, bool) or not isinstance(key, (int, str, bytes)):
                raise Unsupported("map key is not int, bytes or text")
            if previous is not None:
                if encoded_key == previous:
                    raise DuplicateKey("duplicate map key %r" % (key,))
                if bytes(encoded_key) < bytes(previous):
                    raise NonCanonical("map keys not in bytewise order")
            previous = encoded_key
            result[key] = self.item(depth + 1)
        return result

    def simple(self, ai, arg):
        if ai == 20:
            return False
        if ai == 21:
            return True
        if ai == 22:
            return None
        if ai < 25:
            raise Unsupported("simple value %d" % arg)
        width_bits = 8 << (ai - 24)
        bits = _widen(arg, width_bits)
        if bits is None:
            raise Unsupported("NaN or infinity")
        if _shortest_float(bits)[0] != ai:
            raise NonCanonical("float not in its shortest form")
        value = struct.unpack(">d", bits.to_bytes(8, "big"))[0]
        # A port whose floats are single precision (ESP32) would round a double:
        # there the bits are kept, so what is decoded encodes to the same bytes.
        return value if _f64_bits(value) == bits else Float(bits)


def decode(data, size_max=_SIZE_BYTES_MAX, depth_max=DEPTH_MAX, length_max=_LENGTH_MAX):
    """The single value encoded deterministically in data. Raises a DecodeError
    subclass for anything else; an input over size_max is refused unread."""
    if len(data) > size_max:
        raise TooLarge("%d bytes over %d" % (len(data), size_max))
    reader = _Reader(memoryview(data), depth_max, length_max)
    value = reader.item(0)
    if reader.pos != len(data):
        raise TrailingBytes("%d bytes after the item" % (len(data) - reader.pos))
    return value


_host_encode = None
if not MICROPYTHON:  # cbor2's C encoder where it provably writes the same bytes
    try:
        from ._cbor_host import make_encoder

        _host_encode = make_encoder(Tag, DEPTH_MAX)
    except ImportError:  # no cbor2 here: the portable encoder does it all
        pass
