"""A request worker process (Config.workers > 1): the gateway's front (CoAP,
fast path, decode, authenticate, rate) on the shared port, handing verified
messages to the ledger writer over the socketpair it inherited.

Started by service.py as `python -m paymote.gateway.worker FD CONFIG_JSON`.
It exits when its writer goes away (the link closes, and on Linux the kernel
kills it at once when its parent dies: PR_SET_PDEATHSIG), and on SIGTERM
after answering what it has in flight.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
import signal
import socket
import sys
import time

from paymote.gateway import front, logs
from paymote.gateway.config import Config
from paymote.gateway.metrics import Metrics
from paymote.gateway.pauses import PauseWatch
from paymote.gateway.writer_link import METRICS_EVERY_S, WriterClient

DRAIN_S_MAX = 10.0
"""How long a stopping worker waits for the writer to answer what is in flight."""

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Let the kernel SIGKILL this worker when the writer dies (Linux), so a
    crashed gateway leaves no process holding the port's traffic."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the closed link still ends the worker
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


async def _report_metrics(link: WriterClient, metrics: Metrics) -> None:
    while True:
        link.metrics(metrics.request_families())
        await asyncio.sleep(METRICS_EVERY_S)


async def work(config: Config, sock: socket.socket) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    link = WriterClient(sock, config.queue_items_max)
    await link.start()
    metrics = Metrics()
    served = await front.start(config, link, time.time, metrics)
    pauses = PauseWatch(metrics.pause_seconds, "worker")
    pauses.start()
    reporter = asyncio.create_task(_report_metrics(link, metrics)) if config.metrics else None
    gc.collect()
    gc.freeze()
    gc.set_threshold(config.gc_threshold0, 50, 100)
    link.ready()
    lost = asyncio.create_task(link.wait_task())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait((lost, stopping), return_when=asyncio.FIRST_COMPLETED)
    served.stop_accepting()
    deadline = time.monotonic() + DRAIN_S_MAX
    while link.healthy and link.in_flight and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await served.close()  # after the answers to what was in flight
    if reporter:
        reporter.cancel()
        link.metrics(metrics.request_families())  # the last counts
        await asyncio.sleep(0)
    pauses.stop()
    link.close()
    stopping.cancel()
    lost.cancel()


def main(argv: list[str]) -> int:
    _die_with_parent()
    fd, config_json = int(argv[0]), argv[1]
    logs.setup()
    sock = socket.socket(fileno=fd)
    asyncio.run(work(Config.from_json(config_json), sock))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
