"""crypto/ on the real MicroPython interpreter: same bytes as CPython, small heap, mpy-cross."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import pytest

from paymote import boards
from paymote.simulator.sample import sample
from tests.conftest import MPY_SCRIPTS, compile_tree, micropython_binary, run_cpython, run_micropython

pytestmark = pytest.mark.micropython

# The unix port's, and every board definition's (ESP32/-S3, RP2040, RP2350).
BOARD_ARCHS = sorted({"x64"} | {boards.load(name).mpy_arch for name in boards.names()})


def test_same_output_as_cpython():
    """Every vector, encoding, error and sample message is byte for byte the same on both interpreters."""
    script = MPY_SCRIPTS / "cross_vectors.py"
    on_micropython = run_micropython(script, heap="1M")
    on_cpython = run_cpython(script)
    assert on_cpython.count("\n") > 100
    assert on_micropython == on_cpython


def test_rfc8032_vectors_on_micropython():
    """The RFC 8032 §7.1 signatures come out of the MicroPython run itself."""
    from tests import vectors

    out = run_micropython(MPY_SCRIPTS / "cross_vectors.py", heap="1M")
    for _, public, _, signature in vectors.RFC8032:
        assert f"ed25519 {public} {signature}" in out
    assert "forged message accepted" not in out


@pytest.mark.parametrize("arch", BOARD_ARCHS)
def test_mpy_cross_compiles_every_file(tmp_path, arch):
    """mpy-cross compiles every crypto/ and firmware/ file for each board architecture."""
    compiled = compile_tree(tmp_path, arch)
    names = {p.name for p in compiled}
    assert {"ed25519.mpy", "sha512.mpy", "cbor.mpy", "cose.mpy", "messages.mpy"} <= names
    assert all(p.stat().st_size > 0 for p in compiled)


def test_whole_sign_path_in_a_64k_heap(tmp_path):
    """Compiled modules build and sign all three sample messages with -X heapsize=64K."""
    compile_tree(tmp_path, "x64")
    script = tmp_path / "sign_in_small_heap.py"
    shutil.copy(MPY_SCRIPTS / "sign_in_small_heap.py", script)
    proc = subprocess.run(
        [micropython_binary(), "-X", "heapsize=64K", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"MICROPYPATH": str(tmp_path)},  # the compiled tree only, not the sources
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.split()
    s = sample(1)
    assert lines[0] == s["intent"].hex()
    assert lines[1] == s["attestation"].hex()
    assert lines[2] == s["reading_batch"].hex()


def test_sha512_compression_allocates_nothing():
    """SHA-512's compression function runs under heap_lock(): no allocation on the hot path."""
    out = run_micropython(MPY_SCRIPTS / "heap_locked_sha512.py", heap="256K")
    assert out.strip() == hashlib.sha512(b"").digest()[:8].hex()
