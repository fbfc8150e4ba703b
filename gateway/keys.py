"""The gateway's own Ed25519 key, which signs receipts."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from paymote.crypto import cose
from paymote.gateway import envelope

KEY_FILE = "gateway.key"  # the raw 32-byte seed, readable by the gateway only


class GatewayKey:
    """Signs with `cryptography`: sign1(payload) a receipt's COSE_Sign1;
    sign(data) is the interface crypto.cose.sign1 uses."""

    def __init__(self, seed: bytes) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public = self._key.public_key().public_bytes_raw()
        self.kid = cose.key_id(self.public)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def sign1(self, payload: bytes) -> bytes:
        """cose.sign1(payload, self, self.kid), byte for byte, written by position."""
        return envelope.write(self.kid, payload, self._key.sign(envelope.sig_structure(payload)))

    def __repr__(self) -> str:
        return f"GatewayKey(kid={self.kid.hex()})"


def create(path: Path) -> GatewayKey:
    """Make a new key file (mode 0600); refuses to overwrite one."""
    seed = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(seed)
        f.flush()
        os.fsync(f.fileno())
    return GatewayKey(seed)


def load(path: Path) -> GatewayKey:
    seed = path.read_bytes()
    if len(seed) != 32:
        raise ValueError(f"{path}: a gateway key file holds 32 bytes, found {len(seed)}")
    return GatewayKey(seed)


def load_or_create(data_dir: Path) -> GatewayKey:
    path = data_dir / KEY_FILE
    return load(path) if path.exists() else create(path)
