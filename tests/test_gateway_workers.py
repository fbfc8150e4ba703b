"""Several worker processes on one port in front of one ledger writer: the
same answers, one ledger, metrics summed over the workers, a clean SIGTERM,
and no worker outliving its writer."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiocoap
from aiocoap.numbers.codes import Code

from paymote.gateway.cli import main
from paymote.gateway.store import Store
from tests.gateway_helpers import Device, free_udp_port

DEVICES = 6
INTENTS_EACH = 3


def _start(data_dir: Path, port: int, *extra: str) -> tuple[subprocess.Popen, dict]:
    process = subprocess.Popen(
        [sys.executable, "-m", "paymote.gateway.cli", "gateway", "run", "--data", str(data_dir)]
        + ["--bind", f"127.0.0.1:{port}", "--workers", "2", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    line = process.stdout.readline()
    assert b'"ready"' in line, line
    return process, json.loads(line)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _wait_gone(pids: list[int], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(_alive(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


async def _device_session(device: Device, port: int) -> list[Code]:
    """One board with its own socket: attest with a nonce, then send intents."""
    client = await aiocoap.Context.create_client_context()
    base = f"coap://127.0.0.1:{port}"
    try:
        nonce_answer = await client.request(aiocoap.Message(code=aiocoap.GET, uri=f"{base}/n")).response
        from paymote.crypto import cbor

        attestation = device.attestation(cbor.decode(nonce_answer.payload))
        codes = [
            (
                await client.request(
                    aiocoap.Message(code=aiocoap.POST, uri=f"{base}/a", payload=attestation)
                ).response
            ).code
        ]
        for _ in range(INTENTS_EACH):
            request = aiocoap.Message(code=aiocoap.POST, uri=f"{base}/i", payload=device.intent())
            codes.append((await client.request(request).response).code)
        return codes
    finally:
        await client.shutdown()


def _metrics(port: int) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


def test_two_workers_serve_one_ledger_and_stop_cleanly(tmp_path):
    """Every board's attestation (nonce from the writer, whichever worker asks)
    and intents are accepted; the ledger verifies; metrics add up across
    workers; SIGTERM ends the writer and both workers with exit 0."""
    devices = [Device(500 + i, payer=f"hh-{i}") for i in range(DEVICES)]
    for device in devices:
        device.register(tmp_path)
    port, metrics_port = free_udp_port(), free_udp_port()
    process, ready = _start(tmp_path, port, "--metrics", f"127.0.0.1:{metrics_port}")
    workers = ready["workers"]
    try:
        assert len(workers) == 2 and all(_alive(pid) for pid in workers)

        async def everyone() -> list[list[Code]]:
            return await asyncio.gather(*[_device_session(d, port) for d in devices])

        sessions = asyncio.run(everyone())
        assert all(codes == [Code.CREATED] * (1 + INTENTS_EACH) for codes in sessions), sessions
        accepted = 'paymote_messages_total{code="2.01",reason="accepted",resource="intent"}'
        expected = f"{accepted} {float(DEVICES * INTENTS_EACH)}"
        deadline = time.monotonic() + 5
        while expected not in (text := _metrics(metrics_port)) and time.monotonic() < deadline:
            time.sleep(0.2)  # workers send their counts every second
        assert expected in text
        assert f"paymote_ledger_entries {float(DEVICES * INTENTS_EACH)}" in text
        # Each process's pauses, by where they were: the writer's own, the two workers' summed.
        for role in ("writer", "worker"):
            for cause in ("loop", "gc"):
                assert f'paymote_pause_seconds_count{{cause="{cause}",process="{role}"}}' in text
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        assert _wait_gone(workers)
    finally:
        process.kill()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    with Store(tmp_path, readonly=True) as store:
        assert store.entry_count() == DEVICES * INTENTS_EACH
    assert main(["ledger", "verify", "--data", str(tmp_path)]) == 0


def test_workers_die_with_their_writer_and_a_dead_worker_stops_the_gateway(tmp_path):
    """SIGKILL the writer: its workers are gone within seconds (nothing keeps
    taking the port's traffic). Kill one worker: the writer stops everything
    and exits 1, so systemd's Restart=on-failure restarts the whole gateway."""
    port = free_udp_port()
    process, ready = _start(tmp_path, port)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert _wait_gone(ready["workers"])

    process, ready = _start(tmp_path, port)
    try:
        os.kill(ready["workers"][0], signal.SIGKILL)
        assert process.wait(20) == 1
        assert _wait_gone(ready["workers"])
    finally:
        process.kill()
