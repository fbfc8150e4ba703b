"""`paymote gateway run`: wire the layers, say ready, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiocoap

from paymote.gateway import keys, systemd, transport
from paymote.gateway.committer import Committer
from paymote.gateway.config import Config, split_host_port
from paymote.gateway.metrics import Metrics
from paymote.gateway.pipeline import DeviceKeys, Pipeline, RateLimiter
from paymote.gateway.store import Store

log = logging.getLogger("paymote.gateway")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {"t": round(record.created, 3), "level": record.levelname, "msg": record.getMessage()}
        )


def _say(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


async def _watchdog(interval_s: float, committer: Committer) -> None:
    """WATCHDOG=1 while the ledger writer is alive; silence lets systemd restart us."""
    while committer.healthy:
        systemd.notify("WATCHDOG=1")
        await asyncio.sleep(interval_s)


async def serve(
    config: Config,
    clock: Callable[[], float] = time.time,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Run until stop is set (or SIGTERM/SIGINT): stop accepting, finish the
    in-flight commit, exit cleanly. ready is set once every layer is up."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    host, port = split_host_port(config.bind) or ("", 0)
    config.data.mkdir(parents=True, exist_ok=True)
    gateway_key = keys.load(config.key_file) if config.key_file else keys.load_or_create(config.data)
    Store(config.data).close()  # creates the schema before read-only views open it
    metrics = Metrics()
    committer = Committer(
        config.data,
        gateway_key,
        clock,
        metrics=metrics,
        queue_items_max=config.queue_items_max,
        batch_items_max=config.batch_items_max,
    )
    await committer.start()
    device_keys = DeviceKeys(config.data)
    rate = RateLimiter(config.rate_per_device_per_s, config.burst_per_device)
    pipeline = Pipeline(device_keys, committer, rate, clock, metrics)
    transport.tune_exchange_lifetime(config.exchange_lifetime_s)
    context = await aiocoap.Context.create_server_context(
        transport.site(pipeline, clock, metrics), bind=(host, port)
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
    )
    systemd.notify(f"READY=1\nSTATUS=serving CoAP on {config.bind}")
    interval_s = systemd.watchdog_interval_s()
    watchdog = asyncio.create_task(_watchdog(interval_s, committer)) if interval_s else None
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        systemd.notify("STOPPING=1")
        if watchdog:
            watchdog.cancel()
        await context.shutdown()  # stop accepting
        await committer.stop()  # finish and commit what was queued
        device_keys.close()
        if metrics_server:
            metrics_server.shutdown()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        _say("stopped", batches_committed=committer.batches_committed)


def run(config: Config) -> int:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    asyncio.run(serve(config))
    return 0


def config_from_args(
    data: Path | None, bind: str | None, metrics: str | None, config_path: Path | None
) -> Config:
    """The config file if given, with --data/--bind/--metrics overriding it."""
    from dataclasses import replace

    from paymote.gateway import config as config_module

    if config_path is not None:
        base = config_module.load(config_path)
    elif data is not None:
        base = Config(data=data)
    else:
        raise config_module.ConfigError("give --data DIR or --config FILE")
    overrides = {k: v for k, v in (("data", data), ("bind", bind), ("metrics", metrics)) if v is not None}
    return replace(base, **overrides)
