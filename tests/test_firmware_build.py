"""`paymote firmware build`: the board's files, their manifest and the measurement digest."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import asdict

import pytest

from paymote import boards
from paymote.crypto import cose, ed25519
from paymote.gateway import firmware_build
from paymote.gateway.cli import main
from tests.conftest import REPO, micropython_binary, run_micropython


@pytest.mark.parametrize("board", boards.names())
def test_build_lays_out_every_module_with_a_checked_manifest(tmp_path, board):
    """Every crypto/ and firmware/ module compiled for the board's arch; the manifest's hashes
    and digest recompute from the files; build-time code is left out."""
    out = tmp_path / "out"
    manifest = firmware_build.build(board, out)
    assert manifest["mpy_arch"] == boards.load(board).mpy_arch
    paths = {f["path"] for f in manifest["files"]}
    assert {"lib/crypto/ed25519.mpy", "lib/crypto/cose.mpy", "lib/firmware/outbox.mpy", "board.json"} <= paths
    assert {"main.py", "lib/firmware/board.mpy", "lib/firmware/hal.mpy"} <= paths  # what a board boots
    assert "lib/crypto/_ed25519_tablegen.mpy" not in paths
    assert "lib/crypto/_cbor_host.mpy" not in paths  # CPython's accelerator: a board has no cbor2
    assert "lib/crypto/inbound.mpy" not in paths  # the parsers: a board only builds messages
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} - {
        "manifest.json",
        "manifest.txt",
    }
    assert on_disk == paths
    files = {f["path"]: hashlib.sha256((out / f["path"]).read_bytes()).hexdigest() for f in manifest["files"]}
    assert all(f["sha256"] == files[f["path"]] for f in manifest["files"])
    assert manifest["digest"] == firmware_build.digest_of(files)
    assert json.loads((out / "manifest.json").read_text()) == manifest
    digest_input = (out / "manifest.txt").read_bytes()
    assert hashlib.sha256(digest_input).hexdigest() == manifest["digest"]
    assert json.loads((out / "board.json").read_text()) == json.loads(json.dumps(asdict(boards.load(board))))


def test_same_sources_same_digest_and_any_change_shows(tmp_path):
    """Two builds agree byte for byte, also from a copy of the sources somewhere else (the
    reference value must not depend on a checkout's path); one changed source byte changes
    the measurement."""
    first = firmware_build.build("rpi-pico-w", tmp_path / "a")["digest"]
    assert firmware_build.build("rpi-pico-w", tmp_path / "b")["digest"] == first
    root = tmp_path / "src"
    for package in ("crypto", "firmware"):
        shutil.copytree(REPO / package, root / package)
    assert firmware_build.build("rpi-pico-w", tmp_path / "elsewhere", source_root=root)["digest"] == first
    assert str(REPO).encode() not in (tmp_path / "a" / "lib" / "firmware" / "agent.mpy").read_bytes()
    (root / "firmware" / "counter.py").write_text(
        (REPO / "firmware" / "counter.py").read_text().replace("16", "17")
    )
    changed = firmware_build.build("rpi-pico-w", tmp_path / "c", source_root=root)["digest"]
    assert changed != first


@pytest.mark.micropython
def test_an_x64_build_runs_on_micropython(tmp_path):
    """The simulator's build of a board (--arch x64) loads from lib/ and signs like CPython does."""
    out = tmp_path / "out"
    firmware_build.build("esp32-devkitc", out, arch="x64")
    script = tmp_path / "sign.py"
    script.write_text(
        "from crypto import cose, ed25519\n"
        "from firmware import coap, outbox, counter, storage\n"
        "key = ed25519.SigningKey(bytes(range(32)))\n"
        "print(cose.sign1(b'\\xa1\\x01\\x02', key, cose.key_id(key.public)).hex())\n"
    )
    proc = subprocess.run(
        [micropython_binary(), "-X", "heapsize=96K", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, MICROPYPATH=str(out / "lib")),
    )
    assert proc.returncode == 0, proc.stderr
    key = ed25519.SigningKey(bytes(range(32)))
    assert proc.stdout.strip() == cose.sign1(b"\xa1\x01\x02", key, cose.key_id(key.public)).hex()


@pytest.mark.micropython
def test_a_romfs_build_holds_lib_in_its_image_with_the_same_manifest(tmp_path, capsys):
    """--romfs: lib/ only in romfs.img, whose files MicroPython reads back with the
    manifest's hashes at /rom/lib; the manifest, and so the digest, is the plain build's."""
    assert main(["firmware", "build", "--board", "rpi-pico-w", "--out", str(tmp_path / "r"), "--romfs"]) == 0
    assert "mpremote romfs deploy" in capsys.readouterr().out
    plain = firmware_build.build("rpi-pico-w", tmp_path / "p")
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["files"] == plain["files"] and manifest["digest"] == plain["digest"]
    assert not (tmp_path / "r" / "lib").exists()
    image = (tmp_path / "r" / manifest["romfs"]["path"]).read_bytes()
    assert manifest["romfs"]["sha256"] == hashlib.sha256(image).hexdigest()
    listing = run_micropython(REPO / "tests" / "mpy" / "romfs_walk.py", str(tmp_path / "r" / "romfs.img"))
    in_image = {line.split()[0]: line.split()[-1] for line in listing.splitlines()[:-1]}
    assert in_image == {f["path"]: f["sha256"] for f in plain["files"] if f["path"].startswith("lib/")}


def test_cli(tmp_path, capsys):
    """--json prints the manifest; an unknown board is an error that names the known ones."""
    assert main(["firmware", "build", "--board", "rpi-pico2-w", "--out", str(tmp_path / "o"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (
        printed["board"] == "rpi-pico2-w"
        and printed["mpy_arch"] == "armv7emsp"
        and len(printed["digest"]) == 64
    )
    assert main(["firmware", "build", "--board", "nope", "--out", str(tmp_path / "x")]) == 1
    assert "known boards" in capsys.readouterr().err
