"""The link between request workers and the single ledger writer, when the
gateway runs several worker processes (Config.workers > 1).

Each worker decodes, authenticates and rate-limits inline, then hands the
verified message to the writer process, which owns the Committer (and so the
ledger, the nonce book and every group commit) and sends back each outcome
once it is durable. The link is one end of a socketpair the writer made
before it started the worker, so no other process can reach it: what travels
on it is already verified, and only the writer's own children may send it.

Frames: a 4-byte big-endian length, then a pickled list of items, so one
write carries everything a loop iteration produced. Worker to writer:
("m", id, kind, device_id, message, parsed), ("n", id) for a nonce,
("s", metrics families) every METRICS_EVERY_S, ("r",) once it serves CoAP.
Writer to worker: (id, outcome or nonce); a commit that failed is outcomes.Failed.
"""

from __future__ import annotations

import asyncio
import itertools
import pickle
import socket
import struct
from collections.abc import Callable
from typing import Any

from paymote.gateway.committer import Committer, QueueFull, outcome_of
from paymote.gateway.outcomes import Busy

_HEADER = struct.Struct("!I")
FRAME_BYTES_MAX = 64 * 1024 * 1024
"""A frame above this is a bug on the other side: the link is closed."""
METRICS_EVERY_S = 1.0
BUSY_RETRY_S = 2


class LinkLostError(ConnectionError):
    """The other end of the link is gone."""


class _Framed:
    """Batched writes and length-prefixed reads over a stream socket."""

    def __init__(self) -> None:
        self._outgoing: list[Any] = []
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.StreamReader | None = None

    async def _open(self, sock: socket.socket) -> None:
        self._reader, self._writer = await asyncio.open_connection(sock=sock)

    def _send(self, item: Any) -> None:
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outgoing.append(item)

    def _flush(self) -> None:
        items, self._outgoing = self._outgoing, []
        if self._writer is None or self._writer.is_closing():
            return
        body = pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)
        self._writer.write(_HEADER.pack(len(body)) + body)

    async def _frames(self):
        assert self._reader is not None
        while True:
            try:
                (length,) = _HEADER.unpack(await self._reader.readexactly(_HEADER.size))
                if length > FRAME_BYTES_MAX:
                    raise LinkLostError(f"a frame of {length} bytes")
                yield pickle.loads(await self._reader.readexactly(length))
            except (asyncio.IncompleteReadError, ConnectionError):
                return

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class WriterClient(_Framed):
    """A worker's ledger queue (pipeline.LedgerQueue): what submit hands over
    is answered by the writer process. At most in_flight_max messages wait
    at once; beyond that submit raises QueueFull (5.03), as the Committer does."""

    def __init__(self, sock: socket.socket, in_flight_max: int) -> None:
        super().__init__()
        self._sock = sock
        self._in_flight_max = in_flight_max
        self._waiting: dict[int, asyncio.Future] = {}
        self._ids = itertools.count()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self._open(self._sock)
        self._task = asyncio.create_task(self._answers(), name="writer-link")

    @property
    def healthy(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def in_flight(self) -> int:
        return len(self._waiting)

    def submit(self, kind: int, device_id: bytes, message: bytes, parsed: Any) -> asyncio.Future:
        if len(self._waiting) >= self._in_flight_max or not self.healthy:
            raise QueueFull
        return self._ask("m", kind, device_id, message, parsed)

    async def nonce(self) -> bytes | Busy:
        """A nonce from the writer's book, or Busy if the writer is gone."""
        if not self.healthy:
            return Busy(BUSY_RETRY_S)
        return await self._ask("n")

    def ready(self) -> None:
        self._send(("r",))

    def metrics(self, families: list) -> None:
        self._send(("s", families))

    def _ask(self, verb: str, *fields: Any) -> asyncio.Future:
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        self._send((verb, request_id, *fields))
        return future

    async def _answers(self) -> None:
        async for frame in self._frames():
            for request_id, result in frame:
                future = self._waiting.pop(request_id, None)
                if future is not None and not future.done():
                    future.set_result(result)
        # The writer died (or is restarting): nothing waiting was committed
        # and acknowledged, so each gets 5.03 and its board sends it again.
        for future in self._waiting.values():
            if not future.done():
                future.set_result(Busy(BUSY_RETRY_S))
        self._waiting.clear()

    async def wait_task(self) -> None:
        """Returns when the link is lost."""
        if self._task is not None:
            await asyncio.shield(self._task)


class WriterEnd(_Framed):
    """The writer's end of one worker's link: every message goes to the
    committer, every outcome goes back as soon as its batch is durable."""

    def __init__(self, committer: Committer, on_metrics: Callable[[list], None]) -> None:
        super().__init__()
        self._committer = committer
        self._on_metrics = on_metrics
        self.ready = asyncio.get_running_loop().create_future()

    async def serve(self, sock: socket.socket) -> None:
        """Until the worker closes its end (or dies)."""
        await self._open(sock)
        try:
            async for frame in self._frames():
                for item in frame:
                    self._handle(item)
        finally:
            self.close()
            if not self.ready.done():
                self.ready.set_exception(LinkLostError("the worker left before it was ready"))

    def _handle(self, item: tuple) -> None:
        verb = item[0]
        if verb == "m":
            _, request_id, kind, device_id, message, parsed = item
            try:
                future = self._committer.submit(kind, device_id, message, parsed)
            except QueueFull:
                self._send((request_id, Busy(BUSY_RETRY_S)))
                return
            future.add_done_callback(lambda f, i=request_id: self._send((i, outcome_of(f))))
        elif verb == "n":
            self._send((item[1], self._committer.issue_nonce()))
        elif verb == "s":
            self._on_metrics(item[1])
        elif verb == "r" and not self.ready.done():
            self.ready.set_result(None)
