"""The agent on MicroPython: PERIODS metered periods against a gateway on
127.0.0.1:PORT, from the compiled build on MICROPYPATH. Prints what is left
queued and the free heap. Arguments: FLASH_DIR PORT PERIODS."""

import gc
import sys
import time

for name in (
    "crypto.cbor",
    "crypto.ed25519",
    "crypto.cose",
    "crypto.messages",
    "firmware.coap",
    "firmware.storage",
    "firmware.outbox",
    "firmware.agent",
    "simulator.host_hal",
    "simulator.parts",
):
    __import__(name)  # one at a time, collecting in between, as a board's boot does
    gc.collect()

from firmware.agent import Agent  # noqa: E402
from firmware.sensors import PulseMeter  # noqa: E402
from simulator.host_hal import HostHal  # noqa: E402
from simulator.parts import FakePin  # noqa: E402

flash, port, periods = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


class Clock:
    now_s = 1764374400

    def time_s(self):
        return self.now_s

    def ticks_ms(self):
        return time.ticks_ms()


clock = Clock()
pin = FakePin()
now = [0]
meter = PulseMeter(pin, 1000, 20, lambda: now[0], lambda a, b: a - b)
product = {"price_minor_per_kwh": 30, "currency": "EUR", "tariff": [7, 2]}
config = {"gateway": "coap://127.0.0.1:%d" % port, "payer": "hh-7", "payee": "utility", "ack_timeout_ms": 300}
agent = Agent(HostHal(flash, clock), config, product, meter)
gc.collect()
low = gc.mem_free()
for _ in range(periods):
    for _ in range(1400):
        now[0] += 100
        pin.falling()
    clock.now_s += 900
    agent.period()
    low = min(low, gc.mem_free())
gc.collect()
print("queued", len(agent.outbox), "stopped", agent.stopped, "free", gc.mem_free(), "low", low)
