"""`paymote gateway run`: wire the layers, say ready, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiocoap

from paymote.gateway import keys, transport
from paymote.gateway.committer import Committer
from paymote.gateway.pipeline import DeviceKeys, Pipeline, RateLimiter
from paymote.gateway.store import Store

RATE_PER_DEVICE_PER_S = 20.0
BURST_PER_DEVICE = 100


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {"t": round(record.created, 3), "level": record.levelname, "msg": record.getMessage()}
        )


def _say(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


async def serve(
    data_dir: Path,
    host: str,
    port: int,
    clock: Callable[[], float] = time.time,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
    committer_options: dict | None = None,
) -> None:
    """Run until stop is set (or SIGTERM/SIGINT): stop accepting, finish the
    in-flight commit, exit cleanly. ready is set once every layer is up."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    gateway_key = keys.load_or_create(data_dir)
    Store(data_dir).close()  # creates the schema before read-only views open it
    committer = Committer(data_dir, gateway_key, clock, **(committer_options or {}))
    await committer.start()
    device_keys = DeviceKeys(data_dir)
    pipeline = Pipeline(device_keys, committer, RateLimiter(RATE_PER_DEVICE_PER_S, BURST_PER_DEVICE), clock)
    context = await aiocoap.Context.create_server_context(transport.site(pipeline, clock), bind=(host, port))
    _say("ready", bind=f"{host}:{port}", data=str(data_dir), gateway_kid=gateway_key.kid.hex())
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await context.shutdown()
        await committer.stop()
        device_keys.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        _say("stopped", batches_committed=committer.batches_committed)


def run(data_dir: Path, bind: str) -> int:
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        print(f"paymote gateway run: --bind wants HOST:PORT, not {bind!r}", file=sys.stderr)
        return 2
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    asyncio.run(serve(data_dir, host.strip("[]"), int(port)))
    return 0
