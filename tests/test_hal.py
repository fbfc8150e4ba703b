"""firmware/hal.py, the board's HAL, on the MicroPython interpreter against
fakes of machine, network and ntptime (tests/mpy/board_fakes/): it joins the
configured Wi-Fi or gives up with a clear error, falls back from NTP, sets the
RTC with MicroPython's weekday numbering, sleeps in slices that keep the
watchdog fed, and builds each part once on the board definition's pins.
It is board-only code (time.ticks_ms, machine), so it runs on MicroPython only."""

from __future__ import annotations

from tests.conftest import MPY_SCRIPTS, run_micropython


def test_the_board_hal_on_micropython(tmp_path):
    out = run_micropython(MPY_SCRIPTS / "hal_scenarios.py", str(tmp_path)).splitlines()
    assert out[0] == "joined [('farm', 's3cret')]"
    assert out[1] == "no network refused Wi-Fi farm did not connect"
    assert out[2:4] == ["ntp down: synced False", "ntp up: synced True"]
    assert out[4] == "rtc [('RTC.datetime', (2025, 11, 29, 5, 0, 0, 0, 0))]"  # a Saturday: 5 from Monday
    # 10 s on a battery board: light sleeps of at most 4 s, the 8 s watchdog fed around each
    assert out[5] == (
        "sleep [('feed',), ('lightsleep', 4000), ('feed',), ('lightsleep', 4000), ('feed',), "
        "('lightsleep', 2000), ('feed',)]"
    )
    parts = out[6]
    assert parts.count("('Pin', 34, 1, 2)") == 1  # an input with pull-up, made once
    assert parts.count("('SoftI2C', 22, 21, 100000)") == 1  # scl, sda from the board's pins, made once
    assert "('UART', 1, 9600, 17, 18, 512)" in parts and "('ADC', 26)" in parts
    assert out[7] == "no i2c pins None"  # a board without I2C pins has no bus
