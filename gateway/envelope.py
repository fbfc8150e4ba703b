"""The one COSE_Sign1 layout paymote writes (crypto/cose.py, RFC 9052 §4.2),
by byte position, for the gateway's hot paths: reading a device message's
envelope and writing a receipt's, without a CBOR walk.

Deterministically encoded (RFC 8949 §4.2.1), every paymote envelope is

    d2 84 43 a1 01 27 a1 04 48 <kid: 8>  <bstr head> <payload>  58 40 <signature: 64>
    tag 18, [ <<{1: -8}>>,     {4: kid},               payload,  signature ]

and its Sig_structure (RFC 9052 §4.4) is ["Signature1", h'a10127', h'', payload].
Anything that does not match byte for byte goes to the generic decoder
(gateway/decode.py), which names what is wrong. crypto.cose.sign1 stays the
boards' encoder: on a board every new name costs heap (docs/performance.md).
"""

from __future__ import annotations

from paymote.crypto import cose, ed25519

HEAD = b"\xd2\x84\x43" + cose.PROTECTED_EDDSA + b"\xa1\x04\x48"  # up to the kid's 8 bytes
_KID_END = len(HEAD) + cose.KID_BYTES
_SIGNATURE_HEAD = b"\x58\x40"  # a 64-byte string
_SIG_STRUCTURE_HEAD = b"\x84\x6aSignature1\x43" + cose.PROTECTED_EDDSA + b"\x40"
PAYLOAD_BYTES_MAX = 0xFFFF  # heads of up to 3 bytes; every message kind is far smaller


def _bstr_head(length: int) -> bytes:
    """The shortest head of a byte string (RFC 8949 §4.2.1)."""
    if length < 24:
        return bytes((0x40 + length,))
    if length < 0x100:
        return bytes((0x58, length))
    if length <= PAYLOAD_BYTES_MAX:
        return b"\x59" + length.to_bytes(2, "big")
    raise ValueError(f"a {length}-byte payload is beyond this layout")


def sig_structure(payload: bytes) -> bytes:
    """What is signed for payload under paymote's protected header."""
    return b"".join((_SIG_STRUCTURE_HEAD, _bstr_head(len(payload)), payload))


def write(kid: bytes, payload: bytes, signature: bytes) -> bytes:
    if len(kid) != cose.KID_BYTES or len(signature) != ed25519.SIGNATURE_BYTES:
        raise ValueError("a kid of 8 bytes and a signature of 64")
    return b"".join((HEAD, kid, _bstr_head(len(payload)), payload, _SIGNATURE_HEAD, signature))


def read(message: bytes) -> cose.Sign1 | None:
    """The checked envelope of message if it has exactly this layout, with
    the payload's head in its shortest form and nothing after the signature
    (then it is what cose.envelope_from_value would return); None otherwise."""
    if not message.startswith(HEAD) or len(message) <= _KID_END:
        return None
    first, at = message[_KID_END], _KID_END + 1
    if first < 0x58:
        length = first - 0x40  # below 0x40 (not a byte string) it is negative, refused below
    elif first == 0x58:
        length, at = message[at] if at < len(message) else 0, at + 1
        length = length if length >= 24 else -1
    elif first == 0x59:
        length, at = int.from_bytes(message[at : at + 2], "big"), at + 2
        length = length if length >= 0x100 else -1
    else:
        return None
    end = at + length
    if length < 0 or len(message) != end + 2 + ed25519.SIGNATURE_BYTES:
        return None
    if message[end : end + 2] != _SIGNATURE_HEAD:
        return None
    return cose.Sign1(
        cose.PROTECTED_EDDSA,
        cose.ALG_EDDSA,
        message[len(HEAD) : _KID_END],
        message[at:end],
        message[end + 2 :],
    )
