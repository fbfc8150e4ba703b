"""A test device that signs properly chained intents, and a gateway on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiocoap

from paymote.crypto import cose, messages
from paymote.gateway import service, store
from paymote.gateway.config import Config
from paymote.simulator.adversary import SigningDevice
from paymote.simulator.fleet import free_udp_port  # noqa: F401 - the tests' import of it


def raw_sql(data_dir: Path, statement: str, *params: object) -> None:
    """statement (with ? placeholders) on data_dir's ledger, behind the
    gateway's back: how the tests tamper with history on either engine. It
    goes to the engine directly, outside any Store transaction, so it stands
    alone and commits at once."""
    with store.Store(data_dir) as ledger:
        ledger._db.execute(statement, params)  # noqa: SLF001 - raw SQL is the point


class Device(SigningDevice):
    """The simulator's signing device, with the other messages tests need."""

    def attestation(self, nonce: bytes, bootcount: int = 1, ueid: bytes | None = None) -> bytes:
        payload = messages.attestation_payload(
            ueid=ueid or messages.ueid_for(self.key.public),
            nonce=nonce,
            iat=1764374400,
            measurement=bytes(range(32)),
            swname="paymote-fw",
            swversion="0.1.0",
            bootcount=bootcount,
            dbgstat=2,
            location=messages.location(523712345, 48958123),
        )
        return cose.sign1(payload, self.key, self.kid)

    def reading_batch(self, seq: int, values: list[int]) -> bytes:
        records = [
            {
                messages.SENML_BASE_NAME: "m1:",
                messages.SENML_NAME: "energy",
                messages.SENML_UNIT: "Wh",
                messages.SENML_VALUE: values[0],
            },
            *[messages.senml("energy", "Wh", v, 60 * i) for i, v in enumerate(values[1:], 1)],
        ]
        payload = messages.reading_batch_payload(seq=seq, time_s=1764374400, records=records)
        return cose.sign1(payload, self.key, self.kid)


def start_gateway_process(
    data_dir: Path, port: int, env: dict | None = None, extra: tuple[str, ...] = ()
) -> subprocess.Popen:
    """`paymote gateway run` in its own process, returned once it said ready;
    extra are more arguments (`--workers 2`)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "paymote.gateway.cli",
            "gateway",
            "run",
            "--data",
            str(data_dir),
            "--bind",
            f"127.0.0.1:{port}",
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    line = process.stdout.readline()
    assert b'"ready"' in line, line
    return process


class Gateway:
    """A running in-process gateway and a client to talk to it."""

    def __init__(self, data_dir: Path, port: int, client: aiocoap.Context) -> None:
        self.data_dir = data_dir
        self.port = port
        self.client = client

    async def post(self, path: str, payload: bytes) -> aiocoap.Message:
        request = aiocoap.Message(
            code=aiocoap.POST, uri=f"coap://127.0.0.1:{self.port}/{path}", payload=payload
        )
        return await self.client.request(request).response

    async def get(self, path: str) -> aiocoap.Message:
        request = aiocoap.Message(code=aiocoap.GET, uri=f"coap://127.0.0.1:{self.port}/{path}")
        return await self.client.request(request).response


@contextlib.asynccontextmanager
async def running_gateway(
    data_dir: Path, clock=time.time, port: int | None = None, **config_fields
) -> AsyncIterator[Gateway]:
    """A gateway serving on loopback (a free port unless given); config_fields set Config fields."""
    port = port or free_udp_port()
    stop, ready = asyncio.Event(), asyncio.Event()
    config = Config(data=data_dir, bind=f"127.0.0.1:{port}", **config_fields)
    task = asyncio.create_task(service.serve(config, clock=clock, stop=stop, ready=ready))
    await asyncio.wait_for(ready.wait(), 10)
    client = await aiocoap.Context.create_client_context()
    try:
        yield Gateway(data_dir, port, client)
    finally:
        await client.shutdown()
        stop.set()
        await task
