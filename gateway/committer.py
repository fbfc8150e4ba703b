"""The single ledger writer: a bounded queue in front of group commits.

Request handlers submit checked, authenticated intents; one thread owns the
Store and commits them in batches (one fsync for many messages). A message's
future resolves only after its batch's transaction is durable, so nothing is
acknowledged before it is on disk. A full queue refuses at once (5.03 with
Max-Age) instead of growing.

Inside a batch, items run in arrival order through sequence -> policy ->
ledger, each seeing the writes of the ones before it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from paymote.crypto import messages
from paymote.gateway import ledger, policy, sequence
from paymote.gateway.keys import GatewayKey
from paymote.gateway.outcomes import Accepted, Conflict, Outcome, Refused
from paymote.gateway.store import Store

QUEUE_ITEMS_MAX = 4096
BATCH_ITEMS_MAX = 256


class QueueFull(Exception):  # noqa: N818 - a condition, not a failure
    """The ledger queue is at its bound; the caller answers 5.03."""


@dataclass
class _Work:
    device_id: bytes
    message: bytes
    intent: messages.Intent
    future: asyncio.Future


class Committer:
    def __init__(
        self,
        data_dir: Path,
        gateway_key: GatewayKey,
        clock: Callable[[], float],
        queue_items_max: int = QUEUE_ITEMS_MAX,
        batch_items_max: int = BATCH_ITEMS_MAX,
    ) -> None:
        self._data_dir = data_dir
        self._key = gateway_key
        self._clock = clock
        self._batch_items_max = batch_items_max
        self._queue: asyncio.Queue[_Work | None] = asyncio.Queue(queue_items_max)
        self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        self._store: Store | None = None
        self._head = (0, b"")
        self._task: asyncio.Task | None = None
        self.batches_committed = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        store = await loop.run_in_executor(self._thread, Store, self._data_dir)
        self._store = store
        self._head = await loop.run_in_executor(self._thread, store.last_entry)
        self._task = asyncio.create_task(self._run(), name="ledger-committer")

    async def stop(self) -> None:
        """Finish everything queued, commit it, and close the store."""
        if self._task is None:
            return
        await self._queue.put(None)
        await self._task
        assert self._store is not None
        await asyncio.get_running_loop().run_in_executor(self._thread, self._store.close)
        self._thread.shutdown(wait=True)
        self._task = None

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def submit(self, device_id: bytes, message: bytes, intent: messages.Intent) -> asyncio.Future:
        """Queue an authenticated intent; the future gives its Outcome once durable."""
        future = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Work(device_id, message, intent, future))
        except asyncio.QueueFull:
            raise QueueFull from None
        return future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await self._queue.get()
            batch: list[_Work] = []
            if first is None:
                stopping = True
            else:
                batch.append(first)
            while len(batch) < self._batch_items_max and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            if not batch:
                continue
            try:
                outcomes = await loop.run_in_executor(self._thread, self._commit, batch)
            except Exception as error:  # noqa: BLE001 - every waiter learns of it
                self._head = await loop.run_in_executor(self._thread, self._reread_head)
                for work in batch:
                    if not work.future.done():
                        work.future.set_exception(error)
                continue
            for work, outcome in zip(batch, outcomes, strict=True):
                if not work.future.done():  # its requester may have gone away
                    work.future.set_result(outcome)

    def _reread_head(self) -> tuple[int, bytes]:
        assert self._store is not None
        return self._store.last_entry()

    def _commit(self, batch: list[_Work]) -> list[Outcome]:
        """Runs on the ledger thread: one durable transaction for the batch."""
        assert self._store is not None
        now_s = int(self._clock())
        head_before = self._head
        try:
            with self._store.transaction():
                outcomes = [self._one(self._store, work, now_s) for work in batch]
        except BaseException:
            self._head = head_before
            raise
        self.batches_committed += 1
        return outcomes

    def _one(self, store: Store, work: _Work, now_s: int) -> Outcome:
        intent = work.intent
        device = store.device(work.device_id)
        if device is None:
            return Refused("device is not registered")
        if device.status != "active":
            return Refused("device is revoked")
        message_hash = messages.chain_hash(work.message)
        decision = sequence.check(
            device,
            intent.seq,
            intent.prev,
            work.message,
            message_hash,
            store.entry_by_seq(work.device_id, intent.seq),
            store.refusal(work.device_id, intent.seq),
        )
        if isinstance(decision, Conflict):
            store.flag_device(work.device_id, f"possible cloned key: {decision.reason}")
            return decision
        if not isinstance(decision, sequence.Next):
            return decision  # a retransmission: the first answer again
        if decision.gap:
            store.record_gap(work.device_id, device.last_seq, intent.seq, now_s)
        spent = policy.spent_today(device, now_s)
        day = policy.utc_day(now_s)
        reason = policy.refusal(device, intent, now_s)
        if reason is not None:
            store.add_refusal(work.device_id, intent.seq, message_hash, reason, now_s)
            store.advance_device(work.device_id, intent.seq, message_hash, day, spent)
            return Refused(reason)
        entry = ledger.record(store, self._head, work.device_id, intent, work.message, now_s, self._key)
        self._head = (entry.position, entry.entry_hash)
        store.advance_device(work.device_id, intent.seq, message_hash, day, spent + intent.amount_minor)
        return Accepted(entry.receipt)
