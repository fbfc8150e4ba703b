"""Bosch BME280 temperature, humidity and pressure over I2C (datasheet
BST-BME280-DS002, rev 1.6): forced mode, oversampling x1, the datasheet's
integer compensation (§4.2.3 and §8.2). measure() gives what the agent's
climate sensor gives (temperature in 0.01 °C, relative humidity in 0.01 %).
Loaded only on boards whose definition has a bme280 (firmware/main.py).
"""

try:  # CPython, installed: one copy of each module
    from paymote.crypto._compat import const
    from paymote.firmware.sensors import SensorError
except ImportError:  # on a board
    from crypto._compat import const
    from firmware.sensors import SensorError

_CHIP_ID = const(0xD0)
_BME280_ID = const(0x60)
_CALIB_TP = const(0x88)  # 26 bytes: dig_T1..dig_P9, a reserved byte, dig_H1
_CALIB_H = const(0xE1)  # 7 bytes: dig_H2..dig_H6
_CTRL_HUM = const(0xF2)
_STATUS = const(0xF3)
_CTRL_MEAS = const(0xF4)
_DATA = const(0xF7)  # 8 bytes: pressure, temperature (20 bits each), humidity (16)
_HUM_X1 = const(0x01)
_FORCED_T_X1_P_X1 = const(0x25)  # osrs_t 001, osrs_p 001, mode 01 (forced)
_MEASURING = const(0x08)
MEASURE_MS = const(10)  # §9.1: 9.3 ms at most with x1 oversampling of all three
_TRIES_MAX = const(5)


def _u16(b, i):
    return b[i] | (b[i + 1] << 8)


def _s16(b, i):
    value = _u16(b, i)
    return value - 0x10000 if value & 0x8000 else value


def _s8(value):
    return value - 0x100 if value & 0x80 else value


class BME280:
    def __init__(self, i2c, sleep_ms, address=0x76):
        self._i2c = i2c
        self._sleep_ms = sleep_ms
        self._address = address
        self._one = bytearray(1)
        self._data = bytearray(8)  # allocated once
        self._read(_CHIP_ID, self._one)
        if self._one[0] != _BME280_ID:
            raise SensorError("0x%02x is not a BME280 (chip id 0x%02x)" % (address, self._one[0]))
        tp = bytearray(26)
        h = bytearray(7)
        self._read(_CALIB_TP, tp)
        self._read(_CALIB_H, h)
        self._t = (_u16(tp, 0), _s16(tp, 2), _s16(tp, 4))
        self._p = (_u16(tp, 6),) + tuple(_s16(tp, i) for i in range(8, 24, 2))
        # dig_H4 and dig_H5 are 12-bit signed values sharing 0xE5 (§4.2.2, table 16).
        self._h = (
            tp[25],
            _s16(h, 0),
            h[2],
            (_s8(h[3]) << 4) | (h[4] & 0x0F),
            (_s8(h[5]) << 4) | (h[4] >> 4),
            _s8(h[6]),
        )

    def _read(self, register, buffer):
        try:
            self._i2c.readfrom_mem_into(self._address, register, buffer)
        except OSError as e:
            raise SensorError("BME280 at 0x%02x did not answer (%s)" % (self._address, e)) from None

    def _write(self, register, value):
        self._one[0] = value
        try:
            self._i2c.writeto_mem(self._address, register, self._one)
        except OSError as e:
            raise SensorError("BME280 at 0x%02x did not answer (%s)" % (self._address, e)) from None

    def read_raw(self):
        """(adc_P, adc_T, adc_H) of one forced measurement."""
        self._write(_CTRL_HUM, _HUM_X1)  # takes effect with the next ctrl_meas write (§5.4.3)
        self._write(_CTRL_MEAS, _FORCED_T_X1_P_X1)
        for _ in range(_TRIES_MAX):
            self._sleep_ms(MEASURE_MS)
            self._read(_STATUS, self._one)
            if not self._one[0] & _MEASURING:
                break
        else:
            raise SensorError("BME280 measurement did not finish")
        d = self._data
        self._read(_DATA, d)
        return (
            (d[0] << 12) | (d[1] << 4) | (d[2] >> 4),
            (d[3] << 12) | (d[4] << 4) | (d[5] >> 4),
            (d[6] << 8) | d[7],
        )

    def _t_fine(self, adc_t):
        t1, t2, t3 = self._t
        var1 = (((adc_t >> 3) - (t1 << 1)) * t2) >> 11
        var2 = (((((adc_t >> 4) - t1) * ((adc_t >> 4) - t1)) >> 12) * t3) >> 14
        return var1 + var2

    def _humidity_q10(self, adc_h, t_fine):
        """Relative humidity in 1/1024 % (§4.2.3, BME280_compensate_H_int32)."""
        h1, h2, h3, h4, h5, h6 = self._h
        v = t_fine - 76800
        v = ((((adc_h << 14) - (h4 << 20) - (h5 * v)) + 16384) >> 15) * (
            ((((((v * h6) >> 10) * (((v * h3) >> 11) + 32768)) >> 10) + 2097152) * h2 + 8192) >> 14
        )
        v -= ((((v >> 15) * (v >> 15)) >> 7) * h1) >> 4
        v = 0 if v < 0 else 419430400 if v > 419430400 else v
        return v >> 12

    def pressure_pa(self, adc_p, t_fine):
        """Pressure in Pa (§8.2, BME280_compensate_P_int64, whose Q24.8 result is divided by 256)."""
        p1, p2, p3, p4, p5, p6, p7, p8, p9 = self._p
        var1 = t_fine - 128000
        var2 = var1 * var1 * p6 + ((var1 * p5) << 17) + (p4 << 35)
        var1 = ((var1 * var1 * p3) >> 8) + ((var1 * p2) << 12)
        var1 = (((1 << 47) + var1) * p1) >> 33
        if var1 == 0:
            return 0  # the datasheet's guard against division by zero
        p = 1048576 - adc_p
        p = (((p << 31) - var2) * 3125) // var1
        var1 = (p9 * (p >> 13) * (p >> 13)) >> 25
        var2 = (p8 * p) >> 19
        return (((p + var1 + var2) >> 8) + (p7 << 4)) >> 8

    def measure(self):
        """(temperature in 0.01 °C, relative humidity in 0.01 %); SensorError
        when the part does not answer or does not finish measuring."""
        _, adc_t, adc_h = self.read_raw()
        t_fine = self._t_fine(adc_t)
        return (t_fine * 5 + 128) >> 8, self._humidity_q10(adc_h, t_fine) * 100 // 1024
