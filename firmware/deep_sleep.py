"""The agent of a board that powers down between periods: what a deep sleep
keeps of it, in RTC memory, and how the next boot takes that up.

A battery board whose RTC memory lasts through deep sleep (the ESP32
family; firmware/hal.py sleep_s decides) keeps carry()'s bytes there and
powers down; its next boot hands them to this agent (hal.carried()). A wake
is not a boot: the counters go on inside the blocks they reserved before the
sleep (firmware/counter.py), so it skips no sequence numbers, counts no boot,
measures nothing and does not attest again. Everything else is on flash.

Loaded only for a profile that counts nothing while the CPU is off
(billing.sleeps_deeply: soil readings), so the energy board's 96 KB heap
never holds it.
"""

try:  # CPython, installed: one copy of each module
    from paymote.crypto import cbor
    from paymote.crypto._compat import const
    from paymote.firmware.agent import Agent
except ImportError:  # on a board
    from crypto import cbor
    from crypto._compat import const
    from firmware.agent import Agent

_VERSION = const(1)  # the layout: [version, intent seq next, batch seq next, *_KEPT]
# RTC memory (MICROPY_HW_RTC_USER_MEM_MAX, 2,048 B: ports/esp32/machine_rtc.c), less the
# HAL's join back-off (firmware/hal.py _RTC_HAL_BYTES) in front of it
_BYTES_MAX = const(2046)
# The agent's attributes a deep sleep keeps, in their order in RTC memory.
_KEPT = (
    "bootcount",
    "measurement",
    "_attested_s",  # None: not attested this power-on
    "stopped",  # the gateway's last word (4.01 / 4.03)
    "wait_until_s",  # its last Max-Age
    "_period_start_s",
    "_records",  # the readings not yet signed in a batch
    "_records_start_s",
    "_sampled_periods",
)


class SleepingAgent(Agent):
    def __init__(self, hal, config, product, billing, climate=None, carried=None):
        """carried: what the last deep sleep kept (carry()), None after a reset."""
        self._carried = carried
        super().__init__(hal, config, product, billing, climate)

    def _boot(self):
        kept = _kept(self._carried)
        self._carried = None
        if kept is None:  # a boot: count it, measure what runs, attest afresh
            super()._boot()
            return
        self._counter.next, self._batch_counter.next = kept[1], kept[2]
        for name, value in zip(_KEPT, kept[3:]):
            setattr(self, name, value)

    def carry(self):
        """What a deep sleep must keep, as bytes for RTC memory (firmware/hal.py
        sleep_s calls this just before the board powers down): the sequence
        numbers in hand, this power-on's boot count, measurement and
        attestation time, the gateway's last word, the open period and the
        readings not yet signed. None if that is more than RTC memory holds
        (many readings a batch): the board then sleeps lightly, RAM kept."""
        state = [_VERSION, self._counter.next, self._batch_counter.next]
        kept = cbor.encode(state + [getattr(self, name) for name in _KEPT])
        return kept if len(kept) <= _BYTES_MAX else None


def _kept(carried):
    """carry()'s list from carried, or None: nothing carried, or RTC memory
    that does not hold this layout, which is then a boot like any other."""
    if not carried:
        return None
    try:
        kept = cbor.decode(carried, size_max=_BYTES_MAX)
    except ValueError:  # a MessageError: not what carry() wrote
        return None
    if not isinstance(kept, list) or len(kept) != 3 + len(_KEPT) or kept[0] != _VERSION:
        return None
    return kept
