"""The distance and delivery profiles: odometer and harsh braking from NMEA,
deliveries paid exactly once across a power cut; the same on MicroPython."""

from __future__ import annotations

from paymote.firmware import profiles
from tests.conftest import MPY_SCRIPTS, run_cpython, run_micropython


def test_odometer_measures_the_drive_and_counts_a_harsh_braking_once(tmp_path):
    """600 s at 20 m/s is 12 km within 0.5 %; a 15 m/s drop in one second is one event."""
    out = run_cpython(MPY_SCRIPTS / "profile_scenarios.py", str(tmp_path / "flash"))
    first, second = (line.split() for line in out.splitlines()[:2])
    assert abs(int(first[1]) - 12000) <= 60 and first[3] == "0"
    assert second[3] == "1"  # one braking, though two seconds were below the earlier speed
    assert "rejected 1" in out  # the sentence with a bad checksum


def test_a_delivery_is_charged_exactly_once_across_a_power_cut(tmp_path):
    """Pressed at its stop: one charge; a reboot before signing charges it again (once);
    after it is signed nothing more; a press at a delivered stop is counted as away."""
    out = run_cpython(MPY_SCRIPTS / "profile_scenarios.py", str(tmp_path / "flash"))
    assert "charge (250, [3, 'c-1', 1])" in out
    assert "after the cut (250, [3, 'c-1', 1])" in out
    assert "once signed None" in out
    assert "second press None 1" in out


def test_same_results_on_micropython(tmp_path):
    """The profiles behave identically on the MicroPython interpreter."""
    script = MPY_SCRIPTS / "profile_scenarios.py"
    assert run_micropython(script, str(tmp_path / "a"), heap="256K") == run_cpython(
        script, str(tmp_path / "b")
    )


def test_distance_between_nearby_points():
    """One thousandth of a degree of latitude is 111.2 m, of longitude at 52.37 N about 67.9 m."""
    assert abs(profiles.distance_mm(523700000, 48900000, 523710000, 48900000) - 111195) <= 2
    assert abs(profiles.distance_mm(523700000, 48900000, 523700000, 48910000) - 67860) <= 100


def test_the_accelerometer_counts_handling_events_in_the_odometers_poll(tmp_path):
    """An MPU-6050 sampled once a second: a long brake and a short one are two
    events, reported in the readings; a sample the part NACKs is counted missed."""
    out = run_cpython(MPY_SCRIPTS / "profile_scenarios.py", str(tmp_path / "flash"))
    handling = next(line for line in out.splitlines() if line.startswith("handling"))
    assert handling == "handling [{0: 'handling', 1: 'count', 2: 2, 6: 1764576000}] 1"


def test_every_board_with_an_accelerometer_gets_its_part(tmp_path):
    """The S3 van terminal has a LIS3DH, the Pico W car an MPU-6050: on the
    simulator's parts each board's firmware finds its part by WHO_AM_I and
    reads it; a board file naming the wrong part runs without (no handling
    count in its readings rather than wrong numbers)."""
    import json
    from dataclasses import asdict

    from paymote import boards
    from paymote.simulator import board_main, parts, world

    clock = world.SimClock(0, 1764576000, 1)
    for name, driver in (("esp32-s3-devkitc", "LIS3DH"), ("rpi-pico-w", "MPU6050")):
        board = json.loads(json.dumps(asdict(boards.load(name))))
        hal = parts.PartsHal(str(tmp_path), clock)
        part = board_main.i2c_parts(hal, board)["accelerometer"]
        found = profiles._motion(hal, board)
        assert type(found._accelerometer).__name__ == driver
        part.mg = (-700, 0, 1000)
        found.poll()
        assert found.events == 1
        sensor = next(s for s in board["sensors"] if s["kind"] == "accelerometer")
        sensor["part"] = "mpu6050" if driver == "LIS3DH" else "lis3dh"
        assert profiles._motion(hal, board) is None
