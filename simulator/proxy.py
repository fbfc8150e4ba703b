"""A faulty network between the boards and the gateway: a UDP proxy on
loopback that loses, duplicates, reorders, delays and corrupts datagrams at
rates drawn from one seed, and watches the CoAP exchanges that pass
(RFC 7252 §3 header, tokens, codes) to count retransmissions, answers by
code and reason, and acknowledgement latency.

Each board gets its own upstream socket, so the gateway sees one source
address per board, as it would in the field. Every fault decision comes
from one random.Random(seed) in the order datagrams arrive; the order
itself depends on the processes' timing, so a seed replays the same fault
sequence, not the same interleaving.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field

import cbor2

from paymote.firmware import coap

_URI_PATH = 11  # RFC 7252 §5.10
_DELAY_S_MAX = 0.5  # a delayed or held-back datagram waits at most this long


@dataclass(frozen=True)
class Faults:
    """Rates from 0 to 1, each drawn per datagram in both directions."""

    loss: float = 0.0
    dup: float = 0.0
    reorder: float = 0.0
    delay: float = 0.0
    corrupt: float = 0.0

    def __post_init__(self) -> None:
        for name in ("loss", "dup", "reorder", "delay", "corrupt"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"--{name} must be between 0 and 1")


@dataclass
class LinkStats:
    """What the link saw and did."""

    datagrams: int = 0
    bytes: int = 0  # the datagrams' CoAP bytes, both ways, before any fault
    faults: Counter = field(default_factory=Counter)  # lost, duplicated, reordered, delayed, corrupted
    requests: Counter = field(default_factory=Counter)  # by Uri-Path, first transmissions
    retransmissions: int = 0
    answers: Counter = field(default_factory=Counter)  # "2.01", "4.09 seq N does not chain...", ...
    latency_ms: list[float] = field(default_factory=list)  # first send -> first answer delivered


def reason_key(code: int, detail: bytes | str) -> str:
    """An answer's code and its diagnostic with the numbers taken out, so
    like refusals count together."""
    if code >> 5 == 2:
        return coap.dotted(code)
    text = detail if isinstance(detail, str) else detail.decode(errors="replace")
    return f"{coap.dotted(code)} {re.sub(r'[0-9a-f]{16}|[0-9]+', 'N', text)[:60]}".strip()


class _Exchange:
    __slots__ = ("path", "first_s", "answered")

    def __init__(self, path: str, first_s: float) -> None:
        self.path = path
        self.first_s = first_s
        self.answered = False


class FaultyLink:
    """Boards send to `port`; the link forwards to the gateway at upstream."""

    def __init__(self, upstream: tuple[str, int], faults: Faults, seed: int) -> None:
        self.upstream = upstream
        self.faults = faults
        self.stats = LinkStats()
        self._random = random.Random(seed)
        self._front: asyncio.DatagramTransport | None = None
        self._backs: dict[tuple, asyncio.DatagramTransport] = {}
        self._held: dict[int, tuple] = {}  # direction -> a datagram held back for reordering
        self._exchanges: dict[tuple, _Exchange] = {}  # (board, token) -> exchange
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        self._front, _ = await loop.create_datagram_endpoint(
            lambda: _Endpoint(self._from_board), local_addr=(host, port)
        )
        self.port = self._front.get_extra_info("sockname")[1]
        return self.port

    def close(self) -> None:
        for transport in [*self._backs.values(), self._front]:
            if transport is not None:
                transport.close()

    async def _back(self, board: tuple) -> asyncio.DatagramTransport:
        if board not in self._backs:
            loop = asyncio.get_running_loop()
            self._backs[board], _ = await loop.create_datagram_endpoint(
                lambda: _Endpoint(lambda data, _addr: self._from_gateway(board, data)),
                remote_addr=self.upstream,
            )
        return self._backs[board]

    def _from_board(self, data: bytes, board: tuple) -> None:
        self._observe_request(board, data)
        asyncio.ensure_future(self._forward_up(board, data))

    async def _forward_up(self, board: tuple, data: bytes) -> None:
        back = await self._back(board)
        self._inject(0, data, lambda d: back.sendto(d))

    def _from_gateway(self, board: tuple, data: bytes) -> None:
        front = self._front
        assert front is not None

        def deliver(d: bytes) -> None:
            self._observe_answer(board, d)
            front.sendto(d, board)

        self._inject(1, data, deliver)

    def _inject(self, direction: int, data: bytes, send) -> None:
        """Apply the faults to one datagram travelling one way."""
        self.stats.datagrams += 1
        self.stats.bytes += len(data)
        r, f = self._random, self.faults
        if r.random() < f.loss:
            self.stats.faults["lost"] += 1
            return
        if r.random() < f.corrupt:
            self.stats.faults["corrupted"] += 1
            spoiled = bytearray(data)
            spoiled[r.randrange(len(spoiled))] ^= 1 << r.randrange(8)
            data = bytes(spoiled)
        copies = 2 if r.random() < f.dup else 1
        if copies == 2:
            self.stats.faults["duplicated"] += 1
        loop = asyncio.get_running_loop()
        if r.random() < f.reorder and direction not in self._held:
            self.stats.faults["reordered"] += 1
            self._held[direction] = (data, copies, send)  # goes after the next one, or at the deadline
            loop.call_later(_DELAY_S_MAX, self._release, direction, data)
            return
        delay_s = r.random() * _DELAY_S_MAX if r.random() < f.delay else 0.0
        if delay_s:
            self.stats.faults["delayed"] += 1
        for _ in range(copies):
            if delay_s:
                loop.call_later(delay_s, send, data)
            else:
                send(data)
        held = self._held.pop(direction, None)
        if held is not None:
            for _ in range(held[1]):
                held[2](held[0])

    def _release(self, direction: int, data: bytes) -> None:
        held = self._held.get(direction)
        if held is not None and held[0] is data:
            del self._held[direction]
            for _ in range(held[1]):
                held[2](held[0])

    def _observe_request(self, board: tuple, data: bytes) -> None:
        message = _decoded(data)
        if message is None or message.type != coap.CON or not 1 <= message.code <= 31:
            return
        key = (board, message.token)
        if key in self._exchanges:
            self.stats.retransmissions += 1
            return
        path = "/".join(v.decode(errors="replace") for n, v in message.options if n == _URI_PATH)
        self.stats.requests[path] += 1
        self._exchanges[key] = _Exchange(path, time.monotonic())
        if len(self._exchanges) > 100_000:  # bounded: forget the oldest half
            for stale in list(self._exchanges)[:50_000]:
                del self._exchanges[stale]

    def _observe_answer(self, board: tuple, data: bytes) -> None:
        message = _decoded(data)
        if message is None or message.code < 64:
            return  # not CoAP (corrupted, say), or an empty ACK
        exchange = self._exchanges.get((board, message.token))
        if exchange is None or exchange.answered:
            return
        exchange.answered = True
        self.stats.latency_ms.append((time.monotonic() - exchange.first_s) * 1000)
        code, payload = message.code, message.payload
        if exchange.path == "b" and code >> 5 == 2:
            try:
                for verdict in cbor2.loads(payload):
                    self.stats.answers["/b " + reason_key(verdict[0], verdict[1])] += 1
            except Exception:  # noqa: BLE001 - a corrupted answer: the board will drop it too
                self.stats.answers["corrupted batch answer"] += 1
            return
        if exchange.path in ("i", "r", "a") or code >> 5 != 2:
            self.stats.answers[f"/{exchange.path} " + reason_key(code, payload)] += 1


def _decoded(data: bytes) -> coap.Message | None:
    """The board's own strict decoder (RFC 7252 §3); None for what it refuses.
    The link only observes: it forwards every datagram whatever this says."""
    try:
        return coap.decode(data)
    except coap.CoapError:
        return None


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, received) -> None:
        self._received = received

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self._received(data, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP port unreachable while the gateway restarts: the board retransmits
