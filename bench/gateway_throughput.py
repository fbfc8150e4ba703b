"""Gateway throughput on loopback, against ceilings measured in the same run.

Starts the real gateway (`paymote gateway run`, durable SQLite commits, or
with --postgres DATABASE_URL its ledger in a scratch schema there) and
drives it with bench/coap_load.py: many registered devices, each sending a
properly chained sequence of signed intents, a window of outstanding CON
requests. Measures, in one run:
  - single-intent POST /i: committed intents/s (counted in the ledger) and
    p50/p99 acknowledgement latency;
  - batch POST /b (6 intents a request, one datagram each way);
  - latency at half of the single-intent peak (open loop);
  - ceilings: an aiocoap server whose handler does nothing, under the same
    load; `cryptography` Ed25519 verify alone on 1 and on N threads.
--soak SECONDS holds 80% of peak (intents signed beforehand, as for the other
modes) and every 10 s reports the gateway's resident memory (and its anonymous
part), its pauses and the longest acknowledgement. Ends with one JSON line.

The gateway runs with --workers request processes (default: one per core)
beside its ledger writer; resident memory is summed over all of them.

Run: python bench/gateway_throughput.py [--seconds 8] [--devices 400] [--workers N]
         [--soak 600 [--plot soak.png]] [--postgres postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import coap_load  # noqa: E402
import plot_soak  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from paymote.crypto import cbor, cose, messages  # noqa: E402
from paymote.gateway import store_postgres  # noqa: E402
from paymote.gateway.store import Device, Store  # noqa: E402

BATCH_INTENTS = 6  # ~970 bytes: one datagram each way, no block-wise


class BenchDevice:
    """A device whose key signs with OpenSSL, so the load generator keeps up."""

    def __init__(self, index: int, payer: str) -> None:
        self.index = index
        self.key = Ed25519PrivateKey.from_private_bytes(index.to_bytes(32, "big"))
        self.public = self.key.public_key().public_bytes_raw()
        self.kid = cose.key_id(self.public)
        self.payer = payer
        self.seq = 0
        self.prev = messages.GENESIS_HASH

    def next_intent(self) -> bytes:
        self.seq += 1
        payload = messages.intent_payload(
            seq=self.seq,
            time_s=1764374400 + self.seq,
            prev=self.prev,
            payer=self.payer,
            payee="utility",
            amount_minor=1 + self.seq % 97,
            currency="EUR",
            evidence=[1, self.seq * 100, self.seq * 100 + 50],
            tariff=[1, 1],
            period_s=60,
        )
        message = cose.sign1(payload, self.key, self.kid)
        self.prev = messages.chain_hash(message)
        return message


def register(data_dir: Path, first: int, count: int) -> list[BenchDevice]:
    devices = [BenchDevice(first + i, f"hh-{first + i}") for i in range(count)]
    store = Store(data_dir)
    with store.transaction():  # one transaction: registration is not what we measure
        for d in devices:
            store.add_device(
                Device(
                    d.kid,
                    d.public,
                    None,
                    d.payer,
                    ("utility",),
                    None,
                    None,
                    "active",
                    0,
                    None,
                    None,
                    0,
                    messages.GENESIS_HASH,
                    0,
                    0,
                )
            )
    store.close()
    return devices


def presigned(devices: list[BenchDevice], per_device: int) -> list[Iterator[bytes]]:
    return [iter([d.next_intent() for _ in range(per_device)]) for d in devices]


def presigned_batches(devices: list[BenchDevice], per_device: int) -> list[Iterator[bytes]]:
    batches = []
    for d in devices:
        chain = [d.next_intent() for _ in range(per_device)]
        batches.append(
            iter([cbor.encode(chain[i : i + BATCH_INTENTS]) for i in range(0, len(chain), BATCH_INTENTS)])
        )
    return batches


def _chain(index: int, payer: str, count: int) -> list[bytes]:
    """The first count intents of BenchDevice(index, payer), in a pool process."""
    device = BenchDevice(index, payer)
    return [device.next_intent() for _ in range(count)]


def presigned_on_every_core(devices: list[BenchDevice], per_device: int) -> list[Iterator[bytes]]:
    """presigned() for devices that have signed nothing yet, one process a core,
    with progress (71 µs an intent on one core: the soak's 1.7 million take about
    a minute on two). Signed as the load runs, they cost the load generator 0.45
    cores of the two at the soak's rate, against 0.22 presigned (measured
    2026-12-02): the gateway's cores, which boards signing on their own would not take."""
    chains: list[Iterator[bytes]] = []
    with concurrent.futures.ProcessPoolExecutor() as pool:
        for i, chain in enumerate(
            pool.map(
                _chain,
                [d.index for d in devices],
                [d.payer for d in devices],
                [per_device] * len(devices),
                chunksize=10,
            )
        ):
            chains.append(iter(chain))
            if (i + 1) % (len(devices) // 10 or 1) == 0:
                print(f"    signed {(i + 1) * per_device:,} of {len(devices) * per_device:,}", flush=True)
    return chains


def entries(data_dir: Path) -> int:
    with Store(data_dir) as store:
        return store.entry_count()


def rss_mb(pids: list[int], field: str = "VmRSS") -> float:
    """Resident memory of the processes, summed; field RssAnon: only the
    anonymous part (heaps: Python's objects, SQLite's page cache), not the
    mapped files (libraries, the WAL index)."""
    total_kb = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                total_kb += int(line.split()[1])
    return total_kb / 1024


def start(command: list[str], ready_word: bytes) -> tuple[subprocess.Popen, bytes]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = process.stdout.readline()
    if ready_word not in line:
        process.kill()
        sys.exit(f"did not start: {command}")
    return process, line


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def verify_rate_per_s(threads: int, seconds: float = 1.5) -> float:
    """cryptography Ed25519 verifications per second on `threads` threads."""
    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    public = key.public_key()
    data = bytes(120)
    signature = key.sign(data)

    def work(n: int) -> int:
        for _ in range(n):
            public.verify(signature, data)
        return n

    chunk = 2000
    done = 0
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            done += sum(pool.map(work, [chunk] * threads))
        return done / (time.perf_counter() - t0)


def measure(label: str, address, path, load, window, seconds, data_dir, content_format=18, rate=None) -> dict:
    print(f"  {label} ...", flush=True)
    before = entries(data_dir) if data_dir else 0
    result = asyncio.run(coap_load.run(address, path, load, window, seconds, content_format, rate))
    committed = (entries(data_dir) - before) if data_dir else result.count(68) + result.count(65)
    return {
        "requests_per_s": round((result.count(65) + result.count(68)) / result.elapsed_s, 1),
        "committed_per_s": round(committed / result.elapsed_s, 1),
        "p50_ms": round(result.percentile_ms(50), 2),
        "p99_ms": round(result.percentile_ms(99), 2),
        "codes": {str(k): v for k, v in sorted(result.codes.items())},
        "retransmitted": result.retransmitted,
        "seconds": round(result.elapsed_s, 2),
    }


def metrics_text(metrics_port: int) -> str:
    """The gateway's metrics endpoint, read once."""
    import urllib.request

    return urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()


def histogram_buckets(text: str, name: str) -> dict[tuple, float]:
    """A histogram's buckets in the metrics text:
    (its labels other than le, in order, ..., upper bound s) -> count."""
    prefix = name + "_bucket{"
    buckets = {}
    for line in text.splitlines():
        if line.startswith(prefix):
            labels, value = line[len(prefix) :].split("} ")
            fields = dict(part.split("=") for part in labels.split(","))
            bound = fields.pop("le").strip('"')
            key = tuple(v.strip('"') for v in fields.values())
            buckets[(*key, float("inf") if bound == "+Inf" else float(bound))] = float(value)
    return buckets


def over_100ms_between(before: dict, after: dict) -> dict:
    """Per label set (a pause's "cause process"; "" for an unlabelled histogram):
    how many over 100 ms, and the bucket bound the longest is under (ms)."""
    out = {}
    for labels in sorted({k[:-1] for k in after}):
        new = {k[-1]: after[k] - before.get(k, 0) for k in after if k[:-1] == labels}
        total = new[float("inf")]
        longest = min(b for b, n in new.items() if n == total) if total else 0
        out[" ".join(labels)] = {"over_100ms": total - new[0.1], "longest_le_ms": 1000 * longest}
    return out


def soak(address, data_dir, pids, devices, rate, seconds, metrics_port) -> list[dict]:
    """Hold `rate` for `seconds`; every 10 s: RSS, the longest acknowledgement,
    the gateway's own pauses (garbage collections and event-loop lag,
    paymote_pause_seconds by process: the writer's, the workers' summed), and
    its commits over 100 ms (an fsync holds the writer's loop: a writer stall
    with one beside it in the same window was likely that commit)."""
    reports = []
    load = presigned_on_every_core(devices, math.ceil(rate * seconds / len(devices)) + 10)
    before = metrics_text(metrics_port)
    for start_s in range(0, seconds, 10):
        window_s = min(10, seconds - start_s)
        result = asyncio.run(coap_load.run(address, "i", load, 256, window_s, 18, rate))
        time.sleep(1.2)  # the workers' pause counts arrive every second
        after = metrics_text(metrics_port)  # and the next window's before
        report = {
            "t_s": start_s + window_s,
            "rss_mb": round(rss_mb(pids), 1),
            "anon_mb": round(rss_mb(pids, "RssAnon"), 1),
            "anon_mb_each": [round(rss_mb([pid], "RssAnon"), 1) for pid in pids],  # writer, workers
            "acks_per_s": round(len(result.latencies_s) / result.elapsed_s, 1),
            "p99_ms": round(result.percentile_ms(99), 1),
            "longest_ms": round(1000 * max(result.latencies_s, default=0), 1),
            "pauses": over_100ms_between(
                histogram_buckets(before, "paymote_pause_seconds"),
                histogram_buckets(after, "paymote_pause_seconds"),
            ),
            "commits": over_100ms_between(
                histogram_buckets(before, "paymote_commit_seconds"),
                histogram_buckets(after, "paymote_commit_seconds"),
            )[""],
        }
        before = after
        print(f"    soak {report}", flush=True)
        reports.append(report)
    return reports


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--devices", type=int, default=400)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--soak", type=int, default=0, help="seconds at 80%% of peak")
    parser.add_argument("--workers", type=int, default=0, help="gateway request processes (default: cores)")
    parser.add_argument("--plot", type=Path, help="with --soak: draw it to this PNG (bench/plot_soak.py)")
    parser.add_argument("--postgres", metavar="DATABASE_URL", help="the gateway's ledger in PostgreSQL there")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    workers = args.workers or cores
    print(
        f"gateway_throughput: {args.devices} devices a mode, window {args.window}, {args.seconds} s each, "
        f"gateway with {workers} workers, ledger in {'PostgreSQL' if args.postgres else 'SQLite'}"
    )
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as scratch:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        if args.postgres:
            scratch.enter_context(store_postgres.scratch_ledger(data_dir, args.postgres, "paymote_bench"))
        Store(data_dir).close()
        per_device = max(10, int(6000 * args.seconds / args.devices))
        print("  signing intents with OpenSSL ...", flush=True)
        single_devices = register(data_dir, 1, args.devices)
        single_load = presigned(single_devices, per_device)
        batch_devices = register(data_dir, 100_001, args.devices)
        batch_load = presigned_batches(batch_devices, per_device * 2)
        latency_devices = register(data_dir, 200_001, args.devices)
        soak_devices = register(data_dir, 300_001, args.devices)
        port, metrics_port = free_port(), free_port()
        gateway, ready_line = start(
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
                "--workers",
                str(workers),
                "--metrics",
                f"127.0.0.1:{metrics_port}",
            ],
            b'"ready"',
        )
        pids = [gateway.pid, *json.loads(ready_line)["workers"]]
        address = ("127.0.0.1", port)
        try:
            single = measure("single intents", address, "i", single_load, args.window, args.seconds, data_dir)
            batch = measure(
                "batches of 6", address, "b", batch_load, args.window // 4, args.seconds, data_dir, 60
            )
            half_rate = single["requests_per_s"] / 2
            latency_load = presigned(latency_devices, int(half_rate * args.seconds / args.devices) + 2)
            half = measure(
                f"latency at {half_rate:.0f}/s",
                address,
                "i",
                latency_load,
                256,
                args.seconds,
                data_dir,
                rate=half_rate,
            )
            soak_reports = (
                soak(
                    address,
                    data_dir,
                    pids,
                    soak_devices,
                    0.8 * single["requests_per_s"],
                    args.soak,
                    metrics_port,
                )
                if args.soak
                else []
            )
            gateway_rss_mb = rss_mb(pids)
        finally:
            gateway.terminate()
            gateway.wait(30)
    empty_port = free_port()
    empty, _ = start(
        [sys.executable, str(REPO / "bench" / "empty_coap_server.py"), str(empty_port)], b"ready"
    )
    try:
        filler = [iter([b"\xd2" + bytes(158)] * per_device) for _ in range(args.devices)]
        ceiling = measure(
            "empty aiocoap handler", ("127.0.0.1", empty_port), "i", filler, args.window, args.seconds, None
        )
    finally:
        empty.terminate()
        empty.wait(10)
    print("  Ed25519 verify alone ...", flush=True)
    verify_1 = verify_rate_per_s(1)
    verify_n = verify_rate_per_s(cores)
    result = {
        "bench": "gateway_throughput",
        "ledger": "postgresql" if args.postgres else "sqlite",
        "cores": cores,
        "workers": workers,
        "single": single,
        "batch": batch,
        "half_load": half,
        "empty_aiocoap": ceiling,
        "verify_per_s_1_thread": round(verify_1),
        f"verify_per_s_{cores}_threads": round(verify_n),
        "single_over_empty_aiocoap": round(single["committed_per_s"] / ceiling["requests_per_s"], 3),
        "batch_over_verify_n_threads": round(batch["committed_per_s"] / verify_n, 3),
        "gateway_rss_mb": round(gateway_rss_mb, 1),
        "soak": soak_reports,
    }
    result["targets_met"] = {
        "single >= 1.1x empty aiocoap": result["single_over_empty_aiocoap"] >= 1.1,
        "batch >= 0.7x verify on all cores": result["batch_over_verify_n_threads"] >= 0.7,
        "p99 < 50 ms at half of peak": half["p99_ms"] < 50,
    }
    if soak_reports:
        result["targets_met"]["soak: no gateway pause over 100 ms"] = all(
            p["over_100ms"] == 0 for r in soak_reports for p in r["pauses"].values()
        )
    rows = (
        ("single intents, closed loop", single),
        (f"batches of {BATCH_INTENTS}", batch),
        (f"single at half of peak ({half_rate:.0f}/s)", half),
    )
    print(f"\ngateway ({workers} workers + writer, durable)    committed/s   p50 ms   p99 ms")
    for label, row in rows:
        print(f"  {label:42} {row['committed_per_s']:>11}  {row['p50_ms']:>7}  {row['p99_ms']:>7}")
    print("ceilings")
    print(f"  aiocoap, empty handler                     {ceiling['requests_per_s']:>11} req/s")
    print(f"  Ed25519 verify, 1 thread                   {verify_1:>11.0f} /s")
    print(f"  Ed25519 verify, {cores} threads                  {verify_n:>11.0f} /s")
    print(
        f"ratios: single / empty aiocoap = {result['single_over_empty_aiocoap']}, "
        f"batch / verify on {cores} threads = {result['batch_over_verify_n_threads']}"
    )
    print(f"gateway resident memory after the run: {gateway_rss_mb:.0f} MB")
    print(
        "targets: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in result["targets_met"].items())
    )
    if args.plot and soak_reports:
        ledger = "postgresql" if args.postgres else "sqlite"
        plot_soak.draw(soak_reports, args.plot, plot_soak.title(soak_reports, workers, ledger))
        print(f"the soak's picture: {args.plot}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
