"""A small CoAP load generator: raw CON requests over UDP (RFC 7252 §3),
a window of outstanding requests, each device strictly in order (as boards
send), retransmission on timeout. No aiocoap on the client side, so it can
drive an aiocoap server harder than an aiocoap client would.

Devices are spread over SOCKETS source ports, as a fleet comes from many
addresses: a gateway with several processes on one port (SO_REUSEPORT)
gets its share per process by source address, and each socket's Message
IDs stay far from wrapping within a server's deduplication lifetime."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

CON, ACK = 0, 2
POST, GET = 0x02, 0x01
OPTION_URI_PATH, OPTION_CONTENT_FORMAT = 11, 12
RETRANSMIT_AFTER_S = 2.0
RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
SOCKETS = 64


def request(mid: int, token: bytes, path: str, payload: bytes, content_format: int) -> bytes:
    """A CON POST with one Uri-Path segment and a Content-Format (RFC 7252 §3, §5.10)."""
    path_bytes = path.encode()
    assert len(path_bytes) < 13 and content_format < 256
    header = bytes([0x40 | (CON << 4) | len(token), POST]) + mid.to_bytes(2, "big") + token
    uri = bytes([(OPTION_URI_PATH << 4) | len(path_bytes)]) + path_bytes
    fmt = bytes([((OPTION_CONTENT_FORMAT - OPTION_URI_PATH) << 4) | 1, content_format])
    return header + uri + fmt + b"\xff" + payload


def parse_response(data: bytes) -> tuple[int, int, int, bytes] | None:
    """(type, code, message id, token) of a response, piggybacked on an ACK or
    separate (a CON, RFC 7252 §5.2.2); None for empty ACKs and anything else."""
    if len(data) < 4 or data[0] >> 6 != 1 or data[1] < 64:  # version 1, a response code
        return None
    kind = (data[0] >> 4) & 3
    if kind not in (CON, ACK):
        return None
    tkl = data[0] & 0x0F
    return kind, data[1], int.from_bytes(data[2:4], "big"), bytes(data[4 : 4 + tkl])


def empty_ack(mid: int) -> bytes:
    """The ACK a client owes a separate (CON) response (RFC 7252 §4.2)."""
    return bytes([0x40 | (ACK << 4), 0]) + mid.to_bytes(2, "big")


@dataclass
class Result:
    sent: int = 0
    retransmitted: int = 0
    codes: dict[int, int] = field(default_factory=dict)
    latencies_s: list[float] = field(default_factory=list)
    answered_at_s: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0

    def count(self, code: int) -> int:
        return self.codes.get(code, 0)

    def percentile_ms(self, p: float) -> float:
        if not self.latencies_s:
            return float("nan")
        ordered = sorted(self.latencies_s)
        return 1000 * ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, on_answer) -> None:
        self._on_answer = on_answer
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        parsed = parse_response(data)
        if parsed:
            kind, code, mid, token = parsed
            if kind == CON and self.transport is not None:
                self.transport.sendto(empty_ack(mid))
            self._on_answer(code, mid, token)


async def _wait_for_a_slot(slot_free: asyncio.Event) -> None:
    """Until an answer frees a slot; a lost datagram is the retransmitter's job."""
    slot_free.clear()
    try:
        await asyncio.wait_for(slot_free.wait(), timeout=0.5)
    except asyncio.TimeoutError:
        pass


async def run(
    address: tuple[str, int],
    path: str,
    per_device: list[Iterator[bytes]],
    window: int,
    duration_s: float,
    content_format: int = 18,
    rate_per_s: float | None = None,
) -> Result:
    """Send each device's payloads (an iterator each) in order, at most
    `window` outstanding in all, for duration_s or until the iterators end.
    rate_per_s makes it open-loop at that rate (for latency at a given load)."""
    loop = asyncio.get_running_loop()
    result = Result()
    queues = deque(enumerate(per_device))
    outstanding: dict[bytes, tuple[int, bytes, float, int]] = {}  # token -> (device, datagram, sent, tries)
    mids = [itertools.count(1) for _ in range(SOCKETS)]
    tokens = itertools.count(1)
    slot_free = asyncio.Event()
    done = asyncio.Event()

    def on_answer(code: int, mid: int, token: bytes) -> None:
        entry = outstanding.pop(token, None)
        if entry is None:
            return
        device, _, sent_at, _ = entry
        now = time.perf_counter()
        result.codes[code] = result.codes.get(code, 0) + 1
        result.latencies_s.append(now - sent_at)
        result.answered_at_s.append(now)
        busy_devices.discard(device)
        slot_free.set()

    transports = []
    for _ in range(SOCKETS):
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(on_answer), remote_addr=address)
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)  # drop no answers here
        transports.append(transport)
    busy_devices: set[int] = set()
    start = time.perf_counter()
    deadline = start + duration_s

    async def retransmitter() -> None:
        while not done.is_set():
            await asyncio.sleep(0.25)
            now = time.perf_counter()
            for token, (device, datagram, sent_at, tries) in list(outstanding.items()):
                if now - sent_at > RETRANSMIT_AFTER_S * (2 ** (tries - 1)) and tries < 5:
                    outstanding[token] = (device, datagram, sent_at, tries + 1)
                    transports[device % SOCKETS].sendto(datagram)
                    result.retransmitted += 1

    retry = asyncio.create_task(retransmitter())
    interval = 1.0 / rate_per_s if rate_per_s else 0.0
    next_send = start
    try:
        while queues and time.perf_counter() < deadline:
            if len(outstanding) >= window:
                await _wait_for_a_slot(slot_free)
                continue
            device, pending = queues[0]
            queues.rotate(-1)
            if device in busy_devices:
                if len(busy_devices) >= len(queues):
                    await _wait_for_a_slot(slot_free)
                continue
            if rate_per_s:
                next_send += interval
                delay = next_send - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            payload = next(pending, None)
            if payload is None:
                queues.remove((device, pending))
                continue
            token = next(tokens).to_bytes(4, "big")
            datagram = request(next(mids[device % SOCKETS]) & 0xFFFF, token, path, payload, content_format)
            outstanding[token] = (device, datagram, time.perf_counter(), 1)
            busy_devices.add(device)
            transports[device % SOCKETS].sendto(datagram)
            result.sent += 1
            if not rate_per_s and result.sent % window == 0:
                await asyncio.sleep(0)  # let answers in
        drain_until = time.perf_counter() + 10
        while outstanding and time.perf_counter() < drain_until:
            await asyncio.sleep(0.01)
    finally:
        done.set()
        retry.cancel()
        result.elapsed_s = time.perf_counter() - start
        for transport in transports:
            transport.close()
    return result
