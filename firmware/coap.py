"""A small CoAP client for boards (RFC 7252), portable between MicroPython and
CPython: confirmable requests, retransmission with exponential backoff and
jitter (§4.8 defaults), token matching, separate responses (§5.2.2), message
ID deduplication, and the agent's rule for every gateway answer.

Blocking on a UDP socket with timeouts: the agent calls it from one task at a
time. The socket, clock and randomness are passed in, so the simulator and
the tests control them.
"""

import gc
import select

try:  # CPython, installed: one copy of each module
    from paymote.crypto._compat import const
except ImportError:  # on a board
    from crypto._compat import const

_VERSION = const(1)
CON = const(0)
_ACK = const(2)
_RST = const(3)
GET = const(1)
POST = const(2)
_OPTION_URI_PATH = const(11)
_OPTION_CONTENT_FORMAT = const(12)
_OPTION_MAX_AGE = const(14)
_TOKEN_BYTES = const(4)
MESSAGE_BYTES_MAX = const(1152)  # §4.6: fits an IPv6 minimum MTU with headers
_ANSWER_BYTES_MAX = const(256)  # a receipt (at most 192) with its header and options (203), or a diagnostic
# The largest answer a board asks for: the verdicts of a batch of 2 (firmware/agent.py), each
# a receipt of at most 192 bytes with its heads (416 B with the CoAP header, token, options).
LARGE_ANSWER_BYTES_MAX = const(448)
ACK_TIMEOUT_MS = const(2000)  # §4.8 defaults
_ACK_RANDOM_FACTOR_PERCENT = const(150)
MAX_RETRANSMIT = const(4)
_SEPARATE_WAIT_MS = const(60000)  # how long to wait for a separate response after an empty ACK

# What the agent does with each answer (issue: firmware agent, CoAP client).
DONE = "done"  # 2.xx (2.01 / 2.04 for a message): store the receipt, drop it from the outbox
WAIT = "wait"  # 4.29 / 5.03: wait Max-Age, then send again
STOP = "stop"  # 4.01 / 4.03: stop sending and report
DEAD_LETTER = "dead-letter"  # 4.00 / 4.09 / 4.13: move to the dead-letter file with the reason
RETRY = "retry"  # no answer, or another 5.xx: back off and send again later


class CoapError(ValueError):
    """Bytes that are not a well-formed CoAP message."""


class NoAnswerError(OSError):
    """No answer after every retransmission (§4.2)."""


def code(class_, detail):
    return (class_ << 5) | detail


def dotted(value):
    return "%d.%02d" % (value >> 5, value & 31)


def _extended(value):
    """(4-bit field, extension bytes) for an option delta or length (§3.1)."""
    if value < 13:
        return value, b""
    if value < 269:
        return 13, bytes([value - 13])
    return 14, (value - 269).to_bytes(2, "big")


def uint_option(value):
    """A uint option value in its shortest form (§3.2): 0 is the empty string."""
    length = 0
    while value >> (8 * length):
        length += 1
    return value.to_bytes(length, "big") if length else b""


def encode(type_, code_, mid, token, options=(), payload=b""):
    """A CoAP message. options: (number, value bytes) pairs, in any order."""
    if len(token) > 8:
        raise CoapError("token over 8 bytes")
    out = bytearray([(_VERSION << 6) | (type_ << 4) | len(token), code_])
    out.extend(mid.to_bytes(2, "big"))
    out.extend(token)
    previous = 0
    for number, value in sorted(options, key=lambda option: option[0]):
        delta, delta_ext = _extended(number - previous)
        length, length_ext = _extended(len(value))
        out.append((delta << 4) | length)
        out.extend(delta_ext)
        out.extend(length_ext)
        out.extend(value)
        previous = number
    if not payload:
        return bytes(out)
    out.append(0xFF)
    return bytes(out) + payload  # one allocation of the datagram's size, not a growing buffer


class Message:
    __slots__ = ("type", "code", "mid", "token", "options", "payload")

    def __init__(self, type_, code_, mid, token, options, payload):
        self.type = type_
        self.code = code_
        self.mid = mid
        self.token = token
        self.options = options  # list of (number, value bytes), in order
        self.payload = payload

    def option(self, number):
        return option(self.options, number)

    def uint(self, number, default=None):
        value = self.option(number)
        return default if value is None else int.from_bytes(value, "big")


def option(options, number):
    """The value of the first option numbered number, or None."""
    for n, value in options:
        if n == number:
            return value
    return None


def _read_extended(field, data, i):
    if field < 13:
        return field, i
    if field == 13:
        if i >= len(data):
            raise CoapError("truncated option")
        return data[i] + 13, i + 1
    if field == 14:
        if i + 2 > len(data):
            raise CoapError("truncated option")
        return int.from_bytes(data[i : i + 2], "big") + 269, i + 2
    raise CoapError("reserved option nibble 15")


def decode(data):
    """A Message from bytes; raises CoapError for anything malformed (§3)."""
    if len(data) < 4 or len(data) > MESSAGE_BYTES_MAX:
        raise CoapError("length %d" % len(data))
    if data[0] >> 6 != _VERSION:
        raise CoapError("version")
    tkl = data[0] & 0x0F
    if tkl > 8 or 4 + tkl > len(data):
        raise CoapError("token length")
    options = []
    number = 0
    i = 4 + tkl
    payload = b""
    while i < len(data):
        if data[i] == 0xFF:
            if i + 1 == len(data):
                raise CoapError("payload marker without payload")
            payload = bytes(data[i + 1 :])
            break
        head = data[i]
        delta, i = _read_extended(head >> 4, data, i + 1)
        length, i = _read_extended(head & 0x0F, data, i)
        if i + length > len(data):
            raise CoapError("truncated option value")
        number += delta
        options.append((number, bytes(data[i : i + length])))
        i += length
    return Message(
        (data[0] >> 4) & 3,
        data[1],
        int.from_bytes(data[2:4], "big"),
        bytes(data[4 : 4 + tkl]),
        options,
        payload,
    )


class Response:
    """A gateway's answer: its code, payload, Max-Age, options (for block-wise
    transfer, firmware/blockwise.py) and what the agent does."""

    __slots__ = ("code", "payload", "max_age_s", "action", "options")

    def __init__(self, code_, payload, max_age_s, options=()):
        self.code = code_
        self.payload = payload
        self.max_age_s = max_age_s
        self.action = action_for(code_)
        self.options = options


def action_for(code_):
    """The agent's rule for a response code."""
    if code_ >> 5 == 2:
        return DONE
    if code_ in (code(4, 29), code(5, 3)):
        return WAIT
    if code_ in (code(4, 1), code(4, 3)):
        return STOP
    if code_ in (code(4, 0), code(4, 9), code(4, 13)):
        return DEAD_LETTER
    return RETRY


_WAIT_SLICE_MS = const(2000)


class Client:
    """Confirmable requests to one gateway over a UDP socket.

    sock: a UDP socket (MicroPython or CPython); address: the gateway's
    (host, port) as sendto takes it; ticks_ms(): a millisecond clock;
    random_bytes(n): the port's randomness (tokens, first message ID, jitter);
    idle(): called at least every _WAIT_SLICE_MS while waiting for an answer
    (the board feeds its watchdog there: a last retransmission waits up to
    48 s, RP2040's watchdog at most 8.4 s).
    """

    def __init__(self, sock, address, ticks_ms, random_bytes, ack_timeout_ms=ACK_TIMEOUT_MS, idle=None):
        self._sock = sock
        self._idle = idle
        self._address = address
        self._ticks_ms = ticks_ms
        self._random_bytes = random_bytes
        self._ack_timeout_ms = ack_timeout_ms
        self._mid = int.from_bytes(random_bytes(2), "big")
        self._seen = []  # message IDs of separate responses already ACKed (bounded)
        self.retransmissions = 0
        # CPython receives into one buffer; MicroPython's UDP sockets offer only recvfrom
        # (readinto never returns a datagram there), which allocates its whole limit per
        # datagram, so there the client waits with poll (allocating nothing) and calls
        # recvfrom only for a datagram that is there. A large answer (a batch's verdicts,
        # up to LARGE_ANSWER_BYTES_MAX) needs that many contiguous bytes, which a fragmented
        # small heap may not have when it comes (measured: a 96 KB board with a queue
        # then failed every boot): _room holds such a block from one large answer to the
        # next, and gives it back just before recvfrom, or when any answer found no room.
        self._rx = bytearray(MESSAGE_BYTES_MAX) if hasattr(sock, "recv_into") else None
        self._room = None  # taken at the first request, after the boot's peak
        if self._rx is None:
            self._poll = select.poll()
            self._poll.register(sock, select.POLLIN)

    def _next_mid(self):
        self._mid = (self._mid + 1) & 0xFFFF
        return self._mid

    def _first_timeout_ms(self):
        # §4.2: a random duration between ACK_TIMEOUT and ACK_TIMEOUT * ACK_RANDOM_FACTOR.
        spread = self._ack_timeout_ms * (_ACK_RANDOM_FACTOR_PERCENT - 100) // 100
        return self._ack_timeout_ms + int.from_bytes(self._random_bytes(2), "big") * spread // 0xFFFF

    def request(
        self, method, path, payload=b"", content_format=None, answer_bytes_max=_ANSWER_BYTES_MAX, options=()
    ):
        """Send a CON request and return its Response; raises NoAnswerError when
        every retransmission went unanswered (the agent retries later).
        answer_bytes_max bounds the answer (MicroPython allocates that much per
        datagram received: keep it small unless a large answer is expected);
        options: more (number, value bytes) pairs (Block1, Block2, Size1)."""
        if self._rx is None and self._room is None:
            gc.collect()  # the boot's or the last large answer's garbage: a block is free
            self._room = bytearray(LARGE_ANSWER_BYTES_MAX)
        token = self._random_bytes(_TOKEN_BYTES)
        mid = self._next_mid()
        sent = [(_OPTION_URI_PATH, segment.encode()) for segment in path.split("/") if segment]
        sent.extend(options)  # () for most: nothing allocated
        if content_format is not None:
            sent.append((_OPTION_CONTENT_FORMAT, uint_option(content_format)))
        datagram = encode(CON, method, mid, token, sent, payload)
        timeout_ms = self._first_timeout_ms()
        for attempt in range(MAX_RETRANSMIT + 1):
            if attempt:
                self.retransmissions += 1
            self._send(datagram)
            answer = self._await(mid, token, timeout_ms, answer_bytes_max)
            if answer is not None:
                return answer
            timeout_ms *= 2  # §4.2: exponential back-off
        raise NoAnswerError("no answer from the gateway")

    def _await(self, mid, token, timeout_ms, answer_bytes_max):
        """The response to (mid, token), or None when timeout_ms passes without
        an ACK. After an empty ACK, waits for the separate response."""
        deadline = self._ticks_ms() + timeout_ms
        acknowledged = False
        while True:
            left = deadline - self._ticks_ms()
            if left <= 0:
                return None
            if self._idle is not None:
                self._idle()
            message = self._receive(left if left < _WAIT_SLICE_MS else _WAIT_SLICE_MS, answer_bytes_max)
            if message is None:
                continue
            if message.type == _ACK and message.mid == mid and message.code == 0 and not acknowledged:
                acknowledged = True  # §5.2.2: the response comes separately
                deadline = self._ticks_ms() + _SEPARATE_WAIT_MS
                continue
            if message.type == _RST and message.mid == mid:
                return Response(code(5, 0), b"reset", None)
            if message.code < 64 or message.token != token:
                if message.type == CON:
                    self._ack(message.mid)  # someone else's separate response: ACK, ignore
                continue
            if message.type == CON:
                self._ack(message.mid)
                if message.mid in self._seen:
                    continue  # a retransmitted separate response we already took
                self._remember(message.mid)
            elif message.type != _ACK or message.mid != mid:
                continue
            return Response(message.code, message.payload, message.uint(_OPTION_MAX_AGE, 60), message.options)

    def _receive(self, timeout_ms, bytes_max):
        try:
            if self._rx is None:
                data = self._receive_allocating(timeout_ms, bytes_max)
                if data is None:
                    return None
            else:
                self._sock.settimeout(timeout_ms / 1000)
                data = bytes(memoryview(self._rx)[: self._sock.recv_into(self._rx, bytes_max)])
            return decode(data)
        except OSError:  # a timeout (CPython), an ICMP error
            return None
        except CoapError:  # (one class per clause: a tuple of them is an allocation)
            return None
        except MemoryError:  # no room for it in a fragmented heap this moment: a lost datagram,
            self._room = None  # which §4.2's retransmission brings again, into the kept block
            gc.collect()
            return None

    def _receive_allocating(self, timeout_ms, bytes_max):
        """MicroPython: the next datagram, or None after timeout_ms."""
        for _ in self._poll.ipoll(timeout_ms):  # a datagram is there (or an error)
            break
        else:
            return None
        if bytes_max > _ANSWER_BYTES_MAX and self._room is not None:
            self._room = None
            gc.collect()  # the room's block is free: recvfrom's buffer fits there
        return self._sock.recvfrom(bytes_max)[0]

    def _ack(self, mid):
        self._send(encode(_ACK, 0, mid, b""))

    def _send(self, datagram):
        try:
            self._sock.sendto(datagram, self._address)
        except OSError:
            pass  # the network dropped (EHOSTUNREACH): as a lost datagram, §4.2's schedule goes on

    def _remember(self, mid):
        self._seen.append(mid)
        if len(self._seen) > 16:
            self._seen.pop(0)
