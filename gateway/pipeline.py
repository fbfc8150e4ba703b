"""One direction for data: decode -> authenticate -> rate -> committer
(record: sequence -> policy -> ledger). Takes bytes, returns an Outcome or
raises a MessageError; knows nothing of CoAP."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeAlias, Union

from paymote.crypto import inbound, messages
from paymote.crypto.errors import FieldError, MessageError
from paymote.gateway import authenticate, decode, senml
from paymote.gateway.committer import QueueFull
from paymote.gateway.metrics import Metrics
from paymote.gateway.outcomes import Busy, Outcome, RateLimited
from paymote.gateway.store import Store

BUSY_RETRY_S = 2


class DeviceKeys:
    """kid -> registered key, read from the registry on first use. A read-only
    view: revocation is decided by the committer on the authoritative row."""

    def __init__(self, data_dir: Path) -> None:
        self._store = Store(data_dir, readonly=True)
        self._keys: dict[bytes, authenticate.Ed25519Key] = {}

    def get(self, kid: bytes) -> authenticate.Ed25519Key | None:
        key = self._keys.get(kid)
        if key is None:
            public = self._store.public_key(kid)
            if public is None:
                return None
            key = self._keys[kid] = authenticate.Ed25519Key(public)
        return key

    def close(self) -> None:
        self._store.close()


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


BATCH_INTENTS_MAX = 32
BATCH_BYTES_MAX = BATCH_INTENTS_MAX * (messages.INTENT_BYTES_MAX + 2) + 2

Started: TypeAlias = Union[Outcome, "asyncio.Future[Outcome]"]  # noqa: UP007


class LedgerQueue(Protocol):
    """The bounded queue in front of the ledger writer: committer.Committer in
    the same process, writer_link.WriterClient when the writer has a process
    of its own. submit raises committer.QueueFull when the bound is reached."""

    def submit(self, kind: int, device_id: bytes, message: bytes, parsed: Any) -> asyncio.Future: ...

    async def nonce(self) -> bytes | Busy: ...

    @property
    def healthy(self) -> bool: ...


class Pipeline:
    def __init__(
        self,
        keys: DeviceKeys,
        committer: LedgerQueue,
        rate: RateLimiter,
        clock: Callable[[], float],
        metrics: Metrics | None = None,
    ) -> None:
        self._keys = keys
        self._committer = committer
        self._rate = rate
        self._clock = clock
        self._metrics = metrics or Metrics()

    def start(self, kind: int, message: bytes) -> Started:
        """decode -> authenticate -> rate -> queue; raises MessageError. Returns
        an Outcome at once (rate limited, busy) or the committer's future."""
        with self._metrics.verify_seconds.time():
            envelope, parsed = decode.decode_message(message, kind)
            authenticate.authenticate(envelope, self._keys)
        if kind == inbound.KIND_ATTESTATION and parsed.ueid[1:9] != envelope.kid:
            raise FieldError("ueid", "names another device than the signing key")
        if kind == inbound.KIND_READING_BATCH:
            senml.check_names(parsed)
        wait_s = self._rate.take(envelope.kid, self._clock())
        if wait_s:
            return RateLimited(max(1, math.ceil(wait_s)))
        try:
            return self._committer.submit(kind, envelope.kid, message, parsed)
        except QueueFull:
            return Busy(BUSY_RETRY_S)

    def start_batch(self, payload: bytes) -> list[Started | MessageError]:
        """A board catching up: an array of signed intents, each with its own
        verdict; a bad one never spoils the others. All are queued in order
        before any is awaited, so they share group commits. Raises
        MessageError if the payload is not such an array."""
        items = decode.loads(payload, BATCH_BYTES_MAX, depth_max=1)
        if not isinstance(items, list) or not 1 <= len(items) <= BATCH_INTENTS_MAX:
            raise FieldError("batch", f"an array of 1..{BATCH_INTENTS_MAX} signed intents")
        started: list[Started | MessageError] = []
        for item in items:
            try:
                if not isinstance(item, bytes):
                    raise FieldError("batch item", "a signed intent as a byte string")
                started.append(self.start(inbound.KIND_INTENT, item))
            except MessageError as error:
                started.append(error)
        return started

    async def _one(self, kind: int, message: bytes) -> Outcome:
        started = self.start(kind, message)
        return await started if isinstance(started, asyncio.Future) else started

    async def intent(self, message: bytes) -> Outcome:
        return await self._one(inbound.KIND_INTENT, message)

    async def attestation(self, message: bytes) -> Outcome:
        return await self._one(inbound.KIND_ATTESTATION, message)

    async def reading_batch(self, message: bytes) -> Outcome:
        return await self._one(inbound.KIND_READING_BATCH, message)

    async def intent_batch(self, payload: bytes) -> list[Outcome | MessageError]:
        return [await s if isinstance(s, asyncio.Future) else s for s in self.start_batch(payload)]

    async def nonce(self) -> bytes | Busy:
        """A fresh attestation nonce, or Busy while the ledger writer is unreachable."""
        return await self._committer.nonce()
