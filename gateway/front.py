"""The request side of the gateway: the registry's keys, per-device rate
limits, the pipeline and the CoAP server with its fast path, in front of a
ledger queue. It runs in the gateway's own process (workers = 1, the queue is
the Committer) or in each worker process (the queue is a WriterClient)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiocoap

from paymote.gateway import transport
from paymote.gateway.config import Config, split_host_port
from paymote.gateway.fastpath import FastPath
from paymote.gateway.metrics import Metrics
from paymote.gateway.pipeline import DeviceKeys, LedgerQueue, Pipeline, RateLimiter

ANSWER_GRACE_S = 0.01
"""At close, the time the last commits' answers get to leave (their callbacks
and aiocoap's response tasks are ready to run; this lets them)."""


class Front:
    def __init__(self, context: aiocoap.Context, fast_path: FastPath, device_keys: DeviceKeys) -> None:
        self._context = context
        self._fast_path = fast_path
        self._device_keys = device_keys

    def stop_accepting(self) -> None:
        """Read no more requests. What was read still commits and is answered:
        wait for the ledger queue, then close()."""
        self._fast_path.stop_reading()

    async def close(self) -> None:
        """Let the last answers out, then close the socket."""
        await asyncio.sleep(ANSWER_GRACE_S)
        await self._context.shutdown()
        self._device_keys.close()


async def start(config: Config, queue: LedgerQueue, clock: Callable[[], float], metrics: Metrics) -> Front:
    """Serve CoAP on config.bind. Several processes may each call this on the
    same port: aiocoap sets SO_REUSEPORT, and Linux spreads the datagrams over
    their sockets by the sender's address and port, so one device keeps
    reaching the same process (which is why rate limits per process hold per
    device)."""
    host, port = split_host_port(config.bind) or ("", 0)
    device_keys = DeviceKeys(config.data)
    rate = RateLimiter(config.rate_per_device_per_s, config.burst_per_device)
    pipeline = Pipeline(device_keys, queue, rate, clock, metrics)
    transport.tune_exchange_lifetime(config.exchange_lifetime_s)
    context = await aiocoap.Context.create_server_context(
        transport.site(pipeline, clock, metrics), bind=(host, port), transports=["udp6"]
    )
    fast_path = FastPath(pipeline, metrics, config.exchange_lifetime_s)
    fast_path.install(context)
    return Front(context, fast_path, device_keys)
