"""`paymote provision` over a serial port to the real MicroPython interpreter on a pty:
install, key, registration, and the board's first intent accepted by a real gateway."""

from __future__ import annotations

import asyncio
import json
import os
import pty

import pytest

from paymote.crypto import cose
from paymote.gateway import provision
from paymote.gateway.cli import main
from paymote.gateway.raw_repl import RawRepl
from paymote.gateway.store import Store
from paymote.simulator.virtual_serial import VirtualBoard
from tests.gateway_helpers import running_gateway

pytestmark = pytest.mark.micropython

# Runs on the provisioned board: its own key, its own crypto and CoAP client.
FIRST_INTENT = """
import sys, json, os, socket, time
if 'lib' not in sys.path:
    sys.path.append('lib')
from crypto import cose, ed25519, messages
from firmware import coap
cfg = json.load(open('config.json'))
key = ed25519.SigningKey(open('key.bin', 'rb').read())
host, port = cfg['gateway'][7:].rstrip('/').rsplit(':', 1)
payload = messages.intent_payload(
    seq=1, time_s=1764374400, prev=messages.GENESIS_HASH, payer=cfg['payer'], payee=cfg['payee'],
    amount_minor=42, currency='EUR', evidence=[1, 0, 1400], tariff=[7, 2], period_s=900)
message = cose.sign1(payload, key, cose.key_id(key.public))
client = coap.Client(socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
                     socket.getaddrinfo(host, int(port))[0][-1], time.ticks_ms, os.urandom)
print(coap.dotted(client.request(coap.POST, 'i', message, 18).code))
"""


async def _provision(board, board_name, gateway, data_dir, **options):
    """`provision.provision` for a compiled x64 build, quietly, off the event loop."""
    return await asyncio.to_thread(
        lambda: provision.provision(
            board.port, board_name, gateway, data_dir, arch="x64", log=lambda message: None, **options
        )
    )


async def test_provision_then_the_first_intent_is_accepted(tmp_path):
    """Files checked on the board, the key made there and never sent, the device registered,
    and its first signed intent gets 2.01 from the gateway."""
    data_dir = tmp_path / "gateway"
    flash = tmp_path / "flash"
    async with running_gateway(data_dir) as gateway:
        with VirtualBoard(flash) as board:
            device, transcript = await _provision(
                board, "esp32-devkitc", f"coap://127.0.0.1:{gateway.port}", data_dir
            )
            repl = RawRepl(board.port)
            await asyncio.to_thread(repl.enter)
            answer = await asyncio.to_thread(repl.exec, FIRST_INTENT, 30)
            repl.close()
    seed = (flash / "key.bin").read_bytes()
    assert len(seed) == 32
    assert seed.hex().encode() not in transcript and seed not in transcript  # the key never left
    assert device.device_id == cose.key_id(device.public_key) and device.board == "esp32-devkitc"
    config = json.loads((flash / "config.json").read_text())
    assert config["payer"] == f"dev-{device.device_id.hex()}" and config["payee"] == "utility"
    assert (flash / "lib" / "crypto" / "ed25519.mpy").exists() and (flash / "manifest.json").exists()
    assert answer.strip() == "2.01"
    store = Store(data_dir)
    assert store.entry_count() == 1 and [d.device_id for d in store.devices()] == [device.device_id]
    store.close()


async def test_a_romfs_build_is_provisioned_only_onto_a_board_whose_romfs_holds_it(tmp_path):
    """A --romfs build's lib/ is not copied: refused (nothing registered) while the board's
    /rom lacks it; with its image mounted there (a ROM partition's stand-in), the board is
    provisioned without a lib/ on its filesystem and its first intent gets 2.01."""
    from paymote.gateway import firmware_build

    data_dir, flash, build = tmp_path / "gateway", tmp_path / "flash", tmp_path / "build"
    manifest = firmware_build.build("esp32-devkitc", build, arch="x64", romfs=True)
    async with running_gateway(data_dir) as gateway:
        uri = f"coap://127.0.0.1:{gateway.port}"
        with VirtualBoard(flash, heap="256K") as board:  # the image, mounted below, is in its heap
            with pytest.raises(
                provision.ProvisionError, match=r"/rom/lib/.* is missing.*mpremote romfs deploy"
            ):
                await _provision(board, "esp32-devkitc", uri, data_dir, build=build)
            with Store(data_dir) as store:
                assert store.devices() == []
            repl = RawRepl(board.port)
            await asyncio.to_thread(repl.enter)
            image = str(build / manifest["romfs"]["path"])
            mount = f"import sys, vfs\nvfs.mount(vfs.VfsRom(open({image!r}, 'rb').read()), '/rom')\n"
            await asyncio.to_thread(repl.exec, mount + "sys.path.insert(0, '/rom/lib')")
            repl.close()
            device, _ = await _provision(board, "esp32-devkitc", uri, data_dir, build=build)
            repl = RawRepl(board.port)
            await asyncio.to_thread(repl.enter)
            answer = await asyncio.to_thread(repl.exec, FIRST_INTENT, 30)
            repl.close()
    assert not (flash / "lib" / "crypto").exists() and (flash / "manifest.txt").exists()
    assert answer.strip() == "2.01"
    with Store(data_dir) as store:
        assert [d.device_id for d in store.devices()] == [device.device_id]


async def test_reprovisioning_keeps_the_key_and_registers_nothing_twice(tmp_path):
    """A second run finds the board's key and stops at registration, naming why. The
    first asked for batches of 16 (the Pico W's 164 KB heap takes them): config.json says so."""
    data_dir, flash = tmp_path / "gateway", tmp_path / "flash"
    with VirtualBoard(flash) as board:
        first, _ = await _provision(board, "rpi-pico-w", "coap://127.0.0.1:5683", data_dir, batch_intents=16)
        assert json.loads((flash / "config.json").read_text())["batch_intents"] == 16
        with pytest.raises(provision.ProvisionError, match="already registered"):
            await _provision(board, "rpi-pico-w", "coap://127.0.0.1:5683", data_dir)
    store = Store(data_dir)
    assert [d.public_key for d in store.devices()] == [first.public_key]
    store.close()


def test_a_port_with_no_board_registers_nothing(tmp_path, capsys):
    """A serial port where nothing answers: a clear error, and the registry stays empty."""
    master, slave = pty.openpty()
    try:
        code = main(
            [
                "provision",
                "--port",
                os.ttyname(slave),
                "--board",
                "esp32-devkitc",
                "--gateway",
                "coap://127.0.0.1:5683",
                "--data",
                str(tmp_path / "gw"),
                "--arch",
                "x64",
            ]
        )
    finally:
        os.close(master)
        os.close(slave)
    assert code == 1
    assert "no answer" in capsys.readouterr().err
    store = Store(tmp_path / "gw")
    assert store.devices() == []
    store.close()


def test_bad_port_gateway_or_accounts_are_refused_before_anything_happens(tmp_path, capsys):
    """A port that does not exist, a gateway that is not coap://HOST:PORT, an account the
    registry would refuse, an unknown architecture: a clear error, the board untouched."""
    args = ["provision", "--board", "esp32-devkitc", "--data", str(tmp_path), "--arch", "x64"]
    assert main([*args, "--port", "/dev/nonexistent-tty", "--gateway", "coap://127.0.0.1:5683"]) == 1
    assert "cannot open /dev/nonexistent-tty" in capsys.readouterr().err
    assert main([*args, "--port", "/dev/null", "--gateway", "http://example"]) == 1
    assert "coap://HOST:PORT" in capsys.readouterr().err
    ok_gateway = ["--port", "/dev/null", "--gateway", "coap://127.0.0.1:5683"]
    assert main([*args, *ok_gateway, "--payer", "Household 17"]) == 1
    assert "account 'Household 17'" in capsys.readouterr().err
    assert main([*args[:-1], "no-such-arch", *ok_gateway]) == 1
    assert "mpy-cross -march=no-such-arch" in capsys.readouterr().err
    assert main([*args, *ok_gateway, "--batch-intents", "33"]) == 1
    assert "--batch-intents wants 1 to 32, not 33" in capsys.readouterr().err
    assert main([*args, *ok_gateway, "--batch-intents", "3"]) == 1  # the ESP32's 96 KB heap
    assert "esp32-devkitc's 96 KB heap takes batches of at most 2" in capsys.readouterr().err


def test_the_batch_limits_are_the_agents():
    """provision refuses what firmware/agent.py would not take or could not fit."""
    from paymote.firmware import agent

    assert provision.BATCH_INTENTS_MAX == agent._GATEWAY_BATCH_MAX
    assert provision.SMALL_HEAP_BYTES == agent._SMALL_HEAP_BYTES
    assert provision.SMALL_HEAP_BATCH_MAX == agent._SMALL_BATCH
