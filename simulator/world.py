"""The simulated world around one board, drawn from a seed: what its sensors
see between the firmware's periods. Portable (MicroPython and CPython): a
board process runs it beside the real firmware, in the same interpreter.

    household  an S0 energy meter on a daily load curve (night base load,
               morning and evening peaks, appliances switching on at random)
    car, van   in simulator/vehicles.py (GPS over a UART)
    farm       in simulator/vehicles.py too (the soil probe's ADC)

Each scenario's model has advance(t0_s, t1_s). The models live apart so that
a board's heap holds only its own (an energy meter has 96 KB).

The world reads the simulated clock (SimClock) and never sets it: simulated
time runs `speed` times faster than real time, so a board killed and booted
again finds the world where it would be, and a simulated day takes
86400 / speed real seconds.
"""

import time

_DAY_S = 86400
FEED_EVERY_S = 4  # firmware/hal.py's SLEEP_SLICE_MS: a sleeping board feeds its watchdog this often


class Rng:
    """xorshift32: the same numbers from the same seed on every interpreter."""

    def __init__(self, seed):
        self._x = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1

    def next(self):
        x = self._x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self._x = x
        return x

    def below(self, n):
        return self.next() % n


class SimClock:
    """Simulated Unix time: sim_epoch_s at real_epoch_s, running speed times
    faster. ticks_ms are real (the CoAP client's timeouts) plus what the
    world adds to space a meter's pulses (the debounce sees them apart)."""

    def __init__(self, real_epoch_s, sim_epoch_s, speed):
        self.real_epoch_s = real_epoch_s
        self.sim_epoch_s = sim_epoch_s
        self.speed = speed
        self.offset_ms = 0

    def time_s(self):
        return self.sim_epoch_s + int((time.time() - self.real_epoch_s) * self.speed)

    def ticks_ms(self):
        return _ms() + self.offset_ms


if hasattr(time, "ticks_ms"):  # MicroPython
    _ms = time.ticks_ms
else:

    def _ms():
        return time.monotonic_ns() // 1000000


class Household:
    """Power drawn by one home: night base load, a morning and an evening
    peak, and appliances (kettle, oven, washing machine) on at random
    quarter-hours. Pulses reach the meter's pin, spaced in its ticks."""

    def __init__(self, seed, pin, clock, pulses_per_kwh=1000):
        rng = Rng(seed)
        self._seed = seed
        self._pin = pin
        self._clock = clock
        self.base_w = 120 + rng.below(180)
        self.peak_w = 600 + rng.below(1200)
        self._wh_per_pulse_e3 = 1000000 // pulses_per_kwh  # mWh per pulse
        self._carry_mwh = 0
        self.pulses = 0

    def power_w(self, t_s):
        hour_e2 = t_s % _DAY_S * 100 // 3600  # hour of day * 100
        watts = self.base_w
        if 630 <= hour_e2 < 830:
            watts += self.peak_w // 2
        elif 1730 <= hour_e2 < 2200:
            watts += self.peak_w
        slot = t_s // 900  # an appliance on in this quarter-hour?
        if Rng(self._seed ^ slot).below(100) < 8:
            watts += 2000
        return watts

    def advance(self, t0_s, t1_s):
        """The energy of [t0, t1) through the meter, minute by minute."""
        t = t0_s
        while t < t1_s:
            step = min(60, t1_s - t)
            self._carry_mwh += self.power_w(t) * step * 1000 // 3600
            t += step
        pulses = self._carry_mwh // self._wh_per_pulse_e3
        self._carry_mwh -= pulses * self._wh_per_pulse_e3
        if pulses:
            spacing_ms = max(1, (t1_s - t0_s) * 1000 // pulses)
            for _ in range(pulses):
                self._clock.offset_ms += spacing_ms
                self._pin.falling()
            self.pulses += pulses


class World:
    """The world of one board: its scenario's model, advanced when the
    firmware sleeps. sleep() is the HAL's on_sleep: it waits the real time
    the simulated seconds take, then moves the model to the clock's now."""

    def __init__(self, model, clock):
        self.model = model
        self._clock = clock
        self._t = clock.time_s()
        self.pause = time.sleep  # the cpython engine's boards wait on their power switch instead

    def sleep(self, hal, seconds):
        left_s = seconds / self._clock.speed
        while left_s > 0:  # feeding the watchdog as firmware/hal.py's sleep_s does
            step_s = left_s if left_s < FEED_EVERY_S else FEED_EVERY_S
            self.pause(step_s)
            hal.feed_watchdog()
            left_s -= step_s
        now = self._clock.time_s()
        if now > self._t:
            self.model.advance(self._t, now)
            self._t = now
