"""The datagram fast path: it parses exactly the plain CON POSTs aiocoap would
route to /i and /b, encodes answers aiocoap decodes to the same response,
answers retransmissions from its cache, and leaves everything else to aiocoap."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket

import aiocoap
from aiocoap.numbers.codes import Code
from hypothesis import given, settings
from hypothesis import strategies as st

from paymote.crypto import cbor, cose
from paymote.gateway import fastpath, responses
from paymote.gateway.outcomes import Accepted, Busy, Conflict, Duplicate, RateLimited, Refused, Stale
from paymote.gateway.store import Store
from tests.gateway_helpers import Device, running_gateway

_tokens = st.binary(max_size=8)
_paths = st.lists(st.text(alphabet="abi", min_size=0, max_size=3), min_size=0, max_size=3)


def _encoded(
    mid: int, token: bytes, path: list[str], payload: bytes, code=aiocoap.POST, mtype=aiocoap.CON, **options
) -> bytes:
    message = aiocoap.Message(code=code, payload=payload)
    message.mtype, message.mid, message.token = mtype, mid, token
    message.opt.uri_path = path
    for name, value in options.items():
        setattr(message.opt, name, value)
    return message.encode()


@settings(max_examples=300)
@given(
    st.integers(0, 0xFFFF),
    _tokens,
    _paths,
    st.binary(max_size=200),
    st.none() | st.sampled_from([18, 60, 0]),
    st.none() | st.sampled_from(["gw.example", "10.0.0.1"]),
)
def test_plain_posts_parse_as_aiocoap_reads_them(mid, token, path, payload, content_format, host):
    """For every CON POST with the options the fast path knows, it reads the
    same Message ID, token, one-segment path and payload as aiocoap; other
    path shapes are left to aiocoap."""
    datagram = _encoded(mid, token, path, payload, content_format=content_format, uri_host=host)
    parsed = fastpath.parse_plain_post(datagram)
    if len(path) != 1:
        assert parsed is None
        return
    assert parsed is not None
    reference = aiocoap.Message.decode(datagram)
    assert parsed.mid == reference.mid.to_bytes(2, "big")
    assert parsed.token == reference.token
    assert [parsed.path.decode()] == list(reference.opt.uri_path)
    assert parsed.payload == reference.payload


@settings(max_examples=100)
@given(_tokens, st.binary(min_size=1, max_size=40))
def test_requests_the_fast_path_does_not_know_go_to_aiocoap(token, payload):
    """Block1, Uri-Query, Observe, a GET, a NON and an ACK are all left to aiocoap."""
    block = _encoded(
        1, token, ["b"], payload, block1=aiocoap.optiontypes.BlockOption.BlockwiseTuple(0, True, 2)
    )
    query = _encoded(1, token, ["i"], payload, uri_query=["x=1"])
    get = _encoded(1, token, ["i"], b"", code=aiocoap.GET)
    non = _encoded(1, token, ["i"], payload, mtype=aiocoap.NON)
    ack = _encoded(1, token, ["i"], payload, mtype=aiocoap.ACK)
    for datagram in (block, query, get, non, ack):
        assert fastpath.parse_plain_post(datagram) is None


@given(st.binary(max_size=80))
def test_any_bytes_parse_or_are_left_without_raising(data):
    """Hostile bytes never raise out of the parser."""
    request = fastpath.parse_plain_post(data)
    assert request is None or len(request.token) <= 8


_outcomes = st.one_of(
    st.builds(Accepted, st.binary(min_size=1, max_size=220)),
    st.builds(Duplicate, st.binary(min_size=1, max_size=220)),
    st.builds(Refused, st.text(max_size=120)),
    st.builds(Conflict, st.text(max_size=40)),
    st.builds(Stale, st.text(max_size=40)),
    st.builds(RateLimited, st.integers(1, 2**32 - 1)),
    st.builds(Busy, st.integers(1, 600)),
)


@settings(max_examples=200)
@given(st.integers(0, 0xFFFF), _tokens, _outcomes)
def test_answers_decode_in_aiocoap_as_the_same_response(mid, token, outcome):
    """Code, Content-Format, Max-Age and payload survive the fast encoder."""
    request = fastpath.Request(mid.to_bytes(2, "big"), token, b"i", b"")
    response = responses.for_outcome(outcome)
    decoded = aiocoap.Message.decode(fastpath.encode_ack(request, response))
    assert decoded.mtype == aiocoap.ACK and decoded.mid == mid and decoded.token == token
    assert decoded.code == response.code
    assert decoded.opt.content_format == response.opt.content_format
    assert decoded.opt.max_age == response.opt.max_age
    assert decoded.payload == response.payload


def test_too_large_answer_carries_size1():
    """4.13 keeps its Size1 option (RFC 7959 §2.9.3) on the fast path."""
    request = fastpath.Request(b"\x00\x01", b"t", b"b", b"")
    decoded = aiocoap.Message.decode(fastpath.encode_ack(request, responses.too_large(5000)))
    assert decoded.code == Code.REQUEST_ENTITY_TOO_LARGE and decoded.opt.size1 == 5000


class _Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answers: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr) -> None:
        self.answers.put_nowait(data)


async def test_a_retransmission_gets_the_same_answer_and_one_entry(tmp_path, caplog):
    """The same datagram three times: three byte-identical 2.01 answers from the
    fast path, one ledger entry. A request with an option the fast path does
    not know (Uri-Query) is answered by aiocoap, just as correctly."""
    caplog.set_level(logging.INFO, logger="paymote.gateway")
    device = Device(61)
    device.register(tmp_path)
    async with running_gateway(tmp_path) as gateway:
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_datagram_endpoint(
            _Client, remote_addr=("127.0.0.1", gateway.port), family=socket.AF_INET
        )
        datagram = _encoded(7, b"tok", ["i"], device.intent(amount_minor=5))
        answers = []
        for _ in range(3):
            transport.sendto(datagram)
            answers.append(await asyncio.wait_for(client.answers.get(), 5))
        queried = _encoded(8, b"tok2", ["i"], device.intent(amount_minor=6), uri_query=["x=1"])
        transport.sendto(queried)
        by_aiocoap = aiocoap.Message.decode(await asyncio.wait_for(client.answers.get(), 5))
        transport.close()
    assert answers[0] == answers[1] == answers[2]
    first = aiocoap.Message.decode(answers[0])
    assert first.code == Code.CREATED and first.token == b"tok" and first.mid == 7
    assert first.opt.content_format == cose.CONTENT_FORMAT_SIGN1
    assert by_aiocoap.code == Code.CREATED and by_aiocoap.token == b"tok2"
    told = [r for r in caplog.records if r.getMessage().startswith("intent 2.01 accepted")]
    assert len(told) == 2  # one a request: the two retransmissions came from the answer cache
    with Store(tmp_path, readonly=True) as store:
        assert [e.seq for e in store.entries()] == [1, 2]


async def test_batches_on_the_fast_path_keep_one_verdict_each(tmp_path):
    """A single-datagram POST /b: each intent its own verdict, in order."""
    device = Device(62)
    device.register(tmp_path)
    good, forged = device.intent(amount_minor=3), b"\xd2" + bytes(40)
    async with running_gateway(tmp_path) as gateway:
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_datagram_endpoint(
            _Client, remote_addr=("127.0.0.1", gateway.port), family=socket.AF_INET
        )
        transport.sendto(_encoded(9, b"b", ["b"], cbor.encode([good, forged]), content_format=60))
        answer = aiocoap.Message.decode(await asyncio.wait_for(client.answers.get(), 5))
        transport.close()
    assert answer.code == Code.CHANGED
    verdicts = cbor.decode(answer.payload)
    assert [v[0] for v in verdicts] == [int(Code.CREATED), int(Code.BAD_REQUEST)]


def test_the_answer_cache_is_bounded_in_entries_and_time():
    """Old answers leave by age and by count; none outlive exchange_lifetime_s.
    Its keys and values are bytes and floats, which the collector never walks."""
    now = [0.0]
    path = fastpath.FastPath(None, None, lifetime_s=10, answers_max=3, clock=lambda: now[0])  # type: ignore[arg-type]
    for i in range(5):
        key = fastpath._key(("::1", 5683, 0, 0), fastpath.Request(bytes([0, i]), b"", b"i", b""))
        path._forget_old(now[0])  # as _received does before it adds one
        path._expires_at[key], path._answers[key] = now[0] + 10, b"x"
    assert len(path._answers) == len(path._expires_at) == 3
    cached = [*path._expires_at.items(), *path._answers.items()]
    assert not any(gc.is_tracked(k) or gc.is_tracked(v) for k, v in cached)
    now[0] = 11.0
    path._forget_old(now[0])
    assert not path._answers and not path._expires_at


_addresses = st.tuples(
    st.sampled_from(["::1", "::ffff:127.0.0.1", "fe80::1", "2001:db8::2"]),
    st.integers(0, 65535),
    st.integers(0, 3),
    st.integers(0, 3),
)


@given(
    st.tuples(_addresses, st.binary(min_size=2, max_size=2), st.binary(max_size=8)),
    st.tuples(_addresses, st.binary(min_size=2, max_size=2), st.binary(max_size=8)),
)
def test_requests_share_a_cache_key_only_when_endpoint_id_and_token_all_agree(a, b):
    """RFC 7252 §4.5: a duplicate is the same endpoint and Message ID (and here
    token); the bytes key tells any two others apart, however the token's and
    the address's bytes line up."""
    key_a = fastpath._key(a[0], fastpath.Request(a[1], a[2], b"i", b""))
    key_b = fastpath._key(b[0], fastpath.Request(b[1], b[2], b"i", b""))
    assert (key_a == key_b) == (a == b)


async def test_one_wakeup_reads_the_waiting_datagrams_up_to_the_bound():
    """40 datagrams waiting on aiocoap's own recvmsg transport, drained: all
    40 arrive, in order, in three reader calls (16 + 16 + 8) instead of 40."""
    from aiocoap.util.asyncio.recvmsg import RecvmsgDatagramProtocol, create_recvmsg_datagram_endpoint

    class Recorder(RecvmsgDatagramProtocol):
        def __init__(self) -> None:
            self.received: list[bytes] = []

        def datagram_msg_received(self, data, ancdata, flags, address):
            self.received.append(data)

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    transport, protocol = await create_recvmsg_datagram_endpoint(asyncio.get_running_loop(), Recorder, sock)
    fastpath._drain_on_each_wakeup(transport, protocol)
    drained, calls = transport._read_ready, []
    transport._read_ready = lambda: (calls.append(1), drained())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for i in range(40):  # all sent before the loop runs the reader once
            sender.sendto(b"%d" % i, sock.getsockname())
        for _ in range(200):
            if len(protocol.received) == 40:
                break
            await asyncio.sleep(0.01)
    transport.close()
    assert protocol.received == [b"%d" % i for i in range(40)]
    assert len(calls) == 3 and fastpath.DATAGRAMS_PER_WAKEUP_MAX == 16
