"""Sensor drivers over machine-style buses and pins, all injected, so a board
passes machine.I2C / machine.Pin and the simulator passes its parts
(simulator/parts.py) with the same methods. Readings are integers.
"""

try:  # CPython, installed: one copy of each module
    from paymote.crypto._compat import const
except ImportError:  # on a board
    from crypto._compat import const

SHT31_MEASURE = b"\x24\x00"  # single shot, high repeatability, no clock stretching
SHT31_MEASURE_MS = const(16)  # datasheet: 15.5 ms at high repeatability


def find(board, kind):
    """The board definition's (board.json's) first sensor of kind, or None."""
    for sensor in board["sensors"]:
        if sensor["kind"] == kind:
            return sensor
    return None


class SensorError(OSError):
    """A part that did not answer (I2C NACK) or answered corrupted data."""


def crc8_sensirion(data):
    """CRC-8, polynomial 0x31, init 0xFF (SHT3x datasheet §4.12): CRC(BE EF) = 0x92."""
    crc = 0xFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


class SHT31:
    """Sensirion SHT31 temperature and humidity over I2C."""

    def __init__(self, i2c, sleep_ms, address=0x44):
        self._i2c = i2c
        self._sleep_ms = sleep_ms
        self._address = address
        self._buffer = bytearray(6)  # allocated once

    def measure(self):
        """(temperature in 0.01 °C, relative humidity in 0.01 %); SensorError
        when the part NACKs or a CRC fails."""
        try:
            self._i2c.writeto(self._address, SHT31_MEASURE)
            self._sleep_ms(SHT31_MEASURE_MS)
            self._i2c.readfrom_into(self._address, self._buffer)
        except OSError as e:  # MicroPython: ENODEV or ETIMEDOUT for a NACK
            raise SensorError("SHT31 at 0x%02x did not answer (%s)" % (self._address, e)) from None
        b = self._buffer
        if crc8_sensirion(b[0:2]) != b[2] or crc8_sensirion(b[3:5]) != b[5]:
            raise SensorError("SHT31 data failed its CRC")
        raw_t = (b[0] << 8) | b[1]
        raw_rh = (b[3] << 8) | b[4]
        # T = -45 + 175 * raw / 65535 °C; RH = 100 * raw / 65535 % (datasheet §4.13)
        return -4500 + 17500 * raw_t // 65535, 10000 * raw_rh // 65535


class PulseMeter:
    """An energy meter's S0 output: one pulse per 1/pulses_per_kwh kWh, counted
    on falling edges; edges closer than debounce_ms to the last counted one
    are contact bounce and ignored. The IRQ handler allocates nothing."""

    def __init__(self, pin, pulses_per_kwh, debounce_ms, ticks_ms, ticks_diff):
        self._pulses_per_kwh = pulses_per_kwh
        self._debounce_ms = debounce_ms
        self._ticks_ms = ticks_ms
        self._ticks_diff = ticks_diff
        self._last_ms = None
        self.pulses = 0
        self.bounces = 0
        pin.irq(handler=self._edge, trigger=pin.IRQ_FALLING)

    def _edge(self, pin):
        now = self._ticks_ms()
        if self._last_ms is not None and self._ticks_diff(now, self._last_ms) < self._debounce_ms:
            self.bounces += 1
            return
        self._last_ms = now
        self.pulses += 1

    def energy_wh(self):
        """Energy counted since start, in Wh (whole Wh, rounded down)."""
        return self.pulses * 1000 // self._pulses_per_kwh


class SoilProbe:
    """A capacitive soil-moisture probe on an ADC pin, calibrated with its
    reading in air (dry_raw) and in water (wet_raw); wetter reads lower."""

    def __init__(self, adc, dry_raw, wet_raw):
        if wet_raw >= dry_raw:
            raise ValueError("wet_raw must be below dry_raw")
        self._adc = adc
        self._dry = dry_raw
        self._wet = wet_raw

    def moisture_centi(self):
        """Volumetric moisture as 0.01 % of the calibrated range, 0..10000."""
        raw = self._adc.read_u16()
        share = (self._dry - raw) * 10000 // (self._dry - self._wet)
        return 0 if share < 0 else 10000 if share > 10000 else share
