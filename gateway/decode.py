"""The gateway's decode stage: strict, size-limited CBOR with cbor2.

cbor2 (a C extension) parses, then re-encodes canonically, and the result
must equal the input byte for byte: that refuses non-shortest heads,
indefinite lengths, unsorted or duplicate keys and trailing bytes in one
comparison.
Whenever that fails, the portable decoder runs on the same bytes to name the
exact error, so both paths give the same verdict on every input (a test
checks this with hypothesis). The structural and field checks are crypto's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import cbor2

from paymote.crypto import cbor, cose, inbound
from paymote.crypto._cbor_host import key_orders_agree
from paymote.crypto.errors import TooLarge
from paymote.gateway import envelope


class _UnsureError(Exception):
    """cbor2 accepted something outside the portable decoder's subset."""


_INT_MIN = -(2**64)
_INT_MAX = 2**64 - 1


def _from_cbor2(value: Any, depth: int, depth_max: int) -> Any:
    """cbor2's value as crypto.cbor's (CBORTag -> Tag), or _UnsureError for anything
    the portable decoder would refuse or encode differently: too deep, bignums,
    NaN, undefined, simple values, container keys, semantic tags cbor2 turned
    into objects, floats whose shortest form cbor2 gets wrong."""
    if depth > depth_max:
        raise _UnsureError
    kind = type(value)  # exact types: cbor2's CBORSimpleValue subclasses tuple
    if kind is int:  # the commonest first: this walk is on every message's path
        if not _INT_MIN <= value <= _INT_MAX:
            raise _UnsureError
        return value
    if kind is str or kind is bytes or kind is bool or value is None:
        return value
    if kind is float:
        # cbor2 writes 32768..65504 as single floats although a half float is
        # exact (RFC 8949 §4.2.1 wants the shortest): compare with ours.
        if not math.isfinite(value) or cbor.encode(value) != cbor2.dumps(value, canonical=True):
            raise _UnsureError
        return value
    if kind is cbor2.CBORTag:
        return cbor.Tag(value.tag, _from_cbor2(value.value, depth + 1, depth_max))
    if kind in (list, tuple):  # cbor2 gives tuples inside tags
        return [_from_cbor2(item, depth + 1, depth_max) for item in value]
    if kind is dict or isinstance(value, Mapping):  # or cbor2's frozendict inside tags
        _check_key_order_agrees(value)
        result = {}
        for key, item in value.items():
            result[_from_cbor2(key, depth + 1, depth_max)] = _from_cbor2(item, depth + 1, depth_max)
        return result
    raise _UnsureError


def _check_key_order_agrees(mapping: Mapping) -> None:
    """cbor2 checked length-first order; where that may differ from bytewise
    order (RFC 8949 §4.2.1), the portable decoder must judge the order."""
    if not key_orders_agree(mapping):
        raise _UnsureError


def loads(data: bytes, size_max: int, depth_max: int = cbor.DEPTH_MAX) -> Any:
    """The single deterministically encoded value in data, or the DecodeError
    subclass crypto.cbor.decode raises for it: the portable decoder is the only
    authority for refusals, so both paths always give the same verdict."""
    if len(data) > size_max:
        raise TooLarge(f"{len(data)} bytes over {size_max}")
    try:
        raw = cbor2.loads(data)
        # cbor2's canonical form sorts keys length-first (RFC 7049 §3.9); maps
        # where that can differ from bytewise order are sent to the portable
        # decoder by _check_key_order_agrees.
        if cbor2.dumps(raw, canonical=True) == data:
            return _from_cbor2(raw, 0, depth_max)
    except Exception:  # noqa: BLE001 - any refusal or doubt is settled below
        pass
    # Rare path (malformed, hostile or unusual input): the portable decoder
    # either names the error or, where cbor2 was only unsure, decodes it.
    return cbor.decode(data, size_max=size_max, depth_max=depth_max)


def decode_sign1(message: bytes, size_max: int) -> cose.Sign1:
    """The checked (not yet verified) COSE_Sign1 envelope of message."""
    read = envelope.read(message) if len(message) <= size_max else None  # loads names the refusal
    return read or cose.envelope_from_value(loads(message, size_max, depth_max=3))


def decode_message(message: bytes, kind: int) -> tuple[cose.Sign1, Any]:
    """(envelope, parsed payload) of a device message of the given kind."""
    size_max, parse = inbound.KINDS[kind]
    envelope = decode_sign1(message, size_max)
    return envelope, parse(loads(envelope.payload, size_max, depth_max=4))
