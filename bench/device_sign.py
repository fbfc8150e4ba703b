"""Ed25519 signing of one payment intent on the MicroPython interpreter.

Compiles crypto/ with mpy-cross (as a board would load it) and runs
bench/mpy/sign_bench.py with -X heapsize=96K (an ESP32 without PSRAM), then
again with 64K to show the whole sign path fits. In the same run it measures
the baseline (plain double-and-add) and the same pure code on CPython, and
prints ratios. Ends with one JSON line for comparing runs.

Run: python bench/device_sign.py
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from wire_sizes import sizes  # noqa: E402

from paymote.crypto import cose, ed25519  # noqa: E402


def tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        sys.exit(f"{name} not found: pip install -e '.[dev]'")
    return found


def compile_for_unix(dest: Path) -> None:
    sources = list((REPO / "crypto").glob("*.py")) + [REPO / "bench" / "plain_ed25519.py"]
    for source in sources:
        rel = (
            source.relative_to(REPO / "bench") if source.parent.name == "bench" else source.relative_to(REPO)
        )
        target = dest / rel.with_suffix(".mpy")
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([tool("mpy-cross"), "-march=x64", "-o", str(target), str(source)], check=True)
    shutil.copy(REPO / "bench" / "mpy" / "sign_bench.py", dest / "sign_bench.py")


def run_micropython(dest: Path, heap: str, mode: str) -> dict:
    print(f"  micropython -X heapsize={heap} ({mode}) ...", flush=True)
    proc = subprocess.run(
        [tool("micropython"), "-X", f"heapsize={heap}", "sign_bench.py", mode],
        capture_output=True,
        text=True,
        cwd=dest,
        env={"MICROPYPATH": str(dest)},
        timeout=600,
    )
    if proc.returncode != 0:
        return {"error": (proc.stdout + proc.stderr).strip().splitlines()[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def peak_sign_heap_bytes(dest: Path, heap: str) -> int:
    """The least free heap in which signing still succeeds (peak live
    allocation plus fragmentation), bisected over fresh interpreter runs."""
    print(f"  bisecting the heap signing needs (-X heapsize={heap}) ...", flush=True)

    def fits(headroom: int) -> bool:
        proc = subprocess.run(
            [tool("micropython"), "-X", f"heapsize={heap}", "sign_bench.py", "fits", str(headroom)],
            capture_output=True,
            cwd=dest,
            env={"MICROPYPATH": str(dest)},
            timeout=120,
        )
        return proc.returncode == 0

    low, high = 0, 32768
    if not fits(high):
        return -1
    while high - low > 16:
        mid = (low + high) // 2
        low, high = (low, mid) if fits(mid) else (mid, high)
    return high


def cpython_sign_us() -> tuple[float, float]:
    """Median µs of the same pure-Python sign on CPython, and of OpenSSL's."""
    key = ed25519.SigningKey(bytes(range(32)))
    payload = bytes(74)
    ossl = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))

    def median(fn, runs):
        times = []
        for _ in range(runs):
            t0 = time.perf_counter_ns()
            fn()
            times.append((time.perf_counter_ns() - t0) / 1000)
        return statistics.median(times)

    kid = cose.key_id(key.public)
    return median(lambda: cose.sign1(payload, key, kid), 200), median(lambda: ossl.sign(payload), 2000)


def main() -> None:
    print("bench/device_sign.py: Ed25519 sign of one payment intent")
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp)
        compile_for_unix(dest)
        board = run_micropython(dest, "96K", "full")
        if "error" not in board:
            board["peak_sign_heap_bytes"] = peak_sign_heap_bytes(dest, "96K")
            board.update(run_micropython(dest, "1M", "churn"))
        small = run_micropython(dest, "64K", "check")
    if "error" in board:
        sys.exit(f"micropython run failed: {board['error']}")
    cpython_us, openssl_us = cpython_sign_us()
    wire = sizes()
    result = {
        "bench": "device_sign",
        "micropython_heap": "96K",
        **board,
        "works_with_64k_heap": "error" not in small,
        "plain_over_tuned": board["plain_sign_us_median"] / board["ed25519_sign_us_median"],
        "cpython_pure_sign_us_median": round(cpython_us, 1),
        "micropython_over_cpython": board["sign_us_median"] / cpython_us,
        "cpython_openssl_sign_us_median": round(openssl_us, 1),
        "wire": wire,
    }
    targets = {
        "sign <= 2000 us": board["sign_us_median"] <= 2000,
        "peak heap <= 8 KB": 0 < board["peak_sign_heap_bytes"] <= 8192,
        "table <= 4 KB": board["table_bytes"] <= 4096,
        "works in 64K": result["works_with_64k_heap"],
    }
    result["targets_met"] = targets
    print(f"""
MicroPython (unix port, -X heapsize=96K, modules from mpy-cross -march=x64)
  sign one intent (COSE_Sign1)  {board["sign_us_median"]:>8} us median of 200
  Ed25519 sign alone            {board["ed25519_sign_us_median"]:>8} us
  plain double-and-add          {board["plain_sign_us_median"]:>8} us   \
(plain / tuned = {result["plain_over_tuned"]:.1f}x)
  peak heap while signing       {board["peak_sign_heap_bytes"]:>8} bytes (least free heap that still signs)
  allocated per signing         {board["allocated_per_sign_bytes"]:>8} bytes (garbage included)
  comb table                    {board["table_bytes"]:>8} bytes
  whole sign path at 64K heap   {"yes" if result["works_with_64k_heap"] else "NO: " + small.get("error", "")}
CPython {sys.version.split()[0]}
  same pure-Python sign         {cpython_us:>8.0f} us   \
(MicroPython / CPython = {result["micropython_over_cpython"]:.2f}x)
  OpenSSL (cryptography) sign   {openssl_us:>8.1f} us
Bytes on air (COSE/CBOR vs JSON+JWS)""")
    for kind, row in wire.items():
        print(f"  {kind:15} {row['cose_bytes']:>5} vs {row['json_jws_bytes']:>5}  ({row['ratio']:.2f}x)")
    print("Targets: " + ", ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in targets.items()))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
