"""The firmware's entry point: read the board definition and the config the
provisioning wrote, build the sensors and the product the board has, and run
the agent's periods, feeding the watchdog. The HAL is passed in:
firmware/hal.py on a board, simulator/host_hal.py on a desktop."""

import json

try:
    from paymote.crypto import messages
    from paymote.firmware.agent import Agent, MeteredBilling
    from paymote.firmware.sensors import SHT31, PulseMeter, find
except ImportError:
    from crypto import messages
    from firmware.agent import Agent, MeteredBilling
    from firmware.sensors import SHT31, PulseMeter, find


class SetupError(ValueError):
    """The board's files do not describe something this firmware can run."""


def _load(hal, name):
    return json.loads(hal.read_file(name))


def billing_for(hal, board):
    """What the board's product profile bills from, on the board's sensors.
    Energy is here; the other profiles' code loads only on their boards."""
    product = board["product"]
    if product["profile"] != "energy":
        try:
            from paymote.firmware import profiles
        except ImportError:
            from firmware import profiles
        return profiles.billing_for(hal, board)
    sensor = find(board, "pulse_meter")
    if sensor is None:
        raise SetupError("the board has no pulse meter")
    meter = PulseMeter(
        hal.pin(board["pins"][sensor["pin"]]),
        sensor["pulses_per_kwh"],
        sensor["debounce_ms"],
        hal.ticks_ms,
        hal.ticks_diff,
    )
    return MeteredBilling(
        meter.energy_wh, product["price_minor_per_kwh"], messages.EVIDENCE_ENERGY_WH, "energy", "Wh"
    )


def climate_for(hal, board):
    """The board's SHT31 on the HAL's I2C bus, or None if it has none."""
    sensor = find(board, "sht31")
    bus = None if sensor is None else hal.i2c()
    return None if bus is None else SHT31(bus, hal.sleep_ms, sensor["address"])


def agent_for(hal, config, product, billing, climate):
    """(the agent, what its deep sleep keeps or None). A profile that counts
    nothing while the CPU is off gets the agent a deep sleep can power down
    (firmware/deep_sleep.py, loaded only then); the HAL decides whether the
    board has the RTC memory for it."""
    if not billing.sleeps_deeply:
        return Agent(hal, config, product, billing, climate), None
    try:
        from paymote.firmware.deep_sleep import SleepingAgent
    except ImportError:
        from firmware.deep_sleep import SleepingAgent
    agent = SleepingAgent(hal, config, product, billing, climate, hal.carried())
    return agent, agent.carry


def run(hal, periods=None):
    """Boot and run; periods bounds the loop (None: forever, as on a board).
    Returns the agent (for the simulator's checks)."""
    board = _load(hal, "board.json")
    config = _load(hal, "config.json")
    product = board["product"]
    billing = billing_for(hal, board)
    agent, carry = agent_for(hal, config, product, billing, climate_for(hal, board))
    board = config = None  # the agent keeps what it needs; a board's heap is small
    poll = billing.poll  # None: nothing to do between periods
    interval_s = product["interval_s"]
    done = 0
    while periods is None or done < periods:
        hal.feed_watchdog()
        agent.period()
        if poll is None:
            hal.sleep_s(interval_s, carry)  # a deep sleep ends this boot: the next one resumes
        else:
            for _ in range(interval_s):  # awake: the GPS speaks once a second
                hal.sleep_s(1)
                poll()
                hal.feed_watchdog()
        done += 1
    return agent
