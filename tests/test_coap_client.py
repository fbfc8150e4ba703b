"""firmware/coap.py: the board's CoAP client, against the real gateway, a lossy
peer, a slow server, and on the real MicroPython interpreter."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import threading
import time

import aiocoap
import pytest
from aiocoap import resource
from hypothesis import given, settings
from hypothesis import strategies as st

from paymote.crypto import inbound
from paymote.firmware import coap
from paymote.gateway import authenticate, keys
from tests.conftest import MPY_SCRIPTS, run_micropython
from tests.gateway_helpers import Device, free_udp_port, running_gateway


def _ticks_ms() -> int:
    return time.monotonic_ns() // 1_000_000


def _client(port: int, ack_timeout_ms: int = coap.ACK_TIMEOUT_MS, host: str = "127.0.0.1"):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    return coap.Client(sock, (host, port), _ticks_ms, os.urandom, ack_timeout_ms), sock


options_strategy = st.lists(st.tuples(st.integers(1, 2000), st.binary(max_size=300)), max_size=6)


@settings(max_examples=300)
@given(
    st.integers(0, 3),
    st.integers(0, 255),
    st.integers(0, 0xFFFF),
    st.binary(max_size=8),
    options_strategy,
    st.binary(max_size=200),
)
def test_encode_decode_round_trip(type_, code, mid, token, options, payload):
    """Every message encodes and decodes back, options in number order (RFC 7252 §3.1)."""
    data = coap.encode(type_, code, mid, token, options, payload)
    message = coap.decode(data) if len(data) <= coap.MESSAGE_BYTES_MAX else None
    if message is None:
        return
    assert (message.type, message.code, message.mid, message.token, message.payload) == (
        type_,
        code,
        mid,
        token,
        payload,
    )
    assert message.options == sorted(options, key=lambda option: option[0])


@settings(max_examples=500)
@given(st.binary(max_size=80))
def test_random_bytes_raise_only_coap_errors(data):
    """Hostile datagrams decode or raise CoapError, nothing else."""
    try:
        coap.decode(data)
    except coap.CoapError:
        pass


def test_known_encoding():
    """A CON POST to /i with Content-Format 18, byte for byte as RFC 7252 §3 lays it out."""
    data = coap.encode(coap.CON, coap.POST, 0x1234, b"\xaa\xbb", [(12, b"\x12"), (11, b"i")], b"\x01")
    assert data.hex() == "42021234aabbb1691112ff01"


@pytest.mark.parametrize(
    ("code", "action"),
    [
        ((2, 1), coap.DONE),
        ((2, 4), coap.DONE),
        ((2, 5), coap.DONE),
        ((4, 29), coap.WAIT),
        ((5, 3), coap.WAIT),
        ((4, 1), coap.STOP),
        ((4, 3), coap.STOP),
        ((4, 0), coap.DEAD_LETTER),
        ((4, 9), coap.DEAD_LETTER),
        ((4, 13), coap.DEAD_LETTER),
        ((5, 0), coap.RETRY),
    ],
)
def test_every_answer_has_a_rule(code, action):
    """2.xx done, 4.29/5.03 wait Max-Age, 4.01/4.03 stop, 4.00/4.09/4.13 dead-letter, others retry."""
    assert coap.action_for(coap.code(*code)) == action


async def test_against_the_real_gateway(tmp_path):
    """Accepted, duplicate, unknown device and malformed answers each lead to their rule."""
    device, stranger = Device(500), Device(501)
    device.register(tmp_path)
    async with running_gateway(tmp_path) as gateway:
        client, sock = _client(gateway.port)
        message = device.intent()
        results = await asyncio.to_thread(
            lambda: [
                client.request(coap.POST, "i", payload, 18)
                for payload in (message, message, stranger.intent(), b"\x00")
            ]
        )
        sock.close()
    assert [(coap.dotted(r.code), r.action) for r in results] == [
        ("2.01", coap.DONE),
        ("2.04", coap.DONE),
        ("4.01", coap.STOP),
        ("4.00", coap.DEAD_LETTER),
    ]
    key = keys.load(tmp_path / keys.KEY_FILE)
    _, receipt = inbound.open_receipt(results[0].payload, {key.kid: authenticate.Ed25519Key(key.public)})
    assert receipt.seq == 1 and results[1].payload == results[0].payload


class LossyProxy:
    """UDP between client and server that drops datagrams by a seeded rule."""

    def __init__(self, upstream_port: int, drop, seed: int) -> None:
        self.rng = random.Random(seed)
        self.drop = drop
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.upstream = ("127.0.0.1", upstream_port)
        self.client = None
        self.forwarded = 0
        self.dropped = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            data, source = self.sock.recvfrom(2048)
            to_server = source != self.upstream
            if to_server:
                self.client = source
            if self.drop(self, to_server):
                self.dropped += 1
                continue
            self.forwarded += 1
            self.sock.sendto(data, self.upstream if to_server else self.client)


async def test_retransmits_through_a_lossy_link(tmp_path):
    """With the first two requests lost, the client retransmits (§4.2) and the intent lands once.
    seed=7 replays the loss pattern."""

    def drop_first_two_requests(proxy, to_server):
        return to_server and proxy.dropped < 2

    device = Device(502)
    device.register(tmp_path)
    async with running_gateway(tmp_path) as gateway:
        proxy = LossyProxy(gateway.port, drop_first_two_requests, seed=7)
        client, sock = _client(proxy.port, ack_timeout_ms=100)
        response = await asyncio.to_thread(client.request, coap.POST, "i", device.intent(), 18)
        sock.close()
    assert coap.dotted(response.code) == "2.01"
    assert client.retransmissions == 2 and proxy.dropped == 2


async def test_lost_answer_gets_the_same_receipt(tmp_path):
    """When the gateway's answer is lost, the retransmission is answered from its cache: one entry."""
    from paymote.gateway.store import Store

    def drop_first_answer(proxy, to_server):
        return not to_server and proxy.dropped == 0

    device = Device(503)
    device.register(tmp_path)
    async with running_gateway(tmp_path) as gateway:
        proxy = LossyProxy(gateway.port, drop_first_answer, seed=8)
        client, sock = _client(proxy.port, ack_timeout_ms=100)
        response = await asyncio.to_thread(client.request, coap.POST, "i", device.intent(), 18)
        sock.close()
    assert response.action == coap.DONE and client.retransmissions == 1
    store = Store(tmp_path)
    assert store.entry_count() == 1
    store.close()


async def test_separate_response_after_an_empty_ack():
    """A server slower than 100 ms sends an empty ACK, then the response as a CON (§5.2.2)."""

    class Slow(resource.Resource):
        async def render_post(self, request):
            await asyncio.sleep(0.4)
            return aiocoap.Message(code=aiocoap.CHANGED, payload=b"late")

    port = free_udp_port()
    site = resource.Site()
    site.add_resource(["slow"], Slow())
    server = await aiocoap.Context.create_server_context(site, bind=("127.0.0.1", port))
    try:
        client, sock = _client(port)
        response = await asyncio.to_thread(client.request, coap.POST, "slow", b"x")
        sock.close()
    finally:
        await server.shutdown()
    assert (coap.dotted(response.code), response.payload) == ("2.04", b"late")


def test_no_answer_after_all_retransmissions():
    """A silent peer gets MAX_RETRANSMIT + 1 copies of the request, then NoAnswerError."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    silent.settimeout(0)
    client, sock = _client(silent.getsockname()[1], ack_timeout_ms=10)
    with pytest.raises(coap.NoAnswerError):
        client.request(coap.POST, "i", b"x")
    received = 0
    while True:
        try:
            silent.recvfrom(2048)
            received += 1
        except BlockingIOError:
            break
    sock.close()
    silent.close()
    assert received == coap.MAX_RETRANSMIT + 1 and client.retransmissions == coap.MAX_RETRANSMIT


def test_a_datagram_the_network_refuses_is_a_lost_one(tmp_path):
    """sendto raising (a Wi-Fi link that dropped mid-exchange gives EHOSTUNREACH;
    here a broadcast address without SO_BROADCAST gives EACCES, from the same
    kernel call) is a datagram lost: the §4.2 schedule runs out, then NoAnswerError,
    which the agent takes as offline. Before, the OSError stopped the agent. On
    CPython and on the MicroPython interpreter."""
    client, sock = _client(5683, ack_timeout_ms=10, host="255.255.255.255")
    with pytest.raises(coap.NoAnswerError):
        client.request(coap.POST, "i", b"x")
    sock.close()
    assert client.retransmissions == coap.MAX_RETRANSMIT
    message_file = tmp_path / "intent.hex"
    message_file.write_text("a0")
    out = run_micropython(MPY_SCRIPTS / "coap_post.py", "5683", "i", str(message_file), "255.255.255.255")
    assert out.splitlines()[0] == f"no answer after {coap.MAX_RETRANSMIT} retransmissions"


@pytest.mark.parametrize("heap", ["free", "locked at first"])
async def test_the_client_on_micropython_against_the_gateway(tmp_path, heap):
    """The same firmware/coap.py, on the real MicroPython interpreter, gets 2.01 then 2.04
    with the same receipt. Also when the first receive of each request finds the heap
    locked (MemoryError at any allocation, as a fragmented 96 KB heap may give for a
    batch's verdicts): that datagram counts as lost, and the retransmission's answer comes."""
    device = Device(504)
    device.register(tmp_path)
    message_file = tmp_path / "intent.hex"
    message_file.write_text(device.intent().hex())
    locked = ("127.0.0.1", "no-heap") if heap != "free" else ()
    async with running_gateway(tmp_path) as gateway:
        out = await asyncio.to_thread(
            run_micropython, MPY_SCRIPTS / "coap_post.py", str(gateway.port), "i", str(message_file), *locked
        )
    first, second = out.split("\n")[:2]
    assert first.startswith("2.01 done ") and second.startswith("2.04 done "), out
    assert first.split()[2] == second.split()[2]  # the same receipt


def _every_third(proxy, to_server):
    """Drop every third datagram, either way."""
    return (proxy.forwarded + proxy.dropped) % 3 == 2


@pytest.mark.parametrize("lossy", [False, True])
async def test_a_batch_over_one_datagram_goes_block_wise(tmp_path, lossy):
    """firmware/blockwise.py: 14 intents (2.3 KB) go up in three Block1 blocks (RFC 7959
    §2.5) and their 14 verdicts (2.0 KB) come down in two Block2 blocks (§2.4), through a
    link that loses every third datagram too: one verdict per intent, each a receipt
    for its own sequence number, and each intent in the ledger once."""
    from paymote.crypto import cbor
    from paymote.firmware import blockwise
    from paymote.gateway.store import Store

    device = Device(504)
    device.register(tmp_path)
    body = cbor.encode([device.intent(amount_minor=n) for n in range(1, 15)])
    assert 2048 < len(body) <= 3072
    async with running_gateway(tmp_path) as gateway:
        proxy = LossyProxy(gateway.port, _every_third if lossy else (lambda proxy, to_server: False), seed=9)
        client, sock = _client(proxy.port, ack_timeout_ms=100)
        response = await asyncio.to_thread(blockwise.post, client, "b", body, 60, 14 * 202 + 3)
        sock.close()
    assert coap.dotted(response.code) == "2.04"
    verdicts = cbor.decode(response.payload, size_max=8192)
    assert [item[0] for item in verdicts] == [65] * 14
    key = keys.load(tmp_path / keys.KEY_FILE)
    gateway_keys = {key.kid: authenticate.Ed25519Key(key.public)}
    assert [inbound.open_receipt(item[1], gateway_keys)[1].seq for item in verdicts] == list(range(1, 15))
    with Store(tmp_path) as store:
        assert store.entry_count() == 14
    if lossy:
        assert client.retransmissions > 0 and proxy.dropped > 0
    else:  # 3 blocks up, the last answered with the first block down, 1 more asked for
        assert proxy.forwarded == 2 * 4 and client.retransmissions == 0


async def test_a_block_wise_batch_past_the_gateways_limit_is_refused_at_its_first_block(tmp_path):
    """48 intents, over /b's bytes: the gateway answers the first block, whose Size1 says
    so, 4.13 with Size1 (RFC 7959 §2.9.3), and the client sends no further block."""
    from paymote.crypto import cbor
    from paymote.firmware import blockwise

    device = Device(505)
    device.register(tmp_path)
    body = cbor.encode([device.intent() for _ in range(48)])
    async with running_gateway(tmp_path) as gateway:
        proxy = LossyProxy(gateway.port, lambda proxy, to_server: False, seed=10)
        client, sock = _client(proxy.port, ack_timeout_ms=100)
        response = await asyncio.to_thread(blockwise.post, client, "b", body, 60, 8192)
        sock.close()
    assert coap.dotted(response.code) == "4.13" and response.action == coap.DEAD_LETTER
    assert proxy.forwarded == 2  # one block up, its answer down
