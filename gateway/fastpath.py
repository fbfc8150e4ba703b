"""The datagram fast path: POST /i and single-datagram POST /b answered
straight off the socket, before aiocoap builds its message, exchange and
routing objects for them.

Those two requests are nearly all of a gateway's traffic, and aiocoap's own
per-request work (a deepcopy of the request while routing, address objects,
the exchange state machine) costs about as much as verifying the message
(docs/performance.md). Everything else (GET /n, /t, /.well-known/core,
POST /a and /r, any Block1 upload, NON requests, any option this parser does
not know, anything malformed) goes on to aiocoap unchanged, so the fast path
only ever answers requests whose meaning is plain.

Deduplication (RFC 7252 §4.5): a retransmission (same endpoint, Message ID
and token) gets the first answer again from a cache bounded in both time
(exchange_lifetime_s) and entries, or is dropped while its first copy is
still being committed. Past that bound a duplicate reaches the pipeline
again, which §4.5 allows for a request "handled in an idempotent fashion":
the ledger answers 2.04 with the same receipt and writes nothing.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import aiocoap

from paymote.crypto import inbound
from paymote.crypto.errors import MessageError
from paymote.gateway import verdicts
from paymote.gateway.committer import outcome_of
from paymote.gateway.metrics import Metrics
from paymote.gateway.pipeline import BATCH_BYTES_MAX, Pipeline

# RFC 7252 §3 and §12.2
_VERSION_1 = 1
_TYPE_CON = 0
_TYPE_ACK = 2
_POST = 2
_URI_HOST, _URI_PORT, _URI_PATH, _CONTENT_FORMAT = 3, 7, 11, 12
_OPTION_MAX_AGE, _OPTION_SIZE1 = 14, 60
_KNOWN_OPTIONS = frozenset((_URI_HOST, _URI_PORT, _URI_PATH, _CONTENT_FORMAT))
_PAYLOAD_MARKER = 0xFF

ANSWERS_CACHED_MAX = 65536
"""Answers kept for retransmissions; the oldest go first past this bound."""

_IN_PROGRESS = b""  # no answer is empty


class Request:
    """The parts of a plain CON POST the fast path needs."""

    __slots__ = ("mid", "token", "path", "payload")

    def __init__(self, mid: bytes, token: bytes, path: bytes, payload: bytes) -> None:
        self.mid = mid
        self.token = token
        self.path = path
        self.payload = payload


def _extended(data: bytes, at: int, nibble: int) -> tuple[int, int]:
    """An option delta or length (RFC 7252 §3.1) and the position after it."""
    if nibble < 13:
        return nibble, at
    if nibble == 13:
        return data[at] + 13, at + 1
    if nibble == 14:
        return int.from_bytes(data[at : at + 2], "big") + 269, at + 2
    raise ValueError("reserved option nibble")


def parse_plain_post(data: bytes) -> Request | None:
    """A CON POST whose options are only Uri-Host, Uri-Port, Uri-Path and
    Content-Format, with a one-segment path; None for anything else (aiocoap
    then decides, including how to refuse it)."""
    if len(data) < 4 or data[0] >> 6 != _VERSION_1 or (data[0] >> 4) & 3 != _TYPE_CON or data[1] != _POST:
        return None
    token_length = data[0] & 0x0F
    if token_length > 8:
        return None
    at = 4 + token_length
    token = data[4:at]
    number = 0
    path: list[bytes] = []
    try:
        while at < len(data) and data[at] != _PAYLOAD_MARKER:
            head = data[at]
            delta, at = _extended(data, at + 1, head >> 4)
            length, at = _extended(data, at, head & 0x0F)
            number += delta
            if number not in _KNOWN_OPTIONS or at + length > len(data):
                return None
            if number == _URI_PATH:
                path.append(data[at : at + length])
            at += length
    except (ValueError, IndexError):
        return None
    if len(path) != 1:
        return None
    if at < len(data):  # the payload marker
        at += 1
        if at == len(data):  # §3: a marker with no payload is a format error
            return None
    return Request(data[2:4], token, path[0], data[at:])


def _option(number: int, last: int, value: bytes) -> bytes:
    """One option (delta from the last number; both below 269 and values
    under 13 bytes, which is all the fast path's answers carry)."""
    delta = number - last
    if delta < 13:
        return bytes([(delta << 4) | len(value)]) + value
    return bytes([0xD0 | len(value), delta - 13]) + value


def _uint(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def encode_ack(request: Request, response: aiocoap.Message) -> bytes:
    """A piggybacked response (RFC 7252 §5.2.1) with the code, Content-Format,
    Max-Age, Size1 and payload of an answer built by responses.py."""
    out = bytearray(((_VERSION_1 << 6) | (_TYPE_ACK << 4) | len(request.token), int(response.code)))
    out += request.mid + request.token
    last = 0
    for number, value in (
        (_CONTENT_FORMAT, response.opt.content_format),
        (_OPTION_MAX_AGE, response.opt.max_age),
        (_OPTION_SIZE1, response.opt.size1),
    ):
        if value is not None:
            out += _option(number, last, _uint(value))
            last = number
    if response.payload:
        out.append(_PAYLOAD_MARKER)
        out += response.payload
    return bytes(out)


def _key(address: Any, request: Request) -> bytes:
    """The deduplication key of a request (RFC 7252 §4.5: endpoint and
    Message ID; the token too, so a reused ID with a new token is new), as
    bytes: the Message ID's two, the token behind its length, the address."""
    return b"%b%c%b%a" % (request.mid, len(request.token), request.token, address)


class FastPath:
    """Installed in front of aiocoap's UDP transport (install())."""

    def __init__(
        self,
        pipeline: Pipeline,
        metrics: Metrics,
        lifetime_s: float,
        answers_max: int = ANSWERS_CACHED_MAX,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pipeline = pipeline
        self._metrics = metrics
        self._lifetime_s = lifetime_s
        self._answers_max = answers_max
        self._clock = clock
        # Two maps on one key (_key: endpoint, Message ID, token), oldest first, of
        # bytes and floats only: objects the collector does not track. As a tuple
        # each a key and its (expires_at, answer) were, its 65,536 entries kept
        # ~200,000 tuples in the young generation for every collection to walk.
        self._expires_at: OrderedDict[bytes, float] = OrderedDict()
        self._answers: dict[bytes, bytes] = {}  # the answer datagram, or _IN_PROGRESS
        self._transport: Any = None
        self._onward: Callable[..., None] | None = None

    def install(self, context: aiocoap.Context) -> None:
        """Wrap the datagram callback of the context's UDP transport."""
        from aiocoap.transports.udp6 import MessageInterfaceUDP6

        for interface in context.request_interfaces:
            messages_ = getattr(getattr(interface, "token_interface", None), "message_interface", None)
            if isinstance(messages_, MessageInterfaceUDP6):
                self._transport = messages_
                self._onward = messages_.datagram_msg_received
                messages_.datagram_msg_received = self._received  # type: ignore[method-assign]
                _drain_on_each_wakeup(messages_.transport, messages_)
                return
        raise RuntimeError("the CoAP context has no UDP transport")

    def stop_reading(self) -> None:
        """Read no more datagrams (the kernel keeps what arrives, and drops it
        when the socket closes: a board resends it to the next run); answers to
        what was read still go out until the context shuts down. The loop's
        remove_reader, not the transport's pause_reading: Python 3.10's
        datagram transports have none."""
        udp = self._transport.transport
        asyncio.get_running_loop().remove_reader(udp.get_extra_info("socket").fileno())

    def _received(self, data: bytes, ancdata: list, flags: int, address: Any) -> None:
        request = parse_plain_post(data)
        if request is None or request.path not in (b"i", b"b"):
            assert self._onward is not None
            self._onward(data, ancdata, flags, address)
            return
        now = self._clock()
        key = _key(address, request)
        expires_at = self._expires_at.get(key)
        if expires_at is not None and expires_at > now:
            answer = self._answers[key]
            if answer:
                self._send(answer, ancdata, address)
            return
        if expires_at is not None:
            del self._expires_at[key], self._answers[key]
        self._forget_old(now)
        self._expires_at[key] = now + self._lifetime_s
        self._answers[key] = _IN_PROGRESS
        if request.path == b"i":
            self._intent(request, key, ancdata, address)
        else:
            self._batch(request, key, ancdata, address)

    def _forget_old(self, now: float) -> None:
        expires_at = self._expires_at
        while expires_at and (len(expires_at) >= self._answers_max or next(iter(expires_at.values())) <= now):
            del self._answers[expires_at.popitem(last=False)[0]]

    def _intent(self, request: Request, key: bytes, ancdata: list, address: Any) -> None:
        metrics = self._metrics
        try:
            started = self._pipeline.start(inbound.KIND_INTENT, request.payload)
        except MessageError as error:
            self._answer(request, key, ancdata, address, verdicts.one(metrics, "intent", error, address))
            return
        if not isinstance(started, asyncio.Future):
            self._answer(request, key, ancdata, address, verdicts.one(metrics, "intent", started, address))
            return

        def done(future: asyncio.Future) -> None:
            answer = verdicts.one(metrics, "intent", outcome_of(future), address)
            self._answer(request, key, ancdata, address, answer)

        started.add_done_callback(done)

    def _batch(self, request: Request, key: bytes, ancdata: list, address: Any) -> None:
        metrics = self._metrics
        if len(request.payload) > BATCH_BYTES_MAX:
            answer = verdicts.too_large(metrics, "batch", BATCH_BYTES_MAX, address)
            self._answer(request, key, ancdata, address, answer)
            return
        try:
            started = self._pipeline.start_batch(request.payload)
        except MessageError as error:  # the batch as a whole: counted once
            self._answer(request, key, ancdata, address, verdicts.one(metrics, "batch", error, address))
            return
        waiting = [s for s in started if isinstance(s, asyncio.Future)]
        if not waiting:
            answer = verdicts.batch(metrics, started, address)  # type: ignore[arg-type]
            self._answer(request, key, ancdata, address, answer)
            return
        left = [len(waiting)]

        def done(_future: asyncio.Future) -> None:
            left[0] -= 1
            if left[0]:
                return
            # Every item's verdict once all are settled; a failed commit is that item's 5.00 alone.
            settled = [outcome_of(s) if isinstance(s, asyncio.Future) else s for s in started]
            self._answer(request, key, ancdata, address, verdicts.batch(metrics, settled, address))

        for future in waiting:
            future.add_done_callback(done)

    def _answer(
        self, request: Request, key: bytes, ancdata: list, address: Any, response: aiocoap.Message
    ) -> None:
        datagram = encode_ack(request, response)
        if key in self._answers:
            self._answers[key] = datagram
        self._send(datagram, ancdata, address)

    def _send(self, datagram: bytes, ancdata: list, address: Any) -> None:
        # Answer from the address the request came to (aiocoap does the same
        # with IPV6_PKTINFO), which matters where the socket is bound to "::".
        reply = [
            item for item in ancdata if item[0] == socket.IPPROTO_IPV6 and item[1] == socket.IPV6_PKTINFO
        ]
        udp = self._transport.transport
        if udp is None:  # shut down: the ledger has it, and the board's resend gets 2.04
            return
        udp.sendmsg(datagram, reply, 0, address)


DATAGRAMS_PER_WAKEUP_MAX = 16
"""Datagrams read in one turn of the event loop; the bound keeps one busy
socket from holding the loop (the writer's answers wait on it) longer than
a few milliseconds."""


def _drain_on_each_wakeup(transport: Any, protocol: Any) -> None:
    """aiocoap's recvmsg transport reads one datagram per readiness event,
    each time after a recvmsg on the error queue (the ICMP errors aiocoap
    reports per peer) that is nearly always empty and raises BlockingIOError: under
    load that is an epoll round, a callback and two system calls per
    datagram. After its own read (error queue included, so ICMP errors still
    arrive once per wakeup), this reads on until the socket is empty or
    DATAGRAMS_PER_WAKEUP_MAX datagrams are in."""
    sock = transport.get_extra_info("socket")
    read_once = transport._read_ready  # noqa: SLF001 - aiocoap's own read, kept as the first

    def read_ready() -> None:
        read_once()
        for _ in range(DATAGRAMS_PER_WAKEUP_MAX - 1):
            try:
                data, ancdata, flags, address = sock.recvmsg(transport.max_size, 1024)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                protocol.error_received(exc)
                return
            protocol.datagram_msg_received(data, ancdata, flags, address)

    transport._read_ready = read_ready  # noqa: SLF001 - the loop's reader calls it by this name
