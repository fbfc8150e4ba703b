"""Attestation nonces: issued by GET /n, single use, expiring, bounded in number."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

NONCE_BYTES = 16
NONCE_TTL_S = 300
NONCES_MAX = 10000  # oldest are forgotten first: memory stays bounded under GET floods


class NonceBook:
    def __init__(self, ttl_s: int = NONCE_TTL_S, count_max: int = NONCES_MAX) -> None:
        self._ttl_s = ttl_s
        self._count_max = count_max
        self._expiry: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()  # issued on the event loop, consumed on the ledger thread
        self._taken: list[tuple[bytes, float]] = []  # consumed in the open transaction

    def issue(self, now_s: float) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        with self._lock:
            self._expiry[nonce] = now_s + self._ttl_s
            while len(self._expiry) > self._count_max:
                self._expiry.popitem(last=False)
        return nonce

    def consume(self, nonce: bytes, now_s: float) -> bool:
        """True once for a nonce issued here and not expired; False ever after.
        Called inside the ledger transaction that stores the attestation;
        settle() says whether that transaction committed."""
        with self._lock:
            expiry = self._expiry.pop(nonce, None)
        if expiry is None or now_s > expiry:
            return False
        self._taken.append((nonce, expiry))
        return True

    def settle(self, committed: bool) -> None:
        """After the transaction that consumed nonces: if it rolled back, its
        attestations were not stored, so their nonces are unused again (the
        board's retransmission must not be refused as stale)."""
        taken, self._taken = self._taken, []
        if not committed:
            with self._lock:
                for nonce, expiry in taken:
                    self._expiry[nonce] = expiry
