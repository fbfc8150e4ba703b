"""What catching up costs a board on air: 64 queued intents sent to the real
gateway (durable, on loopback) by the board's own CoAP client (firmware/coap.py,
firmware/blockwise.py, run on CPython), as the agent sends them: one at a
time (POST /i), in batches that fit one datagram each way (2 on a 96 KB
heap, 5 elsewhere), and in batches over a datagram that go block-wise (RFC
7959, 1,024-byte blocks), through the simulator's faulty link
(simulator/proxy.py), which counts every datagram and byte and can lose
datagrams at a seeded rate.

Exchanges (confirmable requests, retransmissions included) are round trips
the radio waits through; bytes on air count 28 bytes of IPv4 and UDP
headers a datagram. Ratios are against batches of 5 in the same run.

Run: python bench/catch_up.py [--intents 64] [--loss 0.0] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from paymote.crypto import cbor  # noqa: E402
from paymote.firmware import blockwise, coap  # noqa: E402
from paymote.gateway import service  # noqa: E402
from paymote.gateway.config import Config  # noqa: E402
from paymote.simulator.adversary import SigningDevice  # noqa: E402
from paymote.simulator.fleet import free_udp_port  # noqa: E402
from paymote.simulator.proxy import Faults, FaultyLink  # noqa: E402

IP_UDP_HEADER_BYTES = 28
DATAGRAM_BATCH = 5  # firmware/agent.py's _DATAGRAM_BATCH: the baseline
MODES = (1, 2, 5, 16, 32)


def _send(client: coap.Client, queued: list[bytes]) -> list[int]:
    """The verdict codes, sent as firmware/agent.py's _send sends them."""
    if len(queued) == 1:
        return [client.request(coap.POST, "i", queued[0], 18).code]
    body = cbor.encode(queued)
    if len(queued) > DATAGRAM_BATCH:
        response = blockwise.post(client, "b", body, 60, 202 * len(queued) + 3)
    else:
        response = client.request(coap.POST, "b", body, 60, coap.MESSAGE_BYTES_MAX)
    return [item[0] for item in cbor.decode(response.payload, size_max=8192)]


def _catch_up(link: FaultyLink, device: SigningDevice, intents: int, batch: int) -> dict:
    queued = [device.intent() for _ in range(intents)]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client = coap.Client(
        sock, ("127.0.0.1", link.port), lambda: time.monotonic_ns() // 1_000_000, os.urandom, 200
    )
    requests = accepted = 0
    started = time.perf_counter()
    while queued:
        part, queued = queued[:batch], queued[batch:]
        codes = _send(client, part)
        accepted += codes.count(65)
        requests += 1
    elapsed_s = time.perf_counter() - started
    sock.close()
    stats = link.stats
    return {
        "batch": batch,
        "requests": requests,
        # every datagram the board sends is a CON request or its retransmission
        "exchanges": sum(stats.requests.values()) + stats.retransmissions,
        "retransmissions": client.retransmissions,
        "datagrams": stats.datagrams,
        "bytes_on_air": stats.bytes + IP_UDP_HEADER_BYTES * stats.datagrams,
        "lost": stats.faults["lost"],
        "accepted": accepted,
        "seconds": round(elapsed_s, 3),
    }


async def _run(args: argparse.Namespace) -> list[dict]:
    data_dir = Path(tempfile.mkdtemp(prefix="paymote-catch-up-"))
    devices = {batch: SigningDevice(7000 + batch, payer=f"catch-up-{batch}") for batch in MODES}
    for device in devices.values():
        device.register(data_dir)
    port = free_udp_port()
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        service.serve(Config(data=data_dir, bind=f"127.0.0.1:{port}"), stop=stop, ready=ready)
    )
    await asyncio.wait_for(ready.wait(), 10)
    rows = []
    try:
        for batch in MODES:
            print(f"  sending {args.intents} intents, {batch} a request ...", file=sys.stderr, flush=True)
            # A link of its own for each mode, with the same seed: each meets the same faults.
            link = FaultyLink(("127.0.0.1", port), Faults(loss=args.loss), args.seed)
            await link.start()
            try:
                rows.append(await asyncio.to_thread(_catch_up, link, devices[batch], args.intents, batch))
            finally:
                link.close()
    finally:
        stop.set()
        await task
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", type=int, default=64)
    parser.add_argument("--loss", type=float, default=0.0, help="probability each datagram is lost")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rows = asyncio.run(_run(args))
    base = next(row for row in rows if row["batch"] == DATAGRAM_BATCH)
    print(f"{args.intents} queued intents, loss {args.loss:.0%} (seed {args.seed})")
    print(
        f"{'per request':>12} {'how':>12} {'exchanges':>10} {'datagrams':>10} {'bytes on air':>13}"
        f" {'vs 5':>6} {'bytes vs 5':>11}"
    )
    for row in rows:
        how = "/i" if row["batch"] == 1 else ("block-wise" if row["batch"] > DATAGRAM_BATCH else "1 datagram")
        row["exchanges_vs_5"] = round(row["exchanges"] / base["exchanges"], 2)
        row["bytes_vs_5"] = round(row["bytes_on_air"] / base["bytes_on_air"], 2)
        print(
            f"{row['batch']:>12} {how:>12} {row['exchanges']:>10} {row['datagrams']:>10}"
            f" {row['bytes_on_air']:>13,} {row['exchanges_vs_5']:>5.2f}× {row['bytes_vs_5']:>10.2f}×"
        )
        if row["accepted"] != args.intents:
            print(f"  only {row['accepted']} of {args.intents} accepted", file=sys.stderr)
    print(json.dumps({"bench": "catch_up", "intents": args.intents, "loss": args.loss, "modes": rows}))


if __name__ == "__main__":
    main()
