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

BOARD = {"pins": {"pulse": 34, "i2c_sda": 21, "i2c_scl": 22}, "battery": True}
CONFIG = {"wifi_ssid": "farm", "wifi_password": "s3cret", "wifi_timeout_ms": 300}

board = hal.BoardHal(BOARD, CONFIG, sys.argv[1])
board.connect()
print("joined", network.joined)
network.polls_to_connect = None
try:
    hal.BoardHal(BOARD, CONFIG, sys.argv[1]).connect()
    print("no network accepted")
except hal.SetupError as e:
    print("no network refused", e)

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

del machine.calls[:]
board.pin(34)
board.pin(34)
board.i2c()
board.i2c()
board.uart(17, 18, 9600)
board.adc(26)
print("parts", machine.calls)
print("no i2c pins", hal.BoardHal({"pins": {}}, {}, sys.argv[1]).i2c())
