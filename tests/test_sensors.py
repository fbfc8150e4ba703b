"""Sensor drivers against register- and edge-level fakes of the parts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paymote.firmware import sensors
from paymote.simulator import parts
from tests.conftest import MPY_SCRIPTS, run_cpython, run_micropython


def test_crc_matches_the_datasheet_example():
    """CRC-8 (0x31, init 0xFF) of 0xBEEF is 0x92 (SHT3x datasheet)."""
    assert sensors.crc8_sensirion(b"\xbe\xef") == 0x92


@given(st.integers(-4500, 13000), st.integers(0, 10000))
def test_sht31_reads_back_what_the_part_measured(celsius_centi, rh_centi):
    """Any temperature and humidity round-trip through the part's raw encoding within 0.01."""
    part = parts.FakeSHT31(celsius_centi=celsius_centi, rh_centi=rh_centi)
    t, rh = sensors.SHT31(parts.FakeI2C(part), lambda ms: None).measure()
    assert abs(t - celsius_centi) <= 1 and abs(rh - rh_centi) <= 1


@pytest.mark.parametrize("fault", ["nack", "corrupt"])
def test_sht31_faults_are_sensor_errors(fault):
    """An I2C NACK or a failed CRC raises SensorError naming the part, never a wrong value."""
    part = parts.FakeSHT31()
    setattr(part, fault, True)
    with pytest.raises(sensors.SensorError, match="SHT31"):
        sensors.SHT31(parts.FakeI2C(part), lambda ms: None).measure()


def test_sht31_waits_for_the_measurement():
    """The driver sleeps the datasheet's measurement time between command and read."""
    slept = []
    sensors.SHT31(parts.FakeI2C(parts.FakeSHT31()), slept.append).measure()
    assert slept == [sensors.SHT31_MEASURE_MS]


def test_pulse_meter_counts_and_debounces():
    """Edges within debounce_ms of the last counted one are bounces; 1,000 pulses per kWh."""
    now = [0]
    pin = parts.FakePin()
    meter = sensors.PulseMeter(
        pin, pulses_per_kwh=1000, debounce_ms=20, ticks_ms=lambda: now[0], ticks_diff=lambda a, b: a - b
    )
    for t in range(0, 3000 * 50, 50):  # 3,000 clean pulses, each followed by a bounce 3 ms later
        for at in (t, t + 3):
            now[0] = at
            pin.falling()
    assert (meter.pulses, meter.bounces, meter.energy_wh()) == (3000, 3000, 3000)


def test_same_results_on_micropython(compiled):
    """The drivers and fakes behave identically on the MicroPython interpreter."""
    script = MPY_SCRIPTS / "driver_scenarios.py"
    out = run_micropython(script, path=compiled)
    assert out == run_cpython(script)
    assert "sht31 (2150, 4000)" in out and "pulses 4 bounces 4 wh 4" in out
    assert "soil 36500 5000" in out
    assert "accel 24 (-450, 120, 980)" in out and "handling events 3" in out
    assert "bme280 example 2508 100653" in out


def test_soil_probe_maps_its_calibration_to_percent():
    """Dry reads 0 %, wet 100 %, halfway 50 %; readings beyond the calibration are clamped."""
    adc = parts.FakeADC()
    probe = sensors.SoilProbe(adc, dry_raw=52000, wet_raw=21000)
    for raw, expected in ((52000, 0), (21000, 10000), (36500, 5000), (65535, 0), (0, 10000)):
        adc.raw = raw
        assert probe.moisture_centi() == expected
    with pytest.raises(ValueError):
        sensors.SoilProbe(adc, dry_raw=100, wet_raw=200)


@pytest.mark.parametrize("part_class", [parts.FakeLIS3DH, parts.FakeMPU6050])
@given(st.tuples(*[st.integers(-2000, 1999)] * 3))
def test_accelerometers_read_back_what_the_part_measures(part_class, mg):
    """LIS3DH (12-bit, 1 mg a digit) exactly; MPU-6050 (16,384 a g) within 1 mg."""
    from paymote.firmware import motion

    part = part_class()
    driver = motion.PARTS["lis3dh" if part.address == 0x18 else "mpu6050"](parts.FakeI2C(part), part.address)
    part.mg = mg
    read = driver.acceleration_mg()
    tolerance = 0 if part_class is parts.FakeLIS3DH else 1
    assert all(abs(r - m) <= tolerance for r, m in zip(read, mg, strict=True)), (read, mg)


def test_accelerometer_drivers_configure_their_parts():
    """LIS3DH: 100 Hz with X, Y, Z on, block data update, high resolution, ±2 g.
    MPU-6050: woken from the sleep it powers up in, ±2 g."""
    from paymote.firmware import motion

    lis = parts.FakeLIS3DH()
    motion.LIS3DH(parts.FakeI2C(lis))
    assert lis.registers[0x20] == 0x57 and lis.registers[0x23] == 0x88
    mpu = parts.FakeMPU6050()
    mpu.registers[0x1C] = 0x18  # left at ±16 g by an earlier program
    motion.MPU6050(parts.FakeI2C(mpu))
    assert mpu.registers[0x6B] == 0 and mpu.registers[0x1C] == 0


def test_accelerometer_nack_and_wrong_part_are_sensor_errors():
    """A part that does not answer, or answers WHO_AM_I as another part, is refused."""
    from paymote.firmware import motion

    with pytest.raises(sensors.SensorError, match="did not answer"):
        motion.LIS3DH(parts.FakeI2C())  # nothing at 0x18
    with pytest.raises(sensors.SensorError, match="is not a MPU-6050"):
        motion.MPU6050(parts.FakeI2C(parts.FakeLIS3DH(address=0x68)))
    part = parts.FakeMPU6050()
    driver = motion.MPU6050(parts.FakeI2C(part))
    part.nack = True
    with pytest.raises(sensors.SensorError):
        driver.acceleration_mg()


def test_one_long_brake_is_one_event_and_two_brakes_are_two():
    """Above the threshold starts an event; it ends below half the threshold."""
    from paymote.firmware import motion

    events = motion.HandlingEvents(threshold_mg=350)
    for x in (0, -400, -600, -300, -200, -400, -100):  # dips to 200 mg mid-brake: still one
        events.sample(x, 0)
    assert events.events == 1
    for x, y in ((0, 0), (250, 250), (0, 0)):  # 354 mg sideways: a second event
        events.sample(x, y)
    assert events.events == 2


def test_bme280_reproduces_the_datasheets_example():
    """adc_T 519888 and adc_P 415148 with the example calibration are 25.08 °C
    and 100,653 Pa (BMP280 datasheet §3.12, the BME280's same formulas)."""
    from paymote.firmware import bme280

    driver = bme280.BME280(parts.FakeI2C(parts.FakeBME280()), lambda ms: None)
    adc_p, adc_t, _ = driver.read_raw()
    t_fine = driver._t_fine(adc_t)
    assert (adc_p, adc_t) == (415148, 519888)
    assert (t_fine * 5 + 128) >> 8 == 2508
    assert driver.pressure_pa(adc_p, t_fine) == 100653


@given(st.integers(-3500, 6000), st.integers(500, 9900))
def test_bme280_integer_compensation_agrees_with_the_floating_point_one(celsius_centi, rh_centi):
    """The fake finds raw values with the datasheet's double-precision formulas;
    the driver's integer ones read them back within 0.02 °C and 0.1 %RH."""
    from paymote.firmware import bme280

    part = parts.FakeBME280()
    part.set(celsius_centi, rh_centi)
    t, rh = bme280.BME280(parts.FakeI2C(part), lambda ms: None).measure()
    assert abs(t - celsius_centi) <= 2 and abs(rh - rh_centi) <= 10, (t, rh)


def test_bme280_refuses_silence_another_chip_and_a_measurement_that_never_ends():
    """NACK, a chip id other than 0x60, and a status that stays busy are SensorErrors;
    it waits for the measurement it started (forced mode) before reading."""
    from paymote.firmware import bme280

    with pytest.raises(sensors.SensorError, match="did not answer"):
        bme280.BME280(parts.FakeI2C(), lambda ms: None)
    other = parts.FakeBME280()
    other.registers[0xD0] = 0x58  # a BMP280: no humidity
    with pytest.raises(sensors.SensorError, match="is not a BME280"):
        bme280.BME280(parts.FakeI2C(other), lambda ms: None)
    part = parts.FakeBME280()
    slept = []
    driver = bme280.BME280(parts.FakeI2C(part), slept.append)
    driver.measure()
    assert slept == [bme280.MEASURE_MS, bme280.MEASURE_MS]  # busy once, then done
    part.read_register = lambda start, n: b"\x08" * n  # stuck measuring
    with pytest.raises(sensors.SensorError, match="did not finish"):
        driver.measure()


def test_the_farm_boards_readings_carry_its_bme280(tmp_path):
    """The Pico 2 W farm board reads soil moisture and, from its BME280 at
    0x76, the air's temperature and humidity; a NACK later skips the climate."""
    import json
    from dataclasses import asdict

    from paymote import boards
    from paymote.crypto import messages
    from paymote.firmware import profiles
    from paymote.simulator import board_main, world

    board = json.loads(json.dumps(asdict(boards.load("rpi-pico2-w"))))
    hal = parts.PartsHal(str(tmp_path), world.SimClock(0, 1764576000, 1))
    board_main.i2c_parts(hal, board)
    readings = profiles.billing_for(hal, board)
    names = [r[messages.SENML_NAME] for r in readings.records(0)]
    assert names == ["moisture", "air-temp", "air-humidity"]  # RFC 8428 §4.5.1: no spaces in names
    assert [float(r[messages.SENML_VALUE]) for r in readings.records(0)[1:]] == [18.0, 60.0]
    hal.i2c_bus.parts[0x76].nack = True
    assert [r[messages.SENML_NAME] for r in readings.records(0)] == ["moisture"]
    assert readings.sensor_errors == 1
