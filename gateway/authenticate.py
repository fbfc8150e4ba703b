"""The gateway's authenticate stage: Ed25519 with `cryptography` (OpenSSL).

Keys plug into crypto.cose.check_signature, the same function the boards and
the portable path use, so the lookup by kid, the algorithm check (from the
registered key, never the header alone) and the error types are shared.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from paymote.crypto import cose
from paymote.crypto.errors import BadSignature
from paymote.gateway import envelope


class Ed25519Key:
    """A registered device or gateway key, verified by OpenSSL."""

    alg = cose.ALG_EDDSA

    def __init__(self, public: bytes) -> None:
        self.public = bytes(public)
        self._key = Ed25519PublicKey.from_public_bytes(self.public)

    def verify(self, data: bytes, signature: bytes) -> None:
        try:
            self._key.verify(signature, data)
        except InvalidSignature:
            raise BadSignature("signature does not verify") from None


def authenticate(sign1: cose.Sign1, keys: Any) -> Ed25519Key:
    """Verify sign1's signature with the key registered for its kid.

    cose.check_signature's checks; where they pass and the protected header
    is paymote's one, the Sig_structure is written by position
    (gateway/envelope.py) instead of CBOR-encoded. Every refusal is
    check_signature's own, so the error types stay the shared ones."""
    key = keys.get(sign1.kid)
    standard = sign1.protected == cose.PROTECTED_EDDSA and len(sign1.payload) <= envelope.PAYLOAD_BYTES_MAX
    if key is None or sign1.alg != key.alg or not standard:
        return cose.check_signature(sign1, keys)
    key.verify(envelope.sig_structure(sign1.payload), sign1.signature)
    return key
