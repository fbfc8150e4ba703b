"""Running the gateway as a service: systemd notify, SIGTERM, metrics, config."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import urllib.request
from pathlib import Path

import aiocoap
import pytest

from paymote.crypto import cbor
from paymote.gateway import config as config_module
from paymote.gateway import logs, transport, verdicts
from tests.gateway_helpers import Device, free_udp_port, running_gateway, start_gateway_process

UNIT = Path(__file__).resolve().parent.parent / "gateway" / "systemd" / "paymote-gateway.service"


def test_notify_protocol_on_a_real_socket_and_clean_sigterm(tmp_path):
    """READY=1 when up, WATCHDOG=1 while healthy, STOPPING=1 and exit 0 on SIGTERM (sd_notify)."""
    notify_path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify_path))
    listener.settimeout(10)
    env = dict(os.environ, NOTIFY_SOCKET=str(notify_path), WATCHDOG_USEC="200000")
    port = free_udp_port()
    process = start_gateway_process(tmp_path / "data", port, env)
    try:
        received = [listener.recv(4096).decode() for _ in range(3)]
        assert received[0].startswith("READY=1")
        assert received[1:] == ["WATCHDOG=1", "WATCHDOG=1"]
        process.send_signal(signal.SIGTERM)
        while (message := listener.recv(4096).decode()) == "WATCHDOG=1":
            pass
        assert message == "STOPPING=1"
        assert process.wait(10) == 0
        assert b'"stopped"' in process.stdout.read()
    finally:
        process.kill()
        listener.close()


def test_unit_file_is_a_hardened_notify_service():
    """The shipped unit uses Type=notify, a watchdog, restarts, a state directory and hardening."""
    unit = UNIT.read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "StateDirectory=paymote",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    ):
        assert line in unit


async def test_metrics_count_each_message_by_reason_and_refusals_are_logged(tmp_path, caplog, monkeypatch):
    """paymote_messages_total counts every message by resource, code and a fixed
    reason word (never the diagnostic's text, which holds numbers and names);
    each intent in a batch counts with its own verdict, on the fast path and on
    aiocoap's block-wise one alike. A refusal is logged at WARNING with its reason."""
    metrics_port = free_udp_port()  # a free number; the endpoint is TCP
    device, stranger = Device(400), Device(401)
    device.register(tmp_path, max_amount_minor=100)
    caplog.set_level(logging.WARNING, logger="paymote.gateway")
    monkeypatch.setattr(verdicts, "_budget", verdicts.LogBudget())  # not one the tests before spent
    async with running_gateway(tmp_path, metrics=f"127.0.0.1:{metrics_port}") as gateway:
        first = device.intent()
        codes = [
            (await gateway.post("i", first)).code,
            (await gateway.post("i", first)).code,  # a retransmission
            (await gateway.post("i", device.intent(amount_minor=101))).code,
            (await gateway.post("i", b"junk")).code,
            (await gateway.post("i", stranger.intent())).code,
        ]
        small = cbor.encode([device.intent(), b"\x00garbage"])  # one datagram: the fast path
        large = cbor.encode([device.intent(amount_minor=i + 1) for i in range(8)] + [stranger.intent()])
        assert len(large) > 1024  # block-wise: aiocoap's resource
        codes += [(await gateway.post("b", small)).code, (await gateway.post("b", large)).code]
        codes.append((await gateway.post("b", b"\x01")).code)  # not an array: refused as a whole
        text = await asyncio.to_thread(
            lambda: (
                urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
            )
        )
    assert [c.dotted for c in codes] == ["2.01", "2.04", "4.03", "4.00", "4.01", "2.04", "2.04", "4.00"]
    counted = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line.startswith("paymote_messages_total{")
    }
    assert counted == {
        'paymote_messages_total{code="2.01",reason="accepted",resource="intent"}': 1.0,
        'paymote_messages_total{code="2.04",reason="duplicate",resource="intent"}': 1.0,
        'paymote_messages_total{code="4.03",reason="amount_limit",resource="intent"}': 1.0,
        'paymote_messages_total{code="4.00",reason="Truncated",resource="intent"}': 1.0,
        'paymote_messages_total{code="4.01",reason="UnknownKey",resource="intent"}': 1.0,
        'paymote_messages_total{code="2.01",reason="accepted",resource="batch"}': 9.0,
        'paymote_messages_total{code="4.00",reason="TrailingBytes",resource="batch"}': 1.0,
        'paymote_messages_total{code="4.00",reason="FieldError",resource="batch"}': 1.0,
        'paymote_messages_total{code="4.01",reason="UnknownKey",resource="batch"}': 1.0,
    }
    assert "paymote_commit_seconds_count" in text
    assert "paymote_ledger_entries 10.0" in text and "paymote_queue_depth 0.0" in text
    refusals = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [(r.fields["resource"], r.fields["code"], r.fields["reason"]) for r in refusals] == [
        ("intent", "4.03", "amount_limit"),
        ("intent", "4.00", "Truncated"),
        ("intent", "4.01", "UnknownKey"),
        ("batch", "4.00", "TrailingBytes"),
        ("batch", "4.01", "UnknownKey"),
        ("batch", "4.00", "FieldError"),
    ]
    assert {r.fields["peer"] for r in refusals} == {"127.0.0.1"}  # on both paths, IPv4 as such
    assert refusals[0].getMessage().endswith("amount 101 over the per-intent limit 100")
    line = json.loads(logs.JsonLogFormatter().format(refusals[0]))
    assert line["reason"] == "amount_limit" and line["peer"] == "127.0.0.1" and line["level"] == "WARNING"


def test_config_file_loads_and_refuses_mistakes(tmp_path):
    """TOML into Config; unknown keys, missing data and bad values are named."""
    path = tmp_path / "gateway.toml"
    path.write_text(
        '[gateway]\ndata = "/var/lib/paymote"\nbind = "0.0.0.0:5683"\n[limits]\nqueue_items_max = 10\n'
    )
    loaded = config_module.load(path)
    assert loaded.data == Path("/var/lib/paymote") and loaded.queue_items_max == 10
    assert loaded.exchange_lifetime_s == 30.0
    for text, problem in (
        ('[gateway]\ndata = "x"\ncolour = "blue"\n', "unknown key colour"),
        ('[gateway]\nbind = "0.0.0.0:5683"\n', "gateway.data is required"),
        ('[gateway]\ndata = "x"\nbind = "nowhere"\n', "HOST:PORT"),
        ('[gateway]\ndata = "x"\n[limits]\nburst_per_device = 0\n', "burst_per_device"),
        ("[gateway\n", "gateway.toml"),
    ):
        path.write_text(text)
        with pytest.raises(config_module.ConfigError, match=problem):
            config_module.load(path)


def test_exchange_lifetime_is_tuned_for_incoming_messages():
    """After tuning, aiocoap keeps message IDs for the configured time, not 247 s."""
    assert aiocoap.Message().transport_tuning.EXCHANGE_LIFETIME in (247.0, 30.0)
    transport.tune_exchange_lifetime(12.5)
    assert aiocoap.Message().transport_tuning.EXCHANGE_LIFETIME == 12.5
    transport.tune_exchange_lifetime(30.0)


async def test_pauses_are_measured_where_they_happen():
    """A 150 ms stall of the event loop lands in the loop histogram above 100 ms;
    a garbage collection in the gc one (paymote_pause_seconds, by process and cause)."""
    import gc
    import time

    from paymote.gateway.metrics import Metrics
    from paymote.gateway.pauses import PauseWatch

    metrics = Metrics()
    watch = PauseWatch(metrics.pause_seconds, "gateway")
    watch.start()
    await asyncio.sleep(0.05)
    time.sleep(0.15)  # the loop is stuck: nothing else runs
    await asyncio.sleep(0.05)
    gc.collect()
    watch.stop()
    samples = {
        (s.name, s.labels.get("cause"), s.labels.get("le")): s.value
        for family in metrics.pause_seconds.collect()
        for s in family.samples
        if s.labels.get("process") == "gateway"
    }
    loop_count = samples[("paymote_pause_seconds_count", "loop", None)]
    loop_within_100ms = samples[("paymote_pause_seconds_bucket", "loop", "0.1")]
    assert loop_count - loop_within_100ms == 1  # exactly the stall
    assert samples[("paymote_pause_seconds_count", "gc", None)] >= 1


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_answers_every_intent_it_commits(tmp_path, workers):
    """A burst of intents, then SIGTERM at once: the gateway stops reading, but
    every intent it commits is acknowledged before it exits (a board then never
    waits for a receipt the ledger already holds). What it never read is not
    committed; the boards resend it to the next run. Before, the socket closed
    first and the answers of the commits in flight were dropped."""
    from paymote.firmware import coap
    from paymote.gateway.store import Store

    devices = [Device(600 + i, payer=f"hh-{i}") for i in range(40)]
    for device in devices:
        device.register(tmp_path)
    port = free_udp_port()
    process = start_gateway_process(tmp_path, port, extra=("--workers", str(workers)))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    try:
        uri_path = [(11, b"i")]  # Uri-Path (RFC 7252 §5.10.1)
        for mid, device in enumerate(devices):
            datagram = coap.encode(coap.CON, coap.POST, mid, b"t%d" % mid, uri_path, device.intent())
            sock.sendto(datagram, ("127.0.0.1", port))
        process.send_signal(signal.SIGTERM)
        answered = set()
        while True:
            try:
                answer = coap.decode(sock.recv(2048))
            except TimeoutError:
                break
            if answer.code == coap.code(2, 1):
                answered.add(answer.mid)
        assert process.wait(10) == 0
    finally:
        process.kill()
        sock.close()
    mid_of = {device.kid: mid for mid, device in enumerate(devices)}
    with Store(tmp_path, readonly=True) as store:
        committed = {mid_of[e.device_id] for e in store.entries()}
    assert committed, "nothing was committed: the test tested nothing"
    assert committed <= answered, f"committed without an answer: {sorted(committed - answered)}"


def test_a_flood_of_refusals_logs_at_most_its_budget_a_second(monkeypatch, caplog):
    """Refusal lines are bounded per second; what was left out is said in one line
    with the next second's first, and every refusal is still counted."""
    from paymote.crypto.errors import Truncated
    from paymote.gateway.metrics import Metrics

    now = [100.0]
    monkeypatch.setattr(verdicts, "_budget", verdicts.LogBudget(2, lambda: now[0]))
    metrics = Metrics()
    caplog.set_level(logging.WARNING, logger="paymote.gateway")
    for _ in range(5):
        verdicts.one(metrics, "intent", Truncated("input ends inside an item"), ("::ffff:10.0.0.9", 5683))
    now[0] = 101.2
    verdicts.one(metrics, "intent", Truncated("input ends inside an item"), ("::ffff:10.0.0.9", 5683))
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "intent 4.00 Truncated from 10.0.0.9: Truncated: input ends inside an item",
        "intent 4.00 Truncated from 10.0.0.9: Truncated: input ends inside an item",
        "3 refusals not logged (at most 2 a second)",
        "intent 4.00 Truncated from 10.0.0.9: Truncated: input ends inside an item",
    ]
    counted = {"resource": "intent", "code": "4.00", "reason": "Truncated"}
    assert metrics.registry.get_sample_value("paymote_messages_total", counted) == 6
