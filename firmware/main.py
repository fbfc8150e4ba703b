"""The firmware's entry point: read the board definition and the config the
provisioning wrote, build the sensors the board has, and run the agent's
periods, feeding the watchdog. The HAL is passed in: firmware/hal.py on a
board, simulator/host_hal.py on a desktop."""

import json

try:
    from paymote.firmware.agent import Agent
    from paymote.firmware.sensors import SHT31, PulseMeter
except ImportError:
    from firmware.agent import Agent
    from firmware.sensors import SHT31, PulseMeter


class SetupError(ValueError):
    """The board's files do not describe something this firmware can run."""


def _load(hal, name):
    return json.loads(hal.read_file(name))


def meter_for(hal, board):
    """The energy meter the board definition names, on its pin."""
    for sensor in board["sensors"]:
        if sensor["kind"] == "pulse_meter":
            pin = hal.pin(board["pins"][sensor["pin"]])
            return PulseMeter(
                pin, sensor["pulses_per_kwh"], sensor["debounce_ms"], hal.ticks_ms, hal.ticks_diff
            )
    raise SetupError("the board has no pulse meter")


def climate_for(hal, board):
    """The board's SHT31 on the HAL's I2C bus, or None if it has none."""
    for sensor in board["sensors"]:
        if sensor["kind"] == "sht31":
            bus = hal.i2c()
            if bus is not None:
                return SHT31(bus, hal.sleep_ms, sensor["address"])
    return None


def run(hal, periods=None):
    """Boot and run; periods bounds the loop (None: forever, as on a board).
    Returns the agent (for the simulator's checks)."""
    board = _load(hal, "board.json")
    config = _load(hal, "config.json")
    product = board["product"]
    if product["profile"] != "energy":
        raise SetupError("profile %s is not built yet" % product["profile"])
    agent = Agent(hal, config, product, meter_for(hal, board), climate_for(hal, board))
    board = config = None  # the agent keeps what it needs; a board's heap is small
    done = 0
    while periods is None or done < periods:
        hal.feed_watchdog()
        agent.period()
        hal.sleep_s(product["interval_s"])  # a battery board deep-sleeps here
        done += 1
    return agent
