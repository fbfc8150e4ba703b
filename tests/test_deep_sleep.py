"""Deep sleep between periods (firmware/hal.py sleep_s, firmware/deep_sleep.py): an
ESP32 soil station on battery keeps its state in RTC memory and boots again
after each sleep, and the gateway sees exactly what a board that never slept
would send: no skipped sequence numbers, one boot, one attestation, every
reading. A power cut loses RTC memory, and the next boot is a boot."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import time

import pytest

from paymote.crypto import cbor
from paymote.firmware.deep_sleep import SleepingAgent
from paymote.firmware.profiles import SoilReadings
from paymote.firmware.storage import FlashStorage
from paymote.gateway.store import Store
from paymote.simulator import fleet, micropython_host
from paymote.simulator.host_hal import HostHal
from tests.gateway_helpers import running_gateway

PERIOD_S = 1800  # the farm board's interval_s
SPEED = 3600  # simulated seconds per real second: a period in half a second
RECORDS_PER_PERIOD = 3  # moisture, air temperature, air humidity (its BME280)


class _Farm:
    """A provisioned farm board on its flash, and the gateway's data beside it."""

    def __init__(self, root, mcu: str, speed: int = SPEED) -> None:
        self.root = root
        self.data_dir = root / "gateway"
        self.port = fleet.free_udp_port()
        self.spec = fleet.specs(root, 1, ["farm"], seed=7)[0]
        builds = fleet.build_all(root, {self.spec.board})
        fleet.provision_in_place([self.spec], builds, f"coap://127.0.0.1:{self.port}", self.data_dir)
        fleet.write_sim_files(self.spec, time.time(), speed, ack_timeout_ms=500)
        board_path = self.spec.flash / "board.json"
        board = json.loads(board_path.read_text())
        board["mcu"] = mcu  # the shipped rpi-pico2-w's soil station, on this MCU
        board_path.write_text(json.dumps(board))
        self.simlib = fleet.compile_simulator(root)

    def run(self, periods: int, files_max: int | None = None) -> subprocess.CompletedProcess:
        """The board's process for that many periods, then its power goes;
        files_max bounds the files it may hold open (RLIMIT_NOFILE)."""

        def limit_files() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (files_max, files_max))

        return subprocess.run(
            [
                micropython_host.command(),
                "-X",
                f"heapsize={fleet.sim_heap(self.spec.board)}",
                "-m",
                "simulator.board_main",
                ".",
                str(periods),
            ],
            cwd=self.spec.flash,
            env={"MICROPYPATH": f"lib:{os.path.relpath(self.simlib, self.spec.flash)}"},
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=limit_files if files_max is not None else None,
        )

    def stored(self, name: str) -> int:
        return int.from_bytes(FlashStorage(str(self.spec.flash)).read(name), "big")

    def gateway_saw(self) -> tuple[list[int], list, list]:
        """(reading batch sequence numbers, samples, attestations' (boot count, iat))."""
        device = self.spec.device_id
        with Store(self.data_dir) as store:
            seqs = [seq for seq in range(1, 40) if store.reading_batch(device, seq) is not None]
            return seqs, store.samples(device), store.attestation_times(device)


def _sample_times(samples) -> list[float]:
    times = sorted({t for _, _, _, t in samples})
    assert len(times) * RECORDS_PER_PERIOD == len(samples)  # every period gave all three
    return times


async def _run(farm: _Farm, periods: int, files_max: int | None = None) -> subprocess.CompletedProcess:
    async with running_gateway(farm.data_dir, port=farm.port):
        done = await asyncio.to_thread(farm.run, periods, files_max)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.mark.micropython
@pytest.mark.parametrize(("mcu", "deep_sleeps"), [("esp32s3", 8), ("rp2350", 0)])
async def test_a_soil_station_sleeps_deeply_only_where_rtc_memory_keeps_its_state(tmp_path, mcu, deep_sleeps):
    """8 periods of 30 minutes: on an ESP32 each ends in a deep sleep and a
    new boot of the interpreter's firmware loop; on an RP2350 (no RTC memory)
    light sleeps. The gateway gets the same from both: reading batches 1 and
    2 (four periods each, no numbers skipped), all 24 readings half an hour
    apart, one attestation of boot 1."""
    farm = _Farm(tmp_path, mcu)
    done = await _run(farm, 8)
    assert done.stdout.split()[-3:] == ["slept", "deeply", str(deep_sleeps)], done.stdout
    assert farm.stored("boot.count") == 1  # a wake is not a boot
    assert farm.stored("batch.reserved") == 16  # one block of numbers, reserved once
    seqs, samples, attestations = farm.gateway_saw()
    assert seqs == [1, 2]
    assert len(samples) == 8 * RECORDS_PER_PERIOD
    times = _sample_times(samples)
    # Simulated time runs on the real clock: a period is its interval and what the board did.
    assert all(PERIOD_S <= b - a < 2 * PERIOD_S for a, b in zip(times, times[1:], strict=False)), times
    assert [boot for boot, _ in attestations] == [1]


@pytest.mark.micropython
async def test_a_power_cut_in_deep_sleep_loses_rtc_memory_and_the_next_start_is_a_boot(tmp_path):
    """Five periods (batch 1 after the fourth), then the power goes while the
    ESP32 sleeps: the fifth period's readings were in RTC memory, not yet
    signed, and are gone (samples are data, not money: nothing signed is
    lost). The next start counts boot 2, attests it, and numbers its batch
    past the block the first boot reserved: 17."""
    farm = _Farm(tmp_path, "esp32s3")
    await _run(farm, 5)
    await _run(farm, 4)
    assert farm.stored("boot.count") == 2
    seqs, samples, attestations = farm.gateway_saw()
    assert seqs == [1, 17]
    assert len(_sample_times(samples)) == 8  # 4 + 4: the fifth period's are lost
    assert [boot for boot, _ in attestations] == [1, 2]


@pytest.mark.micropython
async def test_a_wake_leaves_nothing_open_from_the_boot_before(tmp_path):
    """Each boot opens its sockets (the CoAP client's, the watchdog's); the
    power going closes them, as it does a board's radio. Forty deep sleeps
    fit in 20 open files, where two sockets left open a wake would not."""
    farm = _Farm(tmp_path, "esp32s3", speed=10 * SPEED)
    done = await _run(farm, 40, files_max=20)
    assert done.stdout.split()[-3:] == ["slept", "deeply", "40"], done.stdout


# ---------------------------------------------------------------- the agent's carry, on CPython


class _Clock:
    def __init__(self) -> None:
        self.now_s = 1764547200

    def time_s(self) -> int:
        return self.now_s

    def ticks_ms(self) -> int:
        return time.monotonic_ns() // 1_000_000


class _Probe:
    def moisture_centi(self) -> int:
        return 3125


def _soil_agent(flash, clock, carried=None) -> SleepingAgent:
    """The farm product's agent on flash, with no gateway to answer: what it
    carries is what is tested."""
    config = {"gateway": "coap://127.0.0.1:9", "payer": "farm-1", "payee": "lender", "ack_timeout_ms": 1}
    product = {"profile": "soil", "interval_s": PERIOD_S}
    return SleepingAgent(HostHal(str(flash), clock), config, product, SoilReadings(_Probe()), None, carried)


@pytest.fixture
def soil_flash(tmp_path):
    from paymote.gateway import firmware_build

    flash = tmp_path / "flash"
    firmware_build.build("rpi-pico2-w", flash, arch="x64")
    (flash / "key.bin").write_bytes(os.urandom(32))
    return flash


def test_carry_keeps_what_ram_held_and_a_wake_writes_nothing(soil_flash):
    """What carry() keeps comes back whole in the next boot's agent: the
    numbers in hand, the boot count and measurement, the unsigned readings;
    the wake writes neither a boot count nor a reservation to flash."""
    clock = _Clock()
    first = _soil_agent(soil_flash, clock)
    first.period()  # offline: the records stay in RAM
    clock.now_s += PERIOD_S
    first.period()
    kept = first.carry()
    flash_before = {p.name: p.read_bytes() for p in soil_flash.iterdir() if p.is_file()}
    woken = _soil_agent(soil_flash, clock, kept)
    assert woken.carry() == kept
    assert woken.bootcount == first.bootcount == 1
    assert woken.measurement == first.measurement
    assert {p.name: p.read_bytes() for p in soil_flash.iterdir() if p.is_file()} == flash_before
    records = cbor.decode(kept)[9]
    assert [r[6] for r in records] == [0, PERIOD_S]  # SenML time of each period's sample


@pytest.mark.parametrize(
    "rtc_memory",
    [b"\xff\x00 noise", cbor.encode([99, 1, 1, 1, b"", None, None, 0, 0, [], 0, 0]), cbor.encode([1, 2])],
    ids=["not cbor", "another layout", "too short"],
)
def test_rtc_memory_that_is_not_this_layout_is_a_boot(soil_flash, rtc_memory):
    """Whatever RTC memory holds that carry() did not write (another firmware
    version's layout, noise) makes the start a boot: counted, measured, attested."""
    clock = _Clock()
    _soil_agent(soil_flash, clock)
    again = _soil_agent(soil_flash, clock, rtc_memory)
    assert again.bootcount == 2


def test_state_that_rtc_memory_cannot_hold_is_kept_by_a_light_sleep(soil_flash):
    """carry() gives None once the unsigned readings outgrow RTC memory
    (2,048 bytes, of which the HAL keeps 2 for its join back-off); the HAL then sleeps
    without powering down (tests/test_hal.py)."""
    clock = _Clock()
    agent = _soil_agent(soil_flash, clock)
    state = cbor.decode(agent.carry())
    state[11] = 1  # periods sampled: far from a batch (four)
    records = state[9]
    while len(cbor.encode(state)) <= 2046:  # a reading of the size the probe gives
        records.append({0: "moisture", 1: "/", 2: 0.3125, 6: clock.now_s + len(records)})
    records.pop()  # as full as RTC memory holds
    crowded = _soil_agent(soil_flash, clock, cbor.encode(state))
    assert crowded.carry() is not None
    crowded.period()  # one more reading
    assert crowded.carry() is None
