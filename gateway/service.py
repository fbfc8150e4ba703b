"""`paymote gateway run`: wire the layers, say ready, drain on SIGTERM.

With workers = 1 the front (CoAP, decode, authenticate, rate) and the ledger
writer share this process. With workers = N > 1 this process is the single
ledger writer and starts N worker processes (worker.py), each serving the
front on the same port and linked to the writer by a socketpair
(writer_link.py). A worker that dies takes the gateway down (exit 1) so
systemd restarts all of it: nothing it had in flight was acknowledged.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from paymote.gateway import front, keys, logs, store, systemd
from paymote.gateway.committer import Committer
from paymote.gateway.config import Config, split_host_port
from paymote.gateway.metrics import Metrics
from paymote.gateway.pauses import PauseWatch
from paymote.gateway.store import Store
from paymote.gateway.writer_link import METRICS_EVERY_S, WriterEnd

log = logging.getLogger("paymote.gateway")

WORKER_START_S_MAX = 30.0
WORKER_STOP_S_MAX = 15.0


def _say(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


class Workers:
    """The worker processes, and the writer's end of each one's link."""

    def __init__(self, config: Config, committer: Committer, metrics: Metrics) -> None:
        self._config = config
        self._committer = committer
        self._metrics = metrics
        self._processes: list[subprocess.Popen] = []
        self._links: list[asyncio.Task] = []
        self._stopping = False
        self.lost = asyncio.Event()
        """Set when a worker's link ends while the gateway is not stopping."""

    async def start(self) -> None:
        for index in range(self._config.workers):
            ours, theirs = socket.socketpair()
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "paymote.gateway.worker",
                    str(theirs.fileno()),
                    self._config.to_json(),
                ],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
            theirs.close()
            self._processes.append(process)
            end = WriterEnd(
                self._committer, lambda families, i=index: self._metrics.workers.update(i, families)
            )
            link = asyncio.create_task(end.serve(ours), name=f"worker-{index}")
            link.add_done_callback(self._link_ended)
            self._links.append(link)
            try:
                await asyncio.wait_for(asyncio.shield(end.ready), WORKER_START_S_MAX)
            except (asyncio.TimeoutError, ConnectionError) as error:
                raise RuntimeError(f"worker {index} did not start: {error!r}") from None

    def _link_ended(self, _task: asyncio.Task) -> None:
        if not self._stopping:
            log.error("a worker process ended; stopping the gateway")
            self.lost.set()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes]

    async def stop(self) -> None:
        """SIGTERM each worker; keep answering their in-flight messages until
        they close their links; then reap them."""
        self._stopping = True
        for process in self._processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        if self._links:
            await asyncio.wait(self._links, timeout=WORKER_STOP_S_MAX)
        loop = asyncio.get_running_loop()
        for process in self._processes:
            try:
                await loop.run_in_executor(None, process.wait, WORKER_STOP_S_MAX)
            except subprocess.TimeoutExpired:
                process.kill()
                await loop.run_in_executor(None, process.wait)


async def _watchdog(interval_s: float, healthy: Callable[[], bool]) -> None:
    """WATCHDOG=1 while every layer is alive; silence lets systemd restart us."""
    while healthy():
        systemd.notify("WATCHDOG=1")
        await asyncio.sleep(interval_s)


async def serve(
    config: Config,
    clock: Callable[[], float] = time.time,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
) -> bool:
    """Run until stop is set (or SIGTERM/SIGINT): stop accepting, finish the
    in-flight commit, exit cleanly. ready is set once every layer is up.
    False if the gateway stopped because a worker died. Workers read the
    wall clock, so a test clock needs workers = 1."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    config.data.mkdir(parents=True, exist_ok=True)
    gateway_key = keys.load(config.key_file) if config.key_file else keys.load_or_create(config.data)
    if config.store:
        store.bind(config.data, config.store)
    Store(config.data).close()  # creates the schema before read-only views open it
    metrics = Metrics(requests=config.workers == 1)
    committer = Committer(
        config.data,
        gateway_key,
        clock,
        metrics=metrics,
        queue_items_max=config.queue_items_max,
        batch_items_max=config.batch_items_max,
        # A writer that only serves worker links commits on its loop: a thread
        # hand-off cost SQLite more than it saved. A PostgreSQL commit waits
        # on the server, which on the loop stalled the links (soaks at 80 % of
        # peak, docs/performance.md: inline, loop stalls over 100 ms in half the
        # 10 s windows; on the thread, none).
        inline=config.workers > 1 and store.ledger_url(config.data) is None,
    )
    await committer.start()
    served, workers, watch_workers = await _start_requests(config, committer, clock, metrics, stop)
    pauses = PauseWatch(metrics.pause_seconds, "gateway" if workers is None else "writer")
    pauses.start()
    own_pauses = (
        asyncio.create_task(_report_own_pauses(metrics)) if workers is not None and config.metrics else None
    )
    metrics_server = metrics.serve(*split_host_port(config.metrics)) if config.metrics else None
    gc.collect()
    gc.freeze()  # start-up objects never become garbage: keep them out of every collection
    gc.set_threshold(config.gc_threshold0, 50, 100)  # fewer, cheaper pauses (see Config)
    _say(
        "ready",
        bind=config.bind,
        data=str(config.data),
        gateway_kid=gateway_key.kid.hex(),
        metrics=config.metrics,
        workers=workers.pids if workers else [],
    )
    systemd.notify(f"READY=1\nSTATUS=serving CoAP on {config.bind}")

    def healthy() -> bool:
        return committer.healthy and not (workers and workers.lost.is_set())

    interval_s = systemd.watchdog_interval_s()
    watchdog = asyncio.create_task(_watchdog(interval_s, healthy)) if interval_s else None
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        systemd.notify("STOPPING=1")
        for task in (watchdog, watch_workers, own_pauses):
            if task:
                task.cancel()
        pauses.stop()
        if served:
            served.stop_accepting()
        if workers:
            await workers.stop()  # they stop accepting; their in-flight messages still commit
        await committer.stop()  # finish and commit what was queued
        if served:
            await served.close()  # after the answers to what was committed
        if metrics_server:
            metrics_server.shutdown()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        _say("stopped", batches_committed=committer.batches_committed)
    return not (workers and workers.lost.is_set())


async def _start_requests(
    config: Config, committer: Committer, clock: Callable[[], float], metrics: Metrics, stop: asyncio.Event
) -> tuple[front.Front | None, Workers | None, asyncio.Task | None]:
    """The request side: in this process (workers = 1), or the worker
    processes and a task that stops the gateway if one of them dies."""
    if config.workers == 1:
        return await front.start(config, committer, clock, metrics), None, None
    workers = Workers(config, committer, metrics)
    try:
        await workers.start()
    except BaseException:
        await workers.stop()
        await committer.stop()
        raise
    return None, workers, asyncio.create_task(_stop_when(workers.lost, stop))


async def _report_own_pauses(metrics: Metrics) -> None:
    """A writer with workers: its own pauses join the workers' in the sum."""
    while True:
        metrics.workers.update(-1, metrics.request_families())
        await asyncio.sleep(METRICS_EVERY_S)


async def _stop_when(lost: asyncio.Event, stop: asyncio.Event) -> None:
    await lost.wait()
    stop.set()


def run(config: Config) -> int:
    logs.setup()
    try:
        return 0 if asyncio.run(serve(config)) else 1
    except store.StoreError as e:  # the ledger cannot be used: say why, not a traceback
        _say("refused", reason=str(e))
        print(f"paymote gateway run: {e}", file=sys.stderr)
        return 1


def config_from_args(
    data: Path | None,
    bind: str | None,
    metrics: str | None,
    config_path: Path | None,
    workers: int | None = None,
    store_url: str | None = None,
) -> Config:
    """The config file if given, with --data/--bind/--metrics/--workers/--store overriding it."""
    from dataclasses import replace

    from paymote.gateway import config as config_module

    if config_path is not None:
        base = config_module.load(config_path)
    elif data is not None:
        base = Config(data=data)
    else:
        raise config_module.ConfigError("give --data DIR or --config FILE")
    given = (("data", data), ("bind", bind), ("metrics", metrics), ("workers", workers), ("store", store_url))
    overrides = {k: v for k, v in given if v is not None}
    return replace(base, **overrides)
