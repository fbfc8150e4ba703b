"""SIGKILL the gateway at random moments while boards send: every intent that got
2.01 is in the ledger exactly once, and the ledger verifies."""

from __future__ import annotations

import asyncio
import os
import random
import signal

import aiocoap
import pytest
from aiocoap.numbers.codes import Code

from paymote.gateway.cli import main
from paymote.gateway.store import Store
from tests.gateway_helpers import Device, free_udp_port, start_gateway_process

SEED = int(os.environ.get("PAYMOTE_CRASH_SEED", "20261129"))
KILLS = 6
DEVICES = 4
ANSWER_TIMEOUT_S = 1.5


async def _board(device, client, port, acknowledged, stop):
    """Send intents in order; resend the same bytes until answered, as a board does
    (including its rule for 4.29 and 5.03: wait, here briefly, then send again)."""
    message = device.intent()
    while not stop.is_set():
        request = aiocoap.Message(code=aiocoap.POST, uri=f"coap://127.0.0.1:{port}/i", payload=message)
        try:
            response = await asyncio.wait_for(client.request(request).response, ANSWER_TIMEOUT_S)
        except (asyncio.TimeoutError, aiocoap.error.Error):
            await asyncio.sleep(0.05)
            continue
        if response.code in (Code.TOO_MANY_REQUESTS, Code.SERVICE_UNAVAILABLE):
            await asyncio.sleep(0.2)  # these boards send faster than the per-device rate
            continue
        assert response.code in (Code.CREATED, Code.CHANGED), (response.code, response.payload)
        acknowledged.append((device.kid, device.seq, message))
        message = device.intent()


@pytest.mark.parametrize("workers", [1, 2])
async def test_acknowledged_intents_survive_sigkill(tmp_path, workers, ledger_engine):
    """seed=PAYMOTE_CRASH_SEED replays the same kill schedule. With 2 workers
    the SIGKILL hits the ledger writer; its workers die with it (and each
    board has its own socket, so both workers get traffic). On PostgreSQL the
    server ends the killed writer's session: its open transaction rolls back
    and its writer lock goes, so the restarted gateway can claim it."""
    rng = random.Random(SEED)
    devices = [Device(100 + i, payer=f"hh-{i}") for i in range(DEVICES)]
    for device in devices:
        device.register(tmp_path)
    port = free_udp_port()
    acknowledged: list[tuple[bytes, int, bytes]] = []
    stop = asyncio.Event()
    extra = ("--workers", str(workers))
    clients = [await aiocoap.Context.create_client_context() for _ in devices]
    process = start_gateway_process(tmp_path, port, extra=extra)
    boards = [
        asyncio.create_task(_board(d, client, port, acknowledged, stop))
        for d, client in zip(devices, clients, strict=True)
    ]
    try:
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.1, 0.6))
            process.send_signal(signal.SIGKILL)
            process.wait()
            process = start_gateway_process(tmp_path, port, extra=extra)
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.gather(*boards, return_exceptions=True)
        for client in clients:
            await client.shutdown()
        process.send_signal(signal.SIGTERM)
        process.wait()
    for board in boards:
        assert board.exception() is None, f"seed={SEED}: {board.exception()!r}"
    assert len(acknowledged) > DEVICES, f"seed={SEED}: too few intents got through to test anything"
    print(f"seed={SEED}: {len(acknowledged)} acknowledged across {KILLS} kills")
    store = Store(tmp_path)
    entries = list(store.entries())
    recorded = {(e.device_id, e.seq): e.evidence for e in entries}
    store.close()
    for kid, seq, message in acknowledged:
        assert recorded.get((kid, seq)) == message, f"seed={SEED}: acknowledged {kid.hex()}/{seq} lost"
    assert len(entries) == len(recorded), f"seed={SEED}: a (device, seq) was recorded twice"
    assert main(["ledger", "verify", "--data", str(tmp_path)]) == 0, f"seed={SEED}"
