"""One direction for data: decode -> authenticate -> rate -> committer
(sequence -> policy -> ledger). Takes bytes, returns an Outcome or raises a
MessageError; knows nothing of CoAP."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from pathlib import Path

from paymote.crypto import messages
from paymote.gateway import authenticate, decode
from paymote.gateway.committer import Committer, QueueFull
from paymote.gateway.outcomes import Busy, Outcome, RateLimited
from paymote.gateway.store import DB_NAME

BUSY_RETRY_S = 2


class DeviceKeys:
    """kid -> registered key, read from the registry on first use. A read-only
    view: revocation is decided by the committer on the authoritative row."""

    def __init__(self, data_dir: Path) -> None:
        self._db = sqlite3.connect(f"file:{data_dir / DB_NAME}?mode=ro", uri=True, check_same_thread=False)
        self._keys: dict[bytes, authenticate.Ed25519Key] = {}

    def get(self, kid: bytes) -> authenticate.Ed25519Key | None:
        key = self._keys.get(kid)
        if key is None:
            row = self._db.execute("SELECT public_key FROM devices WHERE device_id = ?", (kid,)).fetchone()
            if row is None:
                return None
            key = self._keys[kid] = authenticate.Ed25519Key(row[0])
        return key

    def close(self) -> None:
        self._db.close()


class RateLimiter:
    """A token bucket per device (authenticated devices only, so its size is
    bounded by the registry): rate_per_s sustained, burst at once."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self._rate = rate_per_s
        self._burst = burst
        self._buckets: dict[bytes, tuple[float, float]] = {}

    def take(self, kid: bytes, now_s: float, count: int = 1) -> float:
        """0 if allowed (and taken), else seconds until count tokens are there."""
        tokens, last = self._buckets.get(kid, (float(self._burst), now_s))
        tokens = min(float(self._burst), tokens + (now_s - last) * self._rate)
        if tokens >= count:
            self._buckets[kid] = (tokens - count, now_s)
            return 0.0
        self._buckets[kid] = (tokens, now_s)
        return (count - tokens) / self._rate


class Pipeline:
    def __init__(
        self, keys: DeviceKeys, committer: Committer, rate: RateLimiter, clock: Callable[[], float]
    ) -> None:
        self._keys = keys
        self._committer = committer
        self._rate = rate
        self._clock = clock

    async def intent(self, message: bytes) -> Outcome:
        envelope, intent = decode.decode_message(message, messages.KIND_INTENT)
        authenticate.authenticate(envelope, self._keys)
        wait_s = self._rate.take(envelope.kid, self._clock())
        if wait_s:
            return RateLimited(max(1, math.ceil(wait_s)))
        try:
            future = self._committer.submit(envelope.kid, message, intent)
        except QueueFull:
            return Busy(BUSY_RETRY_S)
        return await future
