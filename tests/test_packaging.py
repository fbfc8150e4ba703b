"""The non-editable wheel carries crypto/, firmware/ and boards/ for building and flashing."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from tests.conftest import REPO


def test_wheel_contains_the_device_code(tmp_path):
    """A built wheel maps the top-level folders under the paymote namespace, with the CLI entry point."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("paymote-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for path in (
        "paymote/crypto/ed25519.py",
        "paymote/crypto/_ed25519_table.py",
        "paymote/crypto/sha512.py",
        "paymote/firmware/__init__.py",
        "paymote/boards/__init__.py",
        "paymote/boards/esp32-devkitc.toml",
        "paymote/boards/rpi-pico2-w.toml",
        "paymote/gateway/cli.py",
        "paymote/simulator/sample.py",
        "paymote/gateway/systemd/paymote-gateway.service",
    ):
        assert path in names
    assert not any(name.startswith(("tests/", "bench/", "crypto/")) for name in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "paymote = paymote.gateway.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
