"""Fakes of the parts the drivers talk to, at the level the parts speak
(I2C bytes, pin edges), with the methods of machine.I2C and machine.Pin.
Portable: the same fakes run the driver tests on MicroPython."""

try:
    from paymote.firmware.sensors import crc8_sensirion
    from paymote.simulator.host_hal import HostHal
    from paymote.simulator.host_hal import VirtualPin as FakePin  # noqa: F401 - the parts' pin
except ImportError:
    from firmware.sensors import crc8_sensirion
    from simulator.host_hal import HostHal
    from simulator.host_hal import VirtualPin as FakePin  # noqa: F401

ENODEV = 19


class FakeSHT31:
    """Answers the single-shot command with temperature and humidity and their
    CRCs. nack=True makes it not answer; corrupt=True spoils one CRC."""

    def __init__(self, address=0x44, celsius_centi=2150, rh_centi=4000):
        self.address = address
        self.celsius_centi = celsius_centi
        self.rh_centi = rh_centi
        self.nack = False
        self.corrupt = False
        self._measured = False

    def write(self, data):
        if bytes(data) != b"\x24\x00":
            raise OSError(ENODEV)
        self._measured = True

    def read(self, n):
        if not self._measured:
            raise OSError(ENODEV)
        self._measured = False
        raw_t = ((self.celsius_centi + 4500) * 65535 + 17499) // 17500
        raw_rh = (self.rh_centi * 65535 + 9999) // 10000
        t = bytes([raw_t >> 8, raw_t & 0xFF])
        rh = bytes([raw_rh >> 8, raw_rh & 0xFF])
        out = t + bytes([crc8_sensirion(t)]) + rh + bytes([crc8_sensirion(rh)])
        if self.corrupt:
            out = out[:2] + bytes([out[2] ^ 0xFF]) + out[3:]
        return out[:n]


def _int16(value):
    value = -32768 if value < -32768 else 32767 if value > 32767 else value
    return value & 0xFFFF


class FakeLIS3DH:
    """ST LIS3DH's registers: WHO_AM_I, the control registers, and X/Y/Z out
    (little-endian, left-justified 12 bits in high-resolution mode) from
    mg = (x, y, z), which the world sets. A read with the sub-address MSB set
    auto-increments (datasheet §6.1.1); without it, it reads one register
    again and again. Axes read 0 until CTRL_REG1 enables them."""

    def __init__(self, address=0x18):
        self.address = address
        self.nack = False
        self.mg = (0, 0, 1000)  # lying flat: 1 g on z
        self.registers = bytearray(0x80)  # reserved addresses read 0
        self.registers[0x0F] = 0x33
        self.registers[0x20] = 0x07  # power-on: axes on, output rate off

    def _out(self):
        running = self.registers[0x20] >> 4
        out = bytearray()
        for axis, value in enumerate(self.mg):
            raw = _int16(value << 4) if running and self.registers[0x20] & (1 << axis) else 0
            out += bytes([raw & 0xFF, raw >> 8])
        self.registers[0x28:0x2E] = out

    def read_register(self, sub, n):
        self._out()
        start = sub & 0x7F
        if sub & 0x80:
            return bytes(self.registers[start : start + n])
        return bytes([self.registers[start]]) * n

    def write_register(self, sub, data):
        start = sub & 0x7F
        step = 1 if sub & 0x80 else 0
        for i, byte in enumerate(data):
            self.registers[start + i * step] = byte


class FakeMPU6050:
    """InvenSense MPU-6050's registers: WHO_AM_I, PWR_MGMT_1 (asleep at power
    on, as the part is), ACCEL_CONFIG and the accelerometer out (big-endian,
    16,384 a g at ±2 g) from mg, which the world sets; burst reads run on."""

    def __init__(self, address=0x68):
        self.address = address
        self.nack = False
        self.mg = (0, 0, 1000)
        self.registers = bytearray(0x80)
        self.registers[0x75] = 0x68
        self.registers[0x6B] = 0x40  # SLEEP

    def read_register(self, start, n):
        awake = not self.registers[0x6B] & 0x40
        out = bytearray()
        for value in self.mg:
            raw = _int16(value * 16384 // 1000) if awake else 0
            out += bytes([raw >> 8, raw & 0xFF])
        self.registers[0x3B:0x41] = out
        return bytes(self.registers[start : start + n])

    def write_register(self, start, data):
        self.registers[start : start + len(data)] = data


class FakeBME280:
    """Bosch BME280's registers: chip id, calibration (the BMP280 datasheet's
    example for temperature and pressure, typical humidity values), ctrl_hum,
    ctrl_meas, status (measuring for one read after a forced measurement
    starts) and the data registers from adc = (adc_P, adc_T, adc_H). set()
    finds the raw values for a temperature and humidity with the datasheet's
    floating-point formulas (§8.1), independent of the driver's integers."""

    CALIBRATION = {
        "T": (27504, 26435, -1000),
        "P": (36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000),
        "H": (75, 362, 0, 313, 50, 30),
    }

    def __init__(self, address=0x76):
        self.address = address
        self.nack = False
        self.adc = (415148, 519888, 30000)  # the datasheet's example pressure and temperature
        self.registers = bytearray(0x100)
        self.registers[0xD0] = 0x60
        self._measuring = 0
        t, p, h = self.CALIBRATION["T"], self.CALIBRATION["P"], self.CALIBRATION["H"]
        out = bytearray()
        for value in t + p:
            out += bytes([value & 0xFF, (value >> 8) & 0xFF])
        self.registers[0x88 : 0x88 + 24] = out
        self.registers[0xA1] = h[0]
        self.registers[0xE1] = h[1] & 0xFF
        self.registers[0xE2] = (h[1] >> 8) & 0xFF
        self.registers[0xE3] = h[2]
        self.registers[0xE4] = (h[3] >> 4) & 0xFF
        self.registers[0xE5] = (h[3] & 0x0F) | ((h[4] & 0x0F) << 4)
        self.registers[0xE6] = (h[4] >> 4) & 0xFF
        self.registers[0xE7] = h[5] & 0xFF

    def _t_fine(self, adc_t):
        t1, t2, t3 = self.CALIBRATION["T"]
        var1 = (adc_t / 16384.0 - t1 / 1024.0) * t2
        var2 = (adc_t / 131072.0 - t1 / 8192.0) ** 2 * t3
        return var1 + var2

    def _humidity(self, adc_h, t_fine):
        h1, h2, h3, h4, h5, h6 = self.CALIBRATION["H"]
        v = t_fine - 76800.0
        v = (adc_h - (h4 * 64.0 + h5 / 16384.0 * v)) * (
            h2 / 65536.0 * (1.0 + h6 / 67108864.0 * v * (1.0 + h3 / 67108864.0 * v))
        )
        v = v * (1.0 - h1 * v / 524288.0)
        return 0.0 if v < 0 else 100.0 if v > 100 else v

    def set(self, celsius_centi, rh_centi):
        """Raw values whose floating-point compensation is closest to the given
        temperature and humidity (both increase with their raw value)."""
        low, high = 0, (1 << 20) - 1
        while low < high:
            mid = (low + high) // 2
            if self._t_fine(mid) / 5120.0 * 100 < celsius_centi:
                low = mid + 1
            else:
                high = mid
        adc_t = low
        t_fine = self._t_fine(adc_t)
        low, high = 0, (1 << 16) - 1
        while low < high:
            mid = (low + high) // 2
            if self._humidity(mid, t_fine) * 100 < rh_centi:
                low = mid + 1
            else:
                high = mid
        self.adc = (self.adc[0], adc_t, low)

    def read_register(self, start, n):
        if start == 0xF3:
            busy = 0x08 if self._measuring else 0
            self._measuring = max(0, self._measuring - 1)
            return bytes([busy]) * n
        adc_p, adc_t, adc_h = self.adc
        self.registers[0xF7:0xFF] = bytes(
            [adc_p >> 12, (adc_p >> 4) & 0xFF, (adc_p & 0x0F) << 4, adc_t >> 12, (adc_t >> 4) & 0xFF]
            + [(adc_t & 0x0F) << 4, adc_h >> 8, adc_h & 0xFF]
        )
        return bytes(self.registers[start : start + n])

    def write_register(self, start, data):
        self.registers[start : start + len(data)] = data
        if start == 0xF4 and data[0] & 0x03 == 0x01:  # forced mode: one measurement
            self._measuring = 1


class FakeI2C:
    """A bus with parts at their addresses: machine.I2C's writeto /
    readfrom_into, and the register calls readfrom_mem_into / writeto_mem."""

    def __init__(self, *parts):
        self.parts = {part.address: part for part in parts}

    def _part(self, address):
        part = self.parts.get(address)
        if part is None or getattr(part, "nack", False):
            raise OSError(ENODEV)  # no ACK on the bus
        return part

    def writeto(self, address, data):
        self._part(address).write(data)

    def readfrom_into(self, address, buffer):
        data = self._part(address).read(len(buffer))
        for i in range(len(buffer)):
            buffer[i] = data[i]

    def readfrom_mem_into(self, address, register, buffer):
        data = self._part(address).read_register(register, len(buffer))
        for i in range(len(buffer)):
            buffer[i] = data[i]

    def writeto_mem(self, address, register, data):
        self._part(address).write_register(register, bytes(data))


class FakeADC:
    """machine.ADC's read_u16(), returning whatever the world set in raw."""

    def __init__(self, raw=0):
        self.raw = raw

    def read_u16(self):
        return self.raw


class FakeUart:
    """machine.UART's read(n): bytes the world wrote (a GPS's sentences), or None."""

    def __init__(self, rx_bytes_max=512):
        self._rx = bytearray()
        self._rx_bytes_max = rx_bytes_max  # the UART's receive buffer: overflow is lost, as on a board
        self.overruns = 0

    def write_in(self, data):
        room = self._rx_bytes_max - len(self._rx)
        if len(data) > room:
            self.overruns += 1
            data = data[:room]
        self._rx.extend(data)

    def read(self, n=-1):
        if not self._rx:
            return None
        n = len(self._rx) if n < 0 else n
        out = bytes(self._rx[:n])
        self._rx = self._rx[n:]
        return out


class PartsHal(HostHal):
    """The host HAL with a UART (a GPS) and ADCs, for the boards that have
    them. Apart from HostHal so that an energy meter's 96 KB heap does not
    hold code its board never calls."""

    def __init__(self, flash_dir, clock, on_sleep=None):
        super().__init__(flash_dir, clock, on_sleep)
        self.uarts = {}  # rx GPIO -> FakeUart, for the world to write a GPS's sentences
        self.adcs = {}  # GPIO -> FakeADC, for the world to set

    def uart(self, tx, rx, baud):
        if rx not in self.uarts:
            self.uarts[rx] = FakeUart()
        return self.uarts[rx]

    def adc(self, number):
        if number not in self.adcs:
            self.adcs[number] = FakeADC()
        return self.adcs[number]
