"""Accelerometer drivers and the handling-event detector, over machine.I2C's
register calls (readfrom_mem_into, writeto_mem). Loaded only on boards whose
definition has an accelerometer (main.py), so the others do not pay its heap.
Readings are integers in milli-g.
"""

try:  # CPython, installed: one copy of each module
    from paymote.crypto._compat import const
    from paymote.firmware.sensors import SensorError
except ImportError:  # on a board
    from crypto._compat import const
    from firmware.sensors import SensorError

# ST LIS3DH (datasheet DocID17530 rev 2, §8): registers and the settings used.
_LIS3DH_WHO_AM_I = const(0x0F)
_LIS3DH_ID = const(0x33)
_LIS3DH_CTRL_REG1 = const(0x20)
_LIS3DH_CTRL_REG4 = const(0x23)
_LIS3DH_OUT_X_L = const(0x28)
_LIS3DH_AUTO_INCREMENT = const(0x80)  # §6.1.1: MSB of the sub-address
LIS3DH_100HZ_XYZ = const(0x57)  # CTRL_REG1: ODR 100 Hz, normal power, X, Y, Z on
LIS3DH_BDU_HR_2G = const(0x88)  # CTRL_REG4: block data update, high resolution, ±2 g

# InvenSense MPU-6050 (register map RM-MPU-6000A-00 rev 4.2).
_MPU6050_WHO_AM_I = const(0x75)
_MPU6050_ID = const(0x68)
_MPU6050_PWR_MGMT_1 = const(0x6B)
_MPU6050_ACCEL_CONFIG = const(0x1C)
_MPU6050_ACCEL_XOUT_H = const(0x3B)
_MPU6050_LSB_PER_G = const(16384)  # ±2 g full scale


def _signed16(high, low):
    value = (high << 8) | low
    return value - 0x10000 if value & 0x8000 else value


class _Accelerometer:
    def __init__(self, i2c, address):
        self._i2c = i2c
        self._address = address
        self._buffer = bytearray(6)  # allocated once
        self._one = bytearray(1)

    def _read(self, register, buffer):
        try:
            self._i2c.readfrom_mem_into(self._address, register, buffer)
        except OSError as e:  # MicroPython: ENODEV or ETIMEDOUT for a NACK
            raise SensorError("%s at 0x%02x did not answer (%s)" % (self.PART, self._address, e)) from None

    def _write(self, register, value):
        self._one[0] = value
        try:
            self._i2c.writeto_mem(self._address, register, self._one)
        except OSError as e:
            raise SensorError("%s at 0x%02x did not answer (%s)" % (self.PART, self._address, e)) from None

    def _check_identity(self, register, expected):
        self._read(register, self._one)
        if self._one[0] != expected:
            raise SensorError(
                "0x%02x is not a %s (WHO_AM_I 0x%02x)" % (self._address, self.PART, self._one[0])
            )


class LIS3DH(_Accelerometer):
    """ST LIS3DH, ±2 g in high-resolution mode: 12 bits, 1 mg a digit."""

    PART = "LIS3DH"

    def __init__(self, i2c, address=0x18):
        super().__init__(i2c, address)
        self._check_identity(_LIS3DH_WHO_AM_I, _LIS3DH_ID)
        self._write(_LIS3DH_CTRL_REG1, LIS3DH_100HZ_XYZ)
        self._write(_LIS3DH_CTRL_REG4, LIS3DH_BDU_HR_2G)

    def acceleration_mg(self):
        """(x, y, z) in milli-g; SensorError if the part does not answer."""
        b = self._buffer
        self._read(_LIS3DH_OUT_X_L | _LIS3DH_AUTO_INCREMENT, b)
        # Little-endian, left-justified 12-bit values: shift out the 4 unused bits.
        return _signed16(b[1], b[0]) >> 4, _signed16(b[3], b[2]) >> 4, _signed16(b[5], b[4]) >> 4


class MPU6050(_Accelerometer):
    """InvenSense MPU-6050's accelerometer, ±2 g: 16 bits, 16,384 a g."""

    PART = "MPU-6050"

    def __init__(self, i2c, address=0x68):
        super().__init__(i2c, address)
        self._check_identity(_MPU6050_WHO_AM_I, _MPU6050_ID)
        self._write(_MPU6050_PWR_MGMT_1, 0)  # wake from sleep, internal oscillator
        self._write(_MPU6050_ACCEL_CONFIG, 0)  # ±2 g

    def acceleration_mg(self):
        b = self._buffer
        self._read(_MPU6050_ACCEL_XOUT_H, b)  # big-endian X, Y, Z
        return tuple(_signed16(b[i], b[i + 1]) * 1000 // _MPU6050_LSB_PER_G for i in (0, 2, 4))


PARTS = {"lis3dh": LIS3DH, "mpu6050": MPU6050}  # the board definition's "part"


class HandlingEvents:
    """Counts harsh events (braking, a dropped parcel): the horizontal
    acceleration (x, y) beyond threshold_mg. One event lasts until the
    acceleration falls below half the threshold, so a long brake counts once."""

    def __init__(self, threshold_mg):
        self._threshold_sq = threshold_mg * threshold_mg
        self._rearm_sq = self._threshold_sq // 4
        self._inside = False
        self.events = 0

    def sample(self, x_mg, y_mg):
        level = x_mg * x_mg + y_mg * y_mg
        if not self._inside and level > self._threshold_sq:
            self._inside = True
            self.events += 1
        elif self._inside and level < self._rearm_sq:
            self._inside = False


class Motion:
    """An accelerometer sampled in the board's once-a-second poll, and the
    handling events it counts. A sample the part does not answer is skipped
    and counted (missed), as a climate sensor's NACK is."""

    def __init__(self, accelerometer, threshold_mg):
        self._accelerometer = accelerometer
        self._events = HandlingEvents(threshold_mg)
        self.missed = 0

    def poll(self):
        try:
            x, y, _ = self._accelerometer.acceleration_mg()
        except SensorError:
            self.missed += 1
            return
        self._events.sample(x, y)

    @property
    def events(self):
        return self._events.events
