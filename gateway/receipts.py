"""The gateway's receipts: one per accepted message, signed by the gateway key.

The writer issues one for every entry it appends, so the payload is written
by byte position instead of through crypto.messages' record and CBOR walk.
Deterministically encoded (RFC 8949 §4.2.1: keys in bytewise order, every
head in its shortest form), a receipt payload is

    a5  01 48 <device: 8>  02 <uint seq>  03 58 20 <entry hash: 32>  04 <uint time>  05 <uint kind>

Values outside the range written here go to crypto.inbound.receipt_payload,
which encodes them or names what is wrong; tests/test_receipts.py holds the
two to the same bytes.
"""

from __future__ import annotations

from paymote.crypto import cose, inbound
from paymote.gateway.keys import GatewayKey

_UINT32_END = 1 << 32
_TIME_S_MIN = 1577836800  # crypto.messages refuses earlier stamps (no clock); tested at the boundary
_HASH_BYTES = 32
_KINDS = frozenset((inbound.KIND_INTENT, inbound.KIND_ATTESTATION, inbound.KIND_READING_BATCH))


def _uint(n: int) -> bytes:
    """The shortest head of an unsigned integer below 2**32 (RFC 8949 §4.2.1)."""
    if n < 24:
        return bytes((n,))
    if n < 0x100:
        return bytes((0x18, n))
    if n < 0x10000:
        return b"\x19" + n.to_bytes(2, "big")
    return b"\x1a" + n.to_bytes(4, "big")


def payload(device_id: bytes, seq: int, entry_hash: bytes, time_s: int, kind: int) -> bytes:
    """crypto.inbound.receipt_payload's bytes for the same fields."""
    if (
        type(device_id) is bytes
        and len(device_id) == cose.KID_BYTES
        and type(entry_hash) is bytes
        and len(entry_hash) == _HASH_BYTES
        and type(seq) is int
        and 0 <= seq < _UINT32_END
        and type(time_s) is int
        and _TIME_S_MIN <= time_s < _UINT32_END
        and kind in _KINDS
    ):
        return b"".join(
            (
                b"\xa5\x01\x48",
                device_id,
                b"\x02",
                _uint(seq),
                b"\x03\x58\x20",
                entry_hash,
                b"\x04",
                _uint(time_s),
                b"\x05",
                bytes((kind,)),
            )
        )
    return inbound.receipt_payload(
        device_id=device_id, seq=seq, entry_hash=entry_hash, time_s=time_s, kind=kind
    )


def issue(key: GatewayKey, device_id: bytes, seq: int, entry_hash: bytes, time_s: int, kind: int) -> bytes:
    """The signed receipt (a COSE_Sign1 by the gateway) for one recorded message."""
    return key.sign1(payload(device_id, seq, entry_hash, time_s, kind))
