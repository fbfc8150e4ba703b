"""Stalls of a gateway process, measured where they happen: every garbage
collection (gc.callbacks) and every time the event loop came back late from
a 10 ms sleep (it was busy or stopped). Both go to paymote_pause_seconds,
labelled with the cause (gc or loop) and the process (gateway: one process
does everything; writer and worker where the work is split), so a pause says
where it was; bench/gateway_throughput.py's soak reads them per 10 s.
"""

from __future__ import annotations

import asyncio
import gc
import time

from prometheus_client import Histogram

TICK_S = 0.01


class PauseWatch:
    def __init__(self, histogram: Histogram, process: str) -> None:
        self._gc = histogram.labels(process, "gc")
        self._loop = histogram.labels(process, "loop")
        self._gc_started = 0.0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)
        self._task = asyncio.create_task(self._ticks(), name="pause-watch")

    def stop(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._task is not None:
            self._task.cancel()

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self._gc.observe(time.perf_counter() - self._gc_started)

    async def _ticks(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(TICK_S)
            self._loop.observe(max(0.0, loop.time() - before - TICK_S))
