"""`paymote provision`: make a board a registered device, over its serial port.

1. build the firmware for the board (firmware_build) and copy every file over
   the raw REPL, checking each one's SHA-256 on the board against the manifest
   (for a --romfs build, lib/ is checked where the board's ROMFS holds it,
   /rom/lib, and must have been deployed there first: `mpremote romfs deploy`);
2. write config.json (gateway, Wi-Fi, accounts, batch size);
3. have the board make its Ed25519 key from os.urandom, or keep the one it has,
   and read back only the public key (no code path sends the private key);
4. only then register the device in the gateway's registry, in one
   transaction: a board that fails any step leaves nothing registered.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from paymote import boards
from paymote.crypto import cose, ed25519
from paymote.crypto.errors import FieldError
from paymote.gateway import firmware_build, registry
from paymote.gateway.raw_repl import NoBoard, RawRepl, ReplError
from paymote.gateway.store import Device, Store, StoreError

KEY_FILE = "key.bin"
ROM_MOUNT = "/rom/"  # where a board mounts its ROMFS (MicroPython 1.25+)
CONFIG_FILE = "config.json"
_GATEWAY_URI = re.compile(r"coap://([^/:]+|\[[0-9a-fA-F:]+\]):(\d{1,5})/?")
# Intents per batch upload (config.json's batch_intents), as firmware/agent.py takes them:
# up to the gateway's 32 for /b, and at most 2 on a heap under 128 KB (an ESP32 without
# PSRAM), which has no room for a longer answer (docs/performance.md). The agent's own
# defaults are 2 there and 5 elsewhere; tests/test_provision.py holds these to its constants.
BATCH_INTENTS_MAX = 32
SMALL_HEAP_BYTES = 131072
SMALL_HEAP_BATCH_MAX = 2

# Runs on the board: the seed never leaves it; only the public key is printed.
_KEY_CODE = """
import sys
if 'lib' not in sys.path:
    sys.path.append('lib')
from crypto import ed25519
from crypto._compat import random_bytes
try:
    f = open('key.bin', 'rb')
    seed = f.read()
    f.close()
except OSError:
    seed = random_bytes(32)
    f = open('key.bin', 'wb')
    f.write(seed)
    f.close()
print(ed25519.SigningKey(seed).public.hex())
seed = None
"""


class ProvisionError(RuntimeError):
    """Provisioning stopped; the message says where and why."""


def provision(
    port: str,
    board_name: str,
    gateway_uri: str,
    data_dir: Path,
    payer: str | None = None,
    payee: str | None = None,
    wifi: tuple[str, str] | None = None,
    arch: str | None = None,
    log=print,
    build: Path | None = None,
    batch_intents: int | None = None,
) -> tuple[Device, bytes]:
    """Provision and register; returns (the registered device, the serial transcript).
    build: a `paymote firmware build` of this board to install (default: build one now);
    batch_intents: intents per batch upload (default: the firmware's for the board's heap)."""
    if not _GATEWAY_URI.fullmatch(gateway_uri):
        raise ProvisionError(f"--gateway wants coap://HOST:PORT, not {gateway_uri!r}")
    try:
        board = boards.load(board_name)
    except boards.BoardError as e:
        raise ProvisionError(str(e)) from None
    if batch_intents is not None:
        _check_batch_intents(board, batch_intents)
    payee = payee or board.product.get("payee")
    if not payee:
        raise ProvisionError(f"{board_name} names no payee in its product; give --allow-payee")
    try:  # before touching the board: its config must name accounts the registry takes
        registry.check_accounts(payer or "dev-0000000000000000", [payee])
    except registry.RegistryError as e:
        raise ProvisionError(str(e)) from None
    with tempfile.TemporaryDirectory() as tmp:
        if build is None:
            build_dir = Path(tmp) / "build"
            try:
                manifest = firmware_build.build(board_name, build_dir, arch)
            except firmware_build.BuildError as e:
                raise ProvisionError(str(e)) from None
            digest = manifest["digest"][:16]
            log(f"built {len(manifest['files'])} files for {board_name}, measurement {digest}...")
        else:
            build_dir = build
            manifest = json.loads((build / "manifest.json").read_text())
        try:
            repl = RawRepl(port)
        except NoBoard as e:
            raise ProvisionError(str(e)) from None
        try:
            public = _install(repl, build_dir, manifest, log)
            payer = payer or f"dev-{cose.key_id(public).hex()}"
            config = _config(board, gateway_uri, payer, payee, wifi, batch_intents)
            repl.put(json.dumps(config).encode(), CONFIG_FILE)
            repl.exit()
        except (NoBoard, ReplError, OSError) as e:
            raise ProvisionError(f"{port}: {e}; nothing was registered") from None
        finally:
            repl.close()
    try:
        ed25519.check_public_key(public)
    except FieldError as e:
        raise ProvisionError(f"the board's public key is refused: {e}") from None
    device_id = cose.key_id(public)
    try:
        with Store(data_dir) as store:
            device = registry.add(store, public, payer, [payee], int(time.time()), board=board_name)
    except registry.RegistryError as e:
        raise ProvisionError(f"registration refused: {e}") from None
    except StoreError as e:  # a PostgreSQL ledger out of reach
        raise ProvisionError(f"registration failed: {e}") from None
    log(f"registered device {device_id.hex()} (public key {public.hex()})")
    return device, bytes(repl.transcript)


def _check_batch_intents(board: boards.Board, batch_intents: int) -> None:
    if not 1 <= batch_intents <= BATCH_INTENTS_MAX:
        raise ProvisionError(f"--batch-intents wants 1 to {BATCH_INTENTS_MAX}, not {batch_intents}")
    if board.heap_bytes < SMALL_HEAP_BYTES and batch_intents > SMALL_HEAP_BATCH_MAX:
        raise ProvisionError(
            f"--batch-intents {batch_intents}: {board.name}'s {board.heap_bytes // 1024} KB heap "
            f"takes batches of at most {SMALL_HEAP_BATCH_MAX}"
        )


def _config(board: boards.Board, gateway_uri: str, payer, payee, wifi, batch_intents=None) -> dict[str, Any]:
    config = {
        "board": board.name,
        "gateway": gateway_uri,
        "payer": payer,
        "payee": payee,
        "wifi_ssid": wifi[0] if wifi else None,
        "wifi_password": wifi[1] if wifi else None,
    }
    if batch_intents is not None:
        config["batch_intents"] = batch_intents
    return config


def _install(repl: RawRepl, build_dir: Path, manifest: dict, log) -> bytes:
    """Copy and check the build, then have the board make (or keep) its key;
    returns its public key."""
    repl.enter()
    rom_folder = manifest.get("romfs", {}).get("holds")
    in_rom: list[dict] = []
    copied: list[dict] = []
    for entry in manifest["files"]:
        (in_rom if rom_folder and entry["path"].startswith(rom_folder + "/") else copied).append(entry)
    if in_rom:
        _check_rom(repl, build_dir, in_rom)
        log(f"checked {len(in_rom)} files in the board's ROMFS")
    folders = sorted({str(Path(f["path"]).parent) for f in copied} - {"."})
    for folder in ["lib", *folders]:
        repl.mkdir(folder)
    for entry in copied:
        data = (build_dir / entry["path"]).read_bytes()
        repl.put(data, entry["path"])
        if repl.sha256(entry["path"]) != entry["sha256"]:
            raise ReplError(f"{entry['path']} arrived corrupted")
    for name in ("manifest.json", "manifest.txt"):
        repl.put((build_dir / name).read_bytes(), name)
    log(f"copied and checked {len(copied)} files")
    public_hex = repl.exec(_KEY_CODE, timeout_s=30).strip()
    if not re.fullmatch(r"[0-9a-f]{64}", public_hex):
        raise ReplError(f"the board answered {public_hex!r} instead of a public key")
    return bytes.fromhex(public_hex)


def _check_rom(repl: RawRepl, build_dir: Path, in_rom: list[dict]) -> None:
    """Each of the build's files that live in its ROMFS image is on the board's
    ROMFS (/rom) with the manifest's SHA-256: provisioning does not write a ROM
    partition (the unix port it is tested on has none to test that with)."""
    for entry in in_rom:
        path = ROM_MOUNT + entry["path"]
        try:
            found: str | None = repl.sha256(path)
        except FileNotFoundError:  # raw_repl maps the board's ENOENT
            found = None
        if found != entry["sha256"]:
            state = "missing" if found is None else "a different file"
            raise ReplError(
                f"{path} is {state} on the board: deploy this build's ROMFS first "
                f"(`mpremote romfs deploy {build_dir / firmware_build.ROMFS_FILE}`)"
            )


def run(args) -> int:
    wifi = (args.wifi_ssid, args.wifi_password or "") if args.wifi_ssid else None
    log = (lambda message: None) if args.json else print
    try:
        device, _ = provision(
            args.port,
            args.board,
            args.gateway,
            args.data,
            args.payer,
            args.allow_payee,
            wifi,
            args.arch,
            log,
            batch_intents=args.batch_intents,
        )
    except ProvisionError as e:
        print(f"paymote provision: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(registry.as_json(device)))
    return 0
