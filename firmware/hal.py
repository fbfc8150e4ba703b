"""The HAL on a real board (MicroPython 1.22+ on ESP32, ESP32-S3, RP2040 and
RP2350): the only firmware module that touches machine, network, ntptime,
time, os and the filesystem. simulator/host_hal.py gives the same methods on
a desktop, so everything above this file runs unchanged in the simulator.

The methods firmware/agent.py and firmware/main.py call:

    storage, read_file(name), open_file(name)  the filesystem (flash)
    connect(idle)             (re)join the network; False while it is down
    time_s(), set_time_s(t)   the RTC as Unix seconds (NTP at boot, else the gateway's /t)
    ticks_ms(), ticks_diff(a, b), sleep_ms(ms), sleep_s(s, carry)
    carried()                 what the last deep sleep kept in RTC memory, or None
    feed_watchdog()           machine.WDT, started by the first feed
    report(text)              what needs someone's attention: the USB console and the status LED
    random_bytes(n)           os.urandom
    udp_socket(), resolve(host, port)
    pin(n), i2c(), uart(tx, rx, baud), adc(n)   the board definition's pins
    dbgstat                   the EAT debug status (RFC 9711 §4.2.9)

Between periods a battery board sleeps deeply where it can: the ESP32
family, whose RTC memory (machine.RTC().memory(), 2,048 bytes in MicroPython's
esp32 port) lasts through deep sleep, for a profile that has nothing to count
while the CPU is off (soil readings; an S0 meter's IRQ and the GPS need it
up). The agent's state goes into RTC memory (firmware/deep_sleep.py), the board powers
down, and its next boot takes it back (carried()): a wake is not a boot, so
it reserves no sequence numbers, counts no boot and does not attest again.
Everywhere else it sleeps lightly: RAM kept, CPU and radio stopped. On the
RP2040 and RP2350 (rpi-pico2-w, the soil board) MicroPython's deepsleep is
that same light sleep followed by machine.reset() (ports/rp2/modmachine.c,
mp_machine_deepsleep), and the port has no RTC memory, so a deep sleep would
save no power and lose the state; the ESP32-S3 battery board runs the
delivery product, which reads the GPS once a second and the driver's button.
"""

import os
import socket
import time

import machine

try:  # CPython, installed (never: a board has no machine module on CPython)
    from paymote.crypto._compat import const
    from paymote.firmware.storage import FlashStorage
except ImportError:  # on a board
    from crypto._compat import const
    from firmware.storage import FlashStorage

WATCHDOG_TIMEOUT_MS = const(8000)  # RP2040's watchdog goes up to 8,388 ms
SLEEP_SLICE_MS = const(4000)  # a sleep feeds the watchdog at least this often
WIFI_CONNECT_MS_MAX = const(20000)
_JOIN_SKIPS_MAX = const(8)  # on battery, a failed join waits up to this many calls before the next
_RTC_HAL_BYTES = const(2)  # the join back-off, in front of the agent's state in RTC memory
I2C_FREQUENCY_HZ = const(100000)  # standard mode: every part on the boards' buses takes it
_UNIX_MINUS_2000_S = 946684800  # ports whose time.time() counts from 2000-01-01
DBGSTAT_ENABLED = const(0)  # RFC 9711 §4.2.9: MicroPython keeps its REPL on USB
_ATTENTION_RGB = (32, 0, 0)  # an RGB status LED's colour when lit: red, dim (WS2812 at 1/8)


def _epoch_offset_s():
    """What to add to time.time() for Unix seconds: MicroPython 1.22 counts from
    1970 on some ports and from 2000 on others (time.gmtime(0) says which)."""
    return 0 if time.gmtime(0)[0] == 1970 else _UNIX_MINUS_2000_S


class BoardHal:
    dbgstat = DBGSTAT_ENABLED

    def __init__(self, board, config, root=""):
        """board: board.json's definition; config: config.json (Wi-Fi
        credentials, gateway); root: the filesystem's mount ("" for /)."""
        self._root = root
        self._pins_of = board["pins"]
        self._battery = board.get("battery", False)
        self._config = config
        self.storage = FlashStorage(root or ".")
        self._offset_s = _epoch_offset_s()
        self._rtc = machine.RTC()
        self._wdt = None
        self._pins = {}
        self._i2c = None
        self.time_synced = False  # until NTP or the gateway's /t has set the RTC
        self._skips_left = 0  # connect() calls left that do not try to join (battery)
        self._skips_after_failure = 0  # the last failure's back-off: 1, 2, 4 ... _JOIN_SKIPS_MAX
        self._carried = self._wake()
        self._attention = False  # report() said something since this boot
        self._led = None  # the status LED's Pin or NeoPixel, made at the first use
        self._set_status_led(False)  # an RGB LED keeps its colour through a reset

    # ---------------------------------------------------------------- network and time

    def connect(self, idle=None):
        """True when the network is up. A board without Wi-Fi credentials
        (Ethernet, or a network already up) always is; otherwise this joins
        the configured Wi-Fi, or joins it again after it dropped (an access
        point that restarted, a power cut that took the router down with the
        board, a light sleep), waiting up to wifi_timeout_ms with the watchdog
        fed, and gives False after that: the agent keeps what it signs on flash
        and tries again next period. Called at boot (firmware/board.py) and
        before each period's exchanges (Agent.period). On battery a failed
        join skips the next 1, 2, 4 ... up to _JOIN_SKIPS_MAX tries (a join
        that cannot succeed keeps the radio on for the whole timeout; the count
        goes through a deep sleep in RTC memory); on mains power every period
        tries. idle() runs every 100 ms of a join, in place of feeding the
        watchdog (the agent's feeds it and polls the GPS)."""
        ssid = self._config.get("wifi_ssid")
        if not ssid:
            return True
        import network

        wlan = network.WLAN(network.STA_IF)
        if wlan.isconnected():  # joined again (the esp32 port reconnects on its own too)
            self._skips_after_failure = self._skips_left = 0
            return True
        if self._skips_left:
            self._skips_left -= 1
            return False
        wlan.active(True)
        try:
            wlan.connect(ssid, self._config.get("wifi_password") or "")
        except OSError:
            pass  # the esp32 port may be reconnecting on its own: wait for that
        started = time.ticks_ms()
        timeout_ms = self._config.get("wifi_timeout_ms", WIFI_CONNECT_MS_MAX)
        while not wlan.isconnected():
            if time.ticks_diff(time.ticks_ms(), started) > timeout_ms:
                if self._battery:
                    self._skips_after_failure = min(2 * self._skips_after_failure or 1, _JOIN_SKIPS_MAX)
                    self._skips_left = self._skips_after_failure
                return False
            if idle is None:
                self.feed_watchdog()
            else:
                idle()
            time.sleep_ms(100)
        self._skips_after_failure = self._skips_left = 0
        return True

    def sync_time(self):
        """Set the RTC from NTP; where NTP is not reachable time_synced stays
        False and firmware.main asks the gateway's /t (Agent.time_from_gateway)."""
        try:
            import ntptime

            ntptime.settime()  # UTC into the RTC
        except (ImportError, OSError):
            return
        self.time_synced = True

    def time_s(self):
        return time.time() + self._offset_s

    def set_time_s(self, unix_s):
        """Set the RTC to unix_s (from the gateway's /t)."""
        t = time.gmtime(unix_s - self._offset_s)
        # RTC.datetime: (year, month, day, weekday, hours, minutes, seconds, subseconds)
        self._rtc.datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0))
        self.time_synced = True

    def udp_socket(self):
        return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def resolve(self, host, port):
        return socket.getaddrinfo(host, port)[0][-1]

    # ---------------------------------------------------------------- clock, sleep, watchdog

    def ticks_ms(self):
        return time.ticks_ms()

    def ticks_diff(self, a, b):
        return time.ticks_diff(a, b)

    def sleep_ms(self, ms):
        time.sleep_ms(ms)

    def sleep_s(self, seconds, carry=None):
        """Sleep between periods. carry (None where something counts while the
        board sleeps) gives the agent's state as bytes for RTC memory, or None
        if it would not fit: then a battery board with RTC memory sleeps
        deeply and does not return; it boots again after the sleep.
        Otherwise it sleeps here, feeding the watchdog every SLEEP_SLICE_MS,
        lightly on battery."""
        kept = None
        if carry is not None and self._battery and hasattr(self._rtc, "memory"):
            kept = carry()
        if self._battery and self._attention:
            self._set_status_led(False)  # a lit LED would draw more than the sleeping board
        if kept is not None:  # the join back-off first, so a wake that cannot join still waits
            self._rtc.memory(bytes((self._skips_left, self._skips_after_failure)) + kept)
            machine.deepsleep(seconds * 1000)  # the watchdog stops with the CPU
        left_ms = seconds * 1000
        while left_ms > 0:
            slice_ms = SLEEP_SLICE_MS if left_ms > SLEEP_SLICE_MS else left_ms
            self.feed_watchdog()
            if self._battery:
                machine.lightsleep(slice_ms)
            else:
                time.sleep_ms(slice_ms)
            left_ms -= slice_ms
        if self._battery and self._attention:
            self._set_status_led(True)
        self.feed_watchdog()

    def carried(self):
        """What the last deep sleep kept for the agent (bytes), or None after
        any other reset; taken once."""
        kept, self._carried = self._carried, None
        return kept

    def _wake(self):
        """After a deep sleep: take RTC memory, empty it (so a crash after the
        wake is a boot), set the join back-off it held (sleep_s wrote it in
        front, _RTC_HAL_BYTES) and return the rest, the agent's. None after
        any other reset, or on a port without RTC memory."""
        if not hasattr(self._rtc, "memory") or machine.reset_cause() != machine.DEEPSLEEP_RESET:
            return None
        kept = self._rtc.memory()
        self._rtc.memory(b"")
        if len(kept) <= _RTC_HAL_BYTES:
            return None
        self._skips_left, self._skips_after_failure = kept[0], kept[1]
        return kept[_RTC_HAL_BYTES:]

    def feed_watchdog(self):
        """Start the watchdog on the first feed (after boot's set-up), then feed it."""
        if self._wdt is None:
            self._wdt = machine.WDT(timeout=WATCHDOG_TIMEOUT_MS)
        self._wdt.feed()

    def report(self, text):
        """What needs someone's attention (the outbox is full, the gateway
        stopped the board, a message was dead-lettered), on the console:
        MicroPython's stdout is the USB serial port, where an installer's
        serial monitor or `mpremote` shows it."""
        print("paymote:", text)
        self._attention = True
        self._set_status_led(True)

    def _set_status_led(self, lit):
        """The board definition's status LED: off from boot, lit from the first
        report() on whenever the board is awake (a board on mains power always
        is; one on battery turns it off while it sleeps, and a deep sleep's
        wake is a new start), since a board in the field has no console attached
        and the LED tells whoever passes to attach one.
        pins.status_led is a plain LED lit high (an integer GPIO, or "LED": the
        Pico W's, on its Wi-Fi chip, which MicroPython's rp2 port names so);
        pins.status_rgb an addressable RGB LED (WS2812, MicroPython's neopixel)."""
        pins = self._pins_of
        if "status_led" in pins:
            if self._led is None:
                self._led = machine.Pin(pins["status_led"], machine.Pin.OUT)
            self._led.value(1 if lit else 0)
        elif "status_rgb" in pins:
            if self._led is None:
                import neopixel

                self._led = neopixel.NeoPixel(machine.Pin(pins["status_rgb"]), 1)
            self._led[0] = _ATTENTION_RGB if lit else (0, 0, 0)
            self._led.write()

    # ---------------------------------------------------------------- files and randomness

    def read_file(self, name):
        with self.open_file(name) as f:
            return f.read()

    def open_file(self, name):
        """name on the flash, or from / a path as it is (the ROMFS at /rom)."""
        return open(self._root + "/" + name if self._root and name[0] != "/" else name, "rb")

    def random_bytes(self, n):
        return os.urandom(n)

    # ---------------------------------------------------------------- the board's parts

    def pin(self, number):
        """An input with its pull-up (S0 outputs and buttons pull to ground)."""
        if number not in self._pins:
            self._pins[number] = machine.Pin(number, machine.Pin.IN, machine.Pin.PULL_UP)
        return self._pins[number]

    def i2c(self):
        """The board's I2C bus, or None if its definition has no I2C pins.
        SoftI2C: any two pins on every port, and these parts are slow."""
        if self._i2c is None and "i2c_sda" in self._pins_of:
            self._i2c = machine.SoftI2C(
                scl=machine.Pin(self._pins_of["i2c_scl"]),
                sda=machine.Pin(self._pins_of["i2c_sda"]),
                freq=I2C_FREQUENCY_HZ,
            )
        return self._i2c

    def uart(self, tx, rx, baud):
        return machine.UART(1, baudrate=baud, tx=machine.Pin(tx), rx=machine.Pin(rx), rxbuf=512)

    def adc(self, number):
        return machine.ADC(machine.Pin(number))
