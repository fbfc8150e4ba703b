"""CPython only: cbor2's C encoder as an accelerator for crypto.cbor.encode.

Never copied to a board (firmware_build.HOST_ONLY); crypto.cbor imports it
only where cbor2 is importable. cbor2's canonical mode is RFC 7049's
(§3.9: map keys length-first), not RFC 8949 §4.2.1's bytewise order, and it
writes some floats longer than needed (see gateway/decode.py). The two orders
agree for maps whose keys share one CBOR major type, or all encode in one
byte (-24..23), since a head's first byte grows with its length within a
major type. So a value takes the C path only if it is made of what cbor2
and the portable encoder provably write alike: None, booleans, integers in
64 bits, bytes, text, arrays, tags, and such maps; anything else (floats,
mixed-type keys, values the portable encoder refuses) returns None, and the
portable encoder decides. tests/test_cbor.py compares both on random values.
"""

import cbor2


class _NotPlainError(Exception):
    pass


_INT_MIN = -(2**64)
_INT_MAX = 2**64 - 1


def _key_major(key):
    """The key's CBOR major type (0 uint, 1 negative int, 2 bytes, 3 text), or None."""
    kind = type(key)
    if kind is int:
        return 0 if key >= 0 else 1
    if kind is bytes:
        return 2
    if kind is str:
        return 3
    return None


def key_orders_agree(mapping):
    """Whether RFC 7049's length-first key order (cbor2's canonical mode) is
    RFC 8949 §4.2.1's bytewise order for this map: its keys are ints, bytes or
    text, and share one major type or all encode in one byte (-24..23).
    gateway/decode.py asks the same of the maps cbor2 decodes."""
    if all(type(k) is int and -24 <= k <= 23 for k in mapping):
        return True  # every key one byte (the usual paymote map): asked first, it is the cheap test
    majors = {_key_major(key) for key in mapping}
    return None not in majors and len(majors) <= 1


def make_encoder(tag_class, depth_max):
    """encode(value) -> bytes, or None where the portable encoder must decide."""

    def plain(value, depth):
        if depth > depth_max:
            raise _NotPlainError
        kind = type(value)
        if value is None or kind is bool or kind is str or kind is bytes:
            return value
        if kind is int:
            if not _INT_MIN <= value < _INT_MAX + 1:
                raise _NotPlainError
            return value
        if kind is list or kind is tuple:
            return [plain(item, depth + 1) for item in value]
        if kind is dict:
            if not key_orders_agree(value):
                raise _NotPlainError
            return {key: plain(item, depth + 1) for key, item in value.items()}
        if kind is tag_class:
            return cbor2.CBORTag(value.number, plain(value.value, depth + 1))
        if kind is bytearray or kind is memoryview:
            return bytes(value)
        raise _NotPlainError  # floats, and whatever the portable encoder refuses

    def encode(value):
        try:
            return cbor2.dumps(plain(value, 0), canonical=True)
        except _NotPlainError:
            return None

    return encode
