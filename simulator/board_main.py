"""A virtual board's boot: the real firmware (firmware.main.run) on its
flash folder, with the host HAL and the world of its scenario. Portable: the
micropython engine runs it as `micropython -m simulator.board_main FLASH`
(one process a board, with the board's heap plus simulator.fleet's
allowance for this module and the world); the cpython engine calls
hal_for() and firmware.main.run() for each board in one process.

The flash holds what provisioning put there, plus sim.json from the
simulator: the scenario, the world's seed, and the simulated clock (real
epoch, simulated epoch, speed), so a board booted again after a power cut
finds the world and the time where they would be.

A board with RTC memory that lasts through deep sleep (an ESP32 on
battery, firmware/hal.py) boots through simulator/sleeping_board.py, which
boots it again after each deep sleep; that module loads only for such a
board, so the others' heap does not carry it.
"""

import gc
import json
import sys

if sys.implementation.name == "micropython":
    # One module at a time, collecting in between, as a real board's boot does,
    # which then unloads firmware.board too.
    import firmware
    from firmware.board import import_staged

    import_staged(("simulator.host_hal", "simulator.world"))
    del import_staged, firmware.board, sys.modules["firmware.board"]
    gc.collect()

try:
    from paymote.firmware import main
    from paymote.firmware.sensors import find
    from paymote.simulator import world
    from paymote.simulator.host_hal import HostHal
except ImportError:
    from firmware import main
    from firmware.sensors import find
    from simulator import world
    from simulator.host_hal import HostHal


TELL_EVERY_MS = 250  # against the simulator's 8 s watchdog timeout


def _load(flash_dir, name):
    with open(flash_dir + "/" + name) as f:
        return json.loads(f.read())


def _model(scenario, seed, hal, board, clock):
    """The scenario's model on the board's parts (the same objects the
    firmware's drivers get: hal.pin / uart / adc hand out one per pin)."""
    pins = board["pins"]
    if scenario == "household":
        return world.Household(seed, hal.pin(pins["pulse"]), clock)
    try:
        from paymote.simulator import vehicles
    except ImportError:
        from simulator import vehicles
    i2c = i2c_parts(hal, board)
    if scenario == "farm":
        soil = find(board, "soil")
        return vehicles.Farm(seed, hal.adc(pins[soil["pin"]]), soil["dry_raw"], soil["wet_raw"])
    gps = find(board, "gps")
    uart = hal.uart(pins[gps["uart_tx"]], pins[gps["uart_rx"]], gps["baud"])
    if scenario == "car":
        return vehicles.Car(seed, uart, i2c.get("accelerometer"))
    stops = json.loads(hal.read_file("route.json"))
    return vehicles.Van(seed, uart, hal.pin(pins["button"]), stops)


def i2c_parts(hal, board):
    """The board's I2C parts as register-level fakes, all on one bus that
    becomes the HAL's: {kind: part}. Accelerometers lie flat until the world
    moves them; a BME280 reads 18 °C and 60 % humidity."""
    try:
        from paymote.simulator import parts
    except ImportError:
        from simulator import parts
    made = {}
    for sensor in board["sensors"]:
        kind = sensor["kind"]
        if kind == "accelerometer":
            made[kind] = {"lis3dh": parts.FakeLIS3DH, "mpu6050": parts.FakeMPU6050}[sensor["part"]](
                sensor["address"]
            )
        elif kind == "bme280":
            made[kind] = parts.FakeBME280(sensor["address"])
            made[kind].set(1800, 6000)
    if made:
        hal.i2c_bus = parts.FakeI2C(*made.values())
    return made


def has_rtc_memory(board):
    """Whether the board keeps RTC memory through deep sleep (firmware/hal.py:
    the ESP32 family; it sleeps deeply only on battery)."""
    return board["battery"] and board["mcu"].startswith("esp32")


def _sleeping_board():
    try:
        from paymote.simulator import sleeping_board
    except ImportError:
        from simulator import sleeping_board
    return sleeping_board


def hal_for(flash_dir, rtc_memory=b""):
    """(the HAL, the world) of the board on flash_dir; rtc_memory: what its
    RTC memory holds, if it has one (empty at power-on)."""
    sim = _load(flash_dir, "sim.json")
    board = _load(flash_dir, "board.json")
    clock = world.SimClock(sim["real_epoch_s"], sim["sim_epoch_s"], sim["speed"])
    if board["product"]["profile"] == "energy":
        hal = HostHal(flash_dir, clock)
    else:  # a UART or an ADC: the parts' HAL
        try:
            from paymote.simulator.parts import PartsHal
        except ImportError:
            from simulator.parts import PartsHal
        hal = PartsHal(flash_dir, clock)
    the_world = world.World(_model(sim["scenario"], sim["seed"], hal, board, clock), clock)
    hal.on_sleep = the_world.sleep
    if has_rtc_memory(board):  # before the watchdog's socket, which a deep sleep closes too
        _sleeping_board().with_rtc_memory(hal, rtc_memory)
    if "watchdog" in sim:
        _tell_the_watchdog(hal, *sim["watchdog"])
    return hal, the_world


def _tell_the_watchdog(hal, host, port, name):
    """The board's feeds also reach the simulator's watchdog
    (simulator/watchdog.py), which resets a board that stops feeding: a
    datagram at most every TELL_EVERY_MS, however often the board feeds (a
    GPS board feeds each simulated second, thousands of times a real one,
    which would fill the simulator's socket and drown the other boards')."""
    sock = hal.udp_socket()
    address = hal.resolve(host, port)
    feed = hal.feed_watchdog
    name = name.encode()
    told_ms = [None]

    def feed_and_tell():
        feed()
        now_ms = hal.ticks_ms()
        if told_ms[0] is not None and hal.ticks_diff(now_ms, told_ms[0]) < TELL_EVERY_MS:
            return
        told_ms[0] = now_ms
        try:
            sock.sendto(name, address)
        except OSError:
            pass  # the simulator has gone: nobody to reset the board

    hal.feed_watchdog = feed_and_tell


def boot(flash_dir, periods=None, pause=None):
    """Boot the board and run it (forever unless periods is given). pause:
    how its world waits (the cpython engine's boards wait on their power
    switch). Returns how many times it slept deeply."""
    if has_rtc_memory(_load(flash_dir, "board.json")):
        return _sleeping_board().boot(hal_for, flash_dir, periods, pause)
    hal, the_world = hal_for(flash_dir)
    if pause is not None:
        the_world.pause = pause
    main.run(hal, periods)
    return 0


if __name__ == "__main__":  # FLASH [PERIODS]: with PERIODS, say how often the board slept deeply
    if len(sys.argv) > 2:
        print("slept deeply", boot(sys.argv[1], int(sys.argv[2])))
    else:
        boot(sys.argv[1])
