"""The firmware's entry point (firmware.main.run) on MicroPython, with the host
HAL and a simulated meter: PERIODS periods against the gateway named in the
board's config.json. Prints what is left queued, the free heap and the
batch uploads answered.
Arguments: FLASH_DIR PERIODS."""

import gc
import sys
import time

import micropython

import firmware  # noqa: E402
from firmware.board import import_staged  # noqa: E402

import_staged(("simulator.host_hal",))  # one at a time, collecting in between, as a board's boot does
del (
    import_staged,
    firmware.board,
    sys.modules["firmware.board"],
)  # a board's main.py keeps running it; the harness need not
gc.collect()

from firmware import main  # noqa: E402
from simulator.host_hal import HostHal  # noqa: E402

flash, periods = sys.argv[1], int(sys.argv[2])
METER_PIN = 34  # esp32-devkitc's pins.pulse


class Clock:
    """Simulated wall time; ticks are real (CoAP timeouts) plus what the world adds."""

    now_s = 1764374400
    offset_ms = 0

    def time_s(self):
        return self.now_s

    def ticks_ms(self):
        return time.ticks_ms() + self.offset_ms


clock = Clock()
low = [gc.mem_free()]


def world(hal, seconds):
    """Between periods: 1.4 kWh through the meter (one pulse per Wh, 100 ms apart)."""
    pin = hal.pin(METER_PIN)
    for _ in range(1400):
        clock.offset_ms += 100
        pin.falling()
    clock.now_s += seconds
    low[0] = min(low[0], gc.mem_free())


agent = main.run(HostHal(flash, clock, world), periods)
gc.collect()
# One format string, not a word per field: each string constant is an interned name,
# and this harness's names count against the pool boundary tests/test_agent.py checks.
print(
    "queued %d stopped %s free %d low %d batches %d"
    % (len(agent.outbox), agent.stopped, gc.mem_free(), low[0], agent.answered_batches)
)
micropython.qstr_info()  # n_pool, n_qstr: the names interned, which tests/test_agent.py bounds
