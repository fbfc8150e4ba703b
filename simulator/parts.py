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


class FakeI2C:
    """A bus with parts at their addresses; machine.I2C's writeto / readfrom_into."""

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
