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

from collections.abc import Mapping
from typing import Any

import cbor2
from paymote.crypto import cbor, cose, messages
from paymote.crypto.errors import DecodeError, TooLarge


def _from_cbor2(value: Any, depth: int = 0) -> Any:
    """cbor2's objects as crypto.cbor's (CBORTag -> Tag), recursively."""
    if depth > cbor.DEPTH_MAX:
        raise DecodeError("nested too deeply")
    if isinstance(value, cbor2.CBORTag):
        return cbor.Tag(value.tag, _from_cbor2(value.value, depth + 1))
    if isinstance(value, (list, tuple)):  # cbor2 gives tuples inside tags
        return [_from_cbor2(item, depth + 1) for item in value]
    if isinstance(value, Mapping):  # dict, or cbor2's frozendict inside tags
        return {key: _from_cbor2(item, depth + 1) for key, item in value.items()}
    return value


def loads(data: bytes, size_max: int, depth_max: int = cbor.DEPTH_MAX) -> Any:
    """The single deterministically encoded value in data, or a DecodeError
    subclass (the same one crypto.cbor.decode would raise)."""
    if len(data) > size_max:
        raise TooLarge(f"{len(data)} bytes over {size_max}")
    try:
        raw = cbor2.loads(data)
        # cbor2's canonical form sorts keys length-first (RFC 7049 §3.9); where
        # that differs from RFC 8949 §4.2.1 bytewise order the bytes differ and
        # the portable decoder below decides. For the formats' keys they agree.
        if cbor2.dumps(raw, canonical=True) == data:
            return _from_cbor2(raw)
    except Exception:  # noqa: BLE001 - any refusal is explained below
        pass
    # Rare path (malformed or hostile input): let the portable decoder name it.
    return cbor.decode(data, size_max=size_max, depth_max=depth_max)


def decode_sign1(message: bytes, size_max: int) -> cose.Sign1:
    """The checked (not yet verified) COSE_Sign1 envelope of message."""
    return cose.envelope_from_value(loads(message, size_max, depth_max=3))


def decode_message(message: bytes, kind: int) -> tuple[cose.Sign1, Any]:
    """(envelope, parsed payload) of a device message of the given kind."""
    size_max, parse = messages.KINDS[kind]
    envelope = decode_sign1(message, size_max)
    return envelope, parse(loads(envelope.payload, size_max, depth_max=4))
