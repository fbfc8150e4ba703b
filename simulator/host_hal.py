"""The HAL for a board emulated on a desktop: the board's flash is a folder,
the network is the host's UDP, time is the simulator's clock. Portable: the
same class serves the firmware on CPython (fleets) and on MicroPython."""

import os
import socket

try:
    from paymote.firmware.storage import FlashStorage
except ImportError:
    from firmware.storage import FlashStorage


class VirtualPin:
    """machine.Pin's irq(); falling() delivers one falling edge to the handler."""

    IRQ_FALLING = 2

    def __init__(self):
        self._handler = None

    def irq(self, handler=None, trigger=None):
        self._handler = handler

    def falling(self):
        self._handler(self)


class HostHal:
    dbgstat = 0  # EAT dbgstat "enabled" (RFC 9711 §4.2.9): the REPL is open on a desktop

    def __init__(self, flash_dir, clock, on_sleep=None):
        """clock: an object with time_s() and ticks_ms() (simulated time);
        on_sleep(hal, seconds): the simulated world between periods (it moves
        the clock and drives the pins, e.g. a meter's pulses)."""
        self.flash_dir = flash_dir
        self.storage = FlashStorage(flash_dir)
        self._clock = clock
        self.on_sleep = on_sleep
        self.pins = {}  # GPIO number -> VirtualPin, for the world to drive
        self.i2c_bus = None  # the world's I2C parts (simulator.parts.FakeI2C), if any
        self.watchdog_feeds = 0
        self.reports = []  # what the agent reported (firmware/hal.py prints it), the newest 16

    def pin(self, number):
        if number not in self.pins:
            self.pins[number] = VirtualPin()
        return self.pins[number]

    def ticks_diff(self, a, b):
        return a - b

    def i2c(self):
        """The board's I2C bus: the world's parts (a FakeI2C), or None."""
        return self.i2c_bus

    def sleep_ms(self, ms):
        pass  # simulated time: the parts answer at once

    def feed_watchdog(self):
        self.watchdog_feeds += 1

    def report(self, text):
        self.reports.append(text)
        if len(self.reports) > 16:
            self.reports.pop(0)

    def connect(self, idle=None):
        """The network is up: the simulator's faults are on the wire (a
        lossy link, a gateway that is down), not in joining it."""
        return True

    def sleep_s(self, seconds, carry=None):
        """A sleep that keeps RAM, as on a board without RTC memory (carry is
        for one that has it: simulator/board_main.py gives such a board a
        deep sleep)."""
        if self.on_sleep is not None:
            self.on_sleep(self, seconds)

    def carried(self):
        return None  # no RTC memory, so nothing a deep sleep kept

    def read_file(self, name):
        with self.open_file(name) as f:
            return f.read()

    def open_file(self, name):
        """name on the flash folder, or from / a path as it is (the ROMFS a run mounts at /rom)."""
        return open(name if name[0] == "/" else self.flash_dir + "/" + name, "rb")

    def time_s(self):
        return self._clock.time_s()

    def ticks_ms(self):
        return self._clock.ticks_ms()

    def random_bytes(self, n):
        return os.urandom(n)

    def udp_socket(self):
        return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def resolve(self, host, port):
        return socket.getaddrinfo(host, port)[0][-1]
