"""A virtual board whose RTC memory lasts through deep sleep (an ESP32 on
battery, firmware/hal.py): its boot, from simulator/board_main.py, which
loads this module only for such a board. Portable (MicroPython and CPython).

When the firmware sleeps with something to keep, the sleep's time passes,
DeepSleep ends the boot, and boot() boots the board again from its flash
with that in RTC memory, held here as the board would hold it: lost with the
process at a power cut. The boot's RAM is gone and its sockets are closed;
the firmware's modules stay imported, where a board loads them again.
"""

import gc

try:
    from paymote.firmware import main
except ImportError:
    from firmware import main


class DeepSleep(BaseException):
    """A board powered down in a deep sleep, its sleep's time passed: its boot
    ends, and boot() boots it again with args[0] in RTC memory. A
    BaseException: the power going is not an error the firmware may catch."""


def with_rtc_memory(hal, kept):
    """firmware/hal.py's deep sleep on the host HAL: carried() gives kept
    (once), and a sleep given something to keep powers the board down after
    its time. The boot's sockets close with it (MicroPython's unix sockets
    have no finaliser: left open, each wake would leak the CoAP client's and
    the watchdog's)."""
    sleep = hal.sleep_s
    open_socket = hal.udp_socket
    sockets = []
    kept = [kept]

    def sleep_s(seconds, carry=None):
        state = None if carry is None else carry()  # a board keeps it before it powers down
        sleep(seconds)
        if state is not None:
            for sock in sockets:
                sock.close()
            raise DeepSleep(state)

    def carried():
        state, kept[0] = kept[0], b""
        return state or None

    def udp_socket():
        sock = open_socket()
        sockets.append(sock)
        return sock

    hal.sleep_s, hal.carried, hal.udp_socket = sleep_s, carried, udp_socket


def boot(hal_for, flash_dir, periods=None, pause=None):
    """board_main.boot for this board (hal_for: board_main's, passed in: run
    as `-m simulator.board_main`, that module is __main__, and importing it
    here would load it twice): booted again after each deep sleep with what
    it kept. Returns how many times it slept deeply."""
    kept = b""
    slept = 0
    while periods is None or periods > 0:
        hal, the_world = hal_for(flash_dir, kept)
        if pause is not None:
            the_world.pause = pause
        try:
            main.run(hal, periods)
            return slept
        except DeepSleep as sleep:  # after one period: that boot's RAM is gone
            kept = sleep.args[0]
        slept += 1
        if periods is not None:
            periods -= 1
        hal = the_world = None
        gc.collect()
    return slept
