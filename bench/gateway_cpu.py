"""Where the gateway's CPU goes: the cores each of its processes uses under a
closed-loop single-intent (or batch) load, and the ledger writer's own cost
per intent with nothing else running. The figures behind "where the time
goes" in docs/performance.md and Config.workers.

  - load: the real gateway (`paymote gateway run --workers N`) driven by
    bench/coap_load.py for --seconds; CPU seconds per wall second of the
    writer, each worker and the load generator, from /proc/PID/stat.
  - writer: Committer._commit over batches of 200 decoded intents of 400
    devices, in one thread, no network (the baseline the load mode's writer
    share is compared with); with --postgres DATABASE_URL also into a
    PostgreSQL ledger in a scratch schema there, wall time and the writer's
    own CPU (the server's is not in it), as a ratio to SQLite's.
Ends with one JSON line.

Run: python bench/gateway_cpu.py [--workers 2] [--window 256] [--seconds 6] [--batch]
         [--postgres postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import coap_load  # noqa: E402
import gateway_throughput as throughput  # noqa: E402

from paymote.crypto import inbound  # noqa: E402
from paymote.gateway import decode, keys, store_postgres  # noqa: E402
from paymote.gateway.committer import APPLY_FOR_KIND, Committer, _Work  # noqa: E402
from paymote.gateway.store import Store  # noqa: E402


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(workers: int, window: int, seconds: float, batch: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        Store(data).close()
        devices = throughput.register(data, 1, 400)
        per_device = max(10, int(6000 * seconds / 400))
        work = (
            throughput.presigned_batches(devices, per_device)
            if batch
            else throughput.presigned(devices, per_device)
        )
        port = throughput.free_port()
        command = [sys.executable, "-m", "paymote.gateway.cli", "gateway", "run", "--data", str(data)]
        gateway, line = throughput.start(
            [*command, "--bind", f"127.0.0.1:{port}", "--workers", str(workers)], b'"ready"'
        )
        pids = [gateway.pid, *json.loads(line)["workers"]]
        before = [cpu_s(pid) for pid in pids]
        own_before, started = time.process_time(), time.monotonic()
        path, content_format = ("b", 60) if batch else ("i", 18)
        result = asyncio.run(coap_load.run(("127.0.0.1", port), path, work, window, seconds, content_format))
        wall_s = time.monotonic() - started
        shares = [round((cpu_s(pid) - b) / wall_s, 2) for pid, b in zip(pids, before, strict=True)]
        generator = round((time.process_time() - own_before) / wall_s, 2)
        gateway.terminate()
        gateway.wait(30)
    answers_per_s = len(result.latencies_s) / result.elapsed_s
    return {
        "answers_per_s": round(answers_per_s),
        "cores": {"writer": shares[0], "workers": shares[1:], "load_generator": generator},
        "cores_busy": round(sum(shares) + generator, 2),
    }


def writer_us_per_intent(postgres: str | None = None) -> tuple[float, float]:
    """Committer._commit alone: decoded intents in batches of 200, one thread;
    (wall, this process's CPU) µs an intent. postgres: a database URL for the
    ledger (a scratch schema there) instead of SQLite."""
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as scratch:
        data = Path(tmp)
        if postgres:
            scratch.enter_context(store_postgres.scratch_ledger(data, postgres, "paymote_bench"))
        Store(data).close()
        devices = throughput.register(data, 1, 400)
        signed = [d.next_intent() for _ in range(10) for d in devices]
        key = keys.load_or_create(data)

        async def run() -> tuple[float, float]:
            committer = Committer(data, key, time.time, inline=True)
            await committer.start()
            loop = asyncio.get_running_loop()
            batch = []
            for message in signed:
                envelope, parsed = decode.decode_message(message, inbound.KIND_INTENT)
                batch.append((envelope.kid, message, parsed))
            apply = APPLY_FOR_KIND[inbound.KIND_INTENT]
            started, cpu_started = time.perf_counter(), time.process_time()
            for i in range(0, len(batch), 200):
                committer._commit(  # noqa: SLF001 - the writer's own cost, without the queue around it
                    [
                        _Work(apply, kid, message, parsed, loop.create_future(), ticket=0)
                        for kid, message, parsed in batch[i : i + 200]
                    ]
                )
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            await committer.stop()
            return 1e6 * elapsed / len(batch), 1e6 * cpu / len(batch)

        return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--batch", action="store_true", help="batches of 6 on POST /b instead of POST /i")
    parser.add_argument("--postgres", metavar="DATABASE_URL", help="also time the writer on PostgreSQL there")
    args = parser.parse_args()
    writer_alone, writer_cpu = writer_us_per_intent()
    print(f"ledger writer alone: {writer_alone:.0f} µs an intent (Committer._commit, batches of 200)")
    on_postgres = {}
    if args.postgres:
        postgres_wall, postgres_cpu = writer_us_per_intent(args.postgres)
        on_postgres = {
            "writer_alone_postgres_us": round(postgres_wall, 1),
            "writer_cpu_postgres_us": round(postgres_cpu, 1),
            "postgres_over_sqlite_wall": round(postgres_wall / writer_alone, 2),
            "postgres_over_sqlite_cpu": round(postgres_cpu / writer_cpu, 2),
        }
        print(
            f"on PostgreSQL: {postgres_wall:.0f} µs an intent ({on_postgres['postgres_over_sqlite_wall']}x), "
            f"the writer's own CPU {postgres_cpu:.0f} µs ({on_postgres['postgres_over_sqlite_cpu']}x)"
        )
    measured = load(args.workers, args.window, args.seconds, args.batch)
    intents_per_s = measured["answers_per_s"] * (throughput.BATCH_INTENTS if args.batch else 1)
    writer_us = 1e6 * measured["cores"]["writer"] / max(intents_per_s, 1)
    print(f"{args.workers} workers, window {args.window}: {measured['answers_per_s']} answers/s")
    print(f"cores: {measured['cores']}")
    print(
        f"writer under load: {writer_us:.0f} µs an intent ({writer_us / writer_alone:.2f}x the writer alone)"
    )
    print(
        json.dumps(
            {
                "bench": "gateway_cpu",
                "workers": args.workers,
                "window": args.window,
                "writer_alone_us": round(writer_alone, 1),
                "writer_cpu_us": round(writer_cpu, 1),
                **on_postgres,
                "writer_under_load_us": round(writer_us, 1),
                **measured,
            }
        )
    )


if __name__ == "__main__":
    main()
