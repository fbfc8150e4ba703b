"""firmware/hal.py against fakes of machine, network and ntptime (in
board_fakes/); printed so both interpreters can be compared. Argument: FLASH_DIR."""

import sys

sys.path.insert(0, "tests/mpy/board_fakes")

import machine  # noqa: E402
import network  # noqa: E402
import ntptime  # noqa: E402

try:
    from paymote.firmware import hal
except ImportError:
    from firmware import hal


class ESP32RTC(machine.RTC):
    """The esp32 port's RTC, with the memory that lasts through deep sleep (the
    deep-sleep part of machine lives here, not in the fake a built board loads)."""

    kept = b""

    def memory(self, data=None):
        if data is None:
            return ESP32RTC.kept
        machine.calls.append(("RTC.memory", len(data)))
        ESP32RTC.kept = bytes(data)


class PoweredDown(BaseException):
    pass


def deepsleep(ms):
    machine.calls.append(("deepsleep", ms))
    raise PoweredDown  # on a board nothing after it runs


machine.RTC, rp2_rtc = ESP32RTC, machine.RTC  # rp2's has no memory
machine.deepsleep = deepsleep
machine.PWRON_RESET, machine.DEEPSLEEP_RESET = 1, 4
machine.cause = machine.PWRON_RESET
machine.reset_cause = lambda: machine.cause

BOARD = {"pins": {"pulse": 34, "i2c_sda": 21, "i2c_scl": 22}, "battery": True}
CONFIG = {"wifi_ssid": "farm", "wifi_password": "s3cret", "wifi_timeout_ms": 300}

board = hal.BoardHal(BOARD, CONFIG, sys.argv[1])
print("joined", board.connect(), network.joined, "again", board.connect(), len(network.joined))
network.drop()  # the access point restarted
print("rejoined", board.connect(), len(network.joined))
network.drop()
network.polls_to_connect = None  # and stays down
idles = []
print(
    "down",
    board.connect(lambda: idles.append(1)),
    len(network.joined),
    "idle",
    len(idles) > 1,
)
# On battery each failure skips the next 1, 2, 4 ... tries: (result, joins so far) per call.
print("battery", [(board.connect(), len(network.joined)) for _ in range(4)])
network.polls_to_connect = 2
print("back", [(board.connect(), len(network.joined)) for _ in range(4)])
network.drop()
network.polls_to_connect = None
mains = hal.BoardHal({"pins": {}, "battery": False}, CONFIG, sys.argv[1])
print("mains", [(mains.connect(), len(network.joined)) for _ in range(2)])  # every call tries
network.polls_to_connect = 2
print("no wi-fi", hal.BoardHal({"pins": {}}, {}, sys.argv[1]).connect())  # Ethernet, or up already

ntptime.reachable = False
board.sync_time()
print("ntp down: synced", board.time_synced)
ntptime.reachable = True
board.sync_time()
print("ntp up: synced", board.time_synced)

del machine.calls[:]
board.set_time_s(1764374400)  # 2025-11-29 00:00:00 UTC, a Saturday
print("rtc", machine.calls)

del machine.calls[:]
board.sleep_s(10)
print("sleep", [c for c in machine.calls if c[0] != "Pin"])


def carry():
    return b"state"


def sleep_calls(hal, carry_):
    del machine.calls[:]
    try:
        hal.sleep_s(10, carry_)
    except PoweredDown:
        pass
    return [c[0] for c in machine.calls if c[0] not in ("feed", "WDT")]


# The esp32 port (RTC memory): deep when the profile gives a carry that fits, else light.
print("deep", sleep_calls(board, carry), "kept", machine.RTC().memory())
print("no carry", sleep_calls(board, None))
print("too big", sleep_calls(board, lambda: None))  # what carry() says when RTC memory cannot hold it
mains = hal.BoardHal({"pins": {}, "battery": False}, {}, sys.argv[1])
print("mains", sleep_calls(mains, carry))
machine.cause = machine.DEEPSLEEP_RESET
woken = hal.BoardHal(BOARD, CONFIG, sys.argv[1])  # the wake is a new start
print("woke", woken.carried(), "then", woken.carried(), "rtc", machine.RTC().memory())  # taken once
# A join that fails before a deep sleep: the next wake skips its try, as a light sleep would.
network.drop()
network.polls_to_connect = None
machine.cause = machine.PWRON_RESET
asleep = hal.BoardHal(BOARD, CONFIG, sys.argv[1])
joins = [(asleep.connect(), len(network.joined))]
sleep_calls(asleep, carry)
wakes = []
for _ in range(3):
    machine.cause = machine.DEEPSLEEP_RESET
    woken = hal.BoardHal(BOARD, CONFIG, sys.argv[1])
    wakes.append((woken.connect(), len(network.joined), woken.carried()))
    sleep_calls(woken, carry)
print("through deep sleep", joins, wakes)
network.polls_to_connect = 2
machine.RTC().memory(b"state")
machine.cause = machine.PWRON_RESET  # the RTC memory of before a power cut is not ours
print("power on", hal.BoardHal(BOARD, CONFIG, sys.argv[1]).carried())
machine.cause = machine.DEEPSLEEP_RESET
machine.RTC().memory(b"\x01")  # not what sleep_s writes
print("short", hal.BoardHal(BOARD, CONFIG, sys.argv[1]).carried())
machine.RTC = rp2_rtc  # rp2: no RTC memory, so no deep sleep
rp2 = hal.BoardHal(BOARD, CONFIG, sys.argv[1])
print("rp2", sleep_calls(rp2, carry), "carried", rp2.carried())

del machine.calls[:]
board.pin(34)
board.pin(34)
board.i2c()
board.i2c()
board.uart(17, 18, 9600)
board.adc(26)
print("parts", machine.calls)
print("no i2c pins", hal.BoardHal({"pins": {}}, {}, sys.argv[1]).i2c())
board.report("stopped: 4.03 device is revoked")  # what the agent reports, on the console

# The status LED: off at boot, lit by the first report; on battery off while the board
# sleeps and lit again when it wakes. A plain one (a GPIO, or the Pico W's "LED"), and the
# ESP32-S3's RGB one.
del machine.calls[:]
plain = hal.BoardHal({"pins": {"status_led": 2}}, {}, sys.argv[1])
plain.report("outbox full")
plain.sleep_s(1)
print("plain led", [c for c in machine.calls if c[0] == "value"])
del machine.calls[:]
pico = hal.BoardHal({"pins": {"status_led": "LED"}, "battery": True}, {}, sys.argv[1])
pico.sleep_s(1)
pico.report("outbox full")
pico.sleep_s(1)
print("pico led", [c for c in machine.calls if c[0] in ("value", "lightsleep")])
del machine.calls[:]
rgb = hal.BoardHal({"pins": {"status_rgb": 48}}, {}, sys.argv[1])
rgb.report("dead letter 00000007: 4.09 sequence reused with different content")
print("rgb led", [c for c in machine.calls if c[0] == "neopixel"])
