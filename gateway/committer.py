"""The single ledger writer: a bounded queue in front of group commits.

Request handlers submit checked, authenticated intents; one thread owns the
Store and commits them in batches (one fsync for many messages). A message's
future resolves only after its batch's transaction is durable, so nothing is
acknowledged before it is on disk; where the commit failed, it resolves to
outcomes.Failed (5.00), never to an exception. A full queue refuses at once
(5.03 with Max-Age) instead of growing.

Where the front shares the process (workers = 1) the commits run on a thread
of their own, so an fsync never stalls the CoAP event loop. In a writer
process that only serves worker links (workers > 1) they run inline on its
loop (inline=True) on SQLite: measured, handing each batch to a thread cost
more there than it saved; on PostgreSQL, whose commits wait on the server,
they keep the thread (docs/performance.md).

Inside a batch, items run in arrival order through their record.* function
(for intents: sequence -> policy -> ledger), each seeing the writes of the
ones before it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paymote.crypto import inbound
from paymote.gateway import record
from paymote.gateway.keys import GatewayKey
from paymote.gateway.metrics import Metrics
from paymote.gateway.nonces import NonceBook
from paymote.gateway.outcomes import Failed, Outcome
from paymote.gateway.store import Store

log = logging.getLogger("paymote.gateway")

QUEUE_ITEMS_MAX = 4096
BATCH_ITEMS_MAX = 256


class QueueFull(Exception):  # noqa: N818 - a condition, not a failure
    """The ledger queue is at its bound; the caller answers 5.03."""


Apply = Callable[[record.Context, bytes, bytes, Any, int], Outcome]

APPLY_FOR_KIND: dict[int, Apply] = {
    inbound.KIND_INTENT: record.intent,
    inbound.KIND_ATTESTATION: record.attestation,
    inbound.KIND_READING_BATCH: record.reading_batch,
}


@dataclass
class _Work:
    apply: Apply  # one of the record.* functions
    device_id: bytes
    message: bytes
    parsed: Any
    future: asyncio.Future
    ticket: int  # its place among every message submitted


class Committer:
    def __init__(
        self,
        data_dir: Path,
        gateway_key: GatewayKey,
        clock: Callable[[], float],
        nonces: NonceBook | None = None,
        metrics: Metrics | None = None,
        queue_items_max: int = QUEUE_ITEMS_MAX,
        batch_items_max: int = BATCH_ITEMS_MAX,
        inline: bool = False,
    ) -> None:
        self._data_dir = data_dir
        self._key = gateway_key
        self._clock = clock
        self.nonces = nonces or NonceBook()
        self._metrics = metrics or Metrics()
        self._metrics.queue_depth.set_function(lambda: self._queue.qsize())
        self._batch_items_max = batch_items_max
        self._queue: asyncio.Queue[_Work | None] = asyncio.Queue(queue_items_max)
        self._thread = (
            None
            if inline
            else concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        )
        self._ctx: record.Context | None = None
        # After a failed commit the head in _ctx may be wrong either way: rolled
        # back, or (a connection lost during COMMIT) committed after all. The
        # next transaction reads it from the ledger first.
        self._head_unknown = False
        self._task: asyncio.Task | None = None
        self._submitted = 0
        # (device, kind) -> (number whose commit failed, messages submitted by then)
        self._failed: dict[tuple[bytes, Apply], tuple[int, int]] = {}
        self.batches_committed = 0

    async def _on_ledger_thread(self, work: Callable[..., Any], *args: Any) -> Any:
        """work(*args) where the store lives: its thread, or inline."""
        if self._thread is None:
            return work(*args)
        return await asyncio.get_running_loop().run_in_executor(self._thread, work, *args)

    async def start(self) -> None:
        store = await self._on_ledger_thread(Store, self._data_dir)
        try:
            await self._on_ledger_thread(store.claim_writer)
        except BaseException:
            await self._on_ledger_thread(store.close)
            raise
        head = await self._on_ledger_thread(store.last_entry)
        self._ctx = record.Context(store, self._key, self.nonces, head)
        self._metrics.ledger_entries.set(head[0])
        self._task = asyncio.create_task(self._run(), name="ledger-committer")

    async def stop(self) -> None:
        """Finish everything queued, commit it, and close the store."""
        if self._task is None:
            return
        await self._queue.put(None)
        await self._task
        assert self._ctx is not None
        await self._on_ledger_thread(self._ctx.store.close)
        if self._thread is not None:
            self._thread.shutdown(wait=True)
        self._task = None

    def issue_nonce(self) -> bytes:
        """A fresh attestation nonce (single use, expiring) from the book the
        writer checks attestations against."""
        return self.nonces.issue(self._clock())

    async def nonce(self) -> bytes:
        return self.issue_nonce()

    @property
    def healthy(self) -> bool:
        """The writer task is running (a crashed writer means no more commits)."""
        return self._task is not None and not self._task.done()

    def submit(self, kind: int, device_id: bytes, message: bytes, parsed: Any) -> asyncio.Future:
        """Queue an authenticated message of a kind (messages.KIND_*); the
        future gives its Outcome once the batch holding it is durable."""
        future = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(
                _Work(APPLY_FOR_KIND[kind], device_id, message, parsed, future, self._submitted + 1)
            )
        except asyncio.QueueFull:
            raise QueueFull from None
        self._submitted += 1
        return future

    async def _run(self) -> None:
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
            if self._failed:
                batch = [work for work in batch if not self._held_back(work)]
            if not batch:
                continue
            try:
                outcomes = await self._on_ledger_thread(self._commit, batch)
            except Exception as error:  # noqa: BLE001 - settled one by one below
                if len(batch) == 1:
                    self._settle(batch[0], _failure(batch[0], error))
                else:
                    await self._commit_one_by_one(batch, error)
                continue
            for work, outcome in zip(batch, outcomes, strict=True):
                self._settle(work, outcome)
            if self._thread is None:
                await asyncio.sleep(0)  # inline: let the links read and answer between commits

    async def _commit_one_by_one(self, batch: list[_Work], error: Exception) -> None:
        """A group commit failed and rolled back. An I/O error fails each of
        its messages again; a message that fails alone (a bug its content
        hits) must not take the others with it: the device resends it within
        seconds, so every group commit it joined would fail, and the fleet
        with it. Arrival order is kept, so each device's chain still holds."""
        log.error("group commit of %d failed (%r): committing them one by one", len(batch), error)
        for work in batch:
            if self._held_back(work):
                continue
            try:
                [outcome] = await self._on_ledger_thread(self._commit, [work])
            except Exception as alone:  # noqa: BLE001 - its waiter learns of it
                outcome = _failure(work, alone)
            self._settle(work, outcome)

    def _held_back(self, work: _Work) -> bool:
        """After a device's message numbered n failed to commit, its higher
        numbers of that kind already queued then (the rest of its batch
        upload) fail too, unattempted: without their predecessor they would
        not chain, and sequence.py would take them for a fork and flag the
        device. What it sends after that 5.00 is tried: n again, first."""
        key = (work.device_id, work.apply)
        failed = self._failed.get(key)
        if failed is None:
            return False
        failed_seq, queued_by = failed
        if work.ticket > queued_by:  # sent after the failure was answered
            del self._failed[key]
            return False
        if work.parsed.seq <= failed_seq:
            return False
        self._settle(work, Failed(f"waits for seq {failed_seq}", "held_back"))
        return True

    def _settle(self, work: _Work, outcome: Outcome) -> None:
        if isinstance(outcome, Failed):
            seq = getattr(work.parsed, "seq", None)  # intents and reading batches are numbered
            if seq is not None:
                self._failed.setdefault((work.device_id, work.apply), (seq, self._submitted))
        if not work.future.done():  # its requester may have gone away
            work.future.set_result(outcome)

    def _commit(self, batch: list[_Work]) -> list[Outcome]:
        """Runs on the ledger thread: one durable transaction for the batch."""
        ctx = self._ctx
        assert ctx is not None
        now_s = int(self._clock())
        started = time.perf_counter()
        try:
            with ctx.store.transaction():
                if self._head_unknown:
                    ctx.head = ctx.store.last_entry()
                    self._head_unknown = False
                outcomes = [
                    work.apply(ctx, work.device_id, work.message, work.parsed, now_s) for work in batch
                ]
        except BaseException:
            self._head_unknown = True
            ctx.nonces.settle(committed=False)  # and so were the attestations
            raise
        ctx.nonces.settle(committed=True)
        self.batches_committed += 1
        self._metrics.commit_seconds.observe(time.perf_counter() - started)
        self._metrics.commit_batch_items.observe(len(batch))
        self._metrics.ledger_entries.set(ctx.head[0])
        return outcomes


def outcome_of(future: asyncio.Future) -> Outcome:
    """A settled future's outcome; Failed if it was cancelled (its requester went away)."""
    return Failed("cancelled", "cancelled") if future.cancelled() else future.result()


def _failure(work: _Work, error: Exception) -> Failed:
    log.error("commit failed for device %s: %r", work.device_id.hex(), error)
    return Failed(f"commit failed: {type(error).__name__}", "commit_failed")
