"""The virtual boards' watchdogs (machine.WDT), kept by the simulator.

A real board's watchdog resets it when its firmware stops feeding it: a
reboot from flash with RAM lost, which is what the simulator's power cut
does to a board process. firmware/hal.py starts the WDT on the first feed
after boot, with WATCHDOG_TIMEOUT_MS. Here each feed of a MicroPython board
also sends its name in a datagram to this socket (simulator/board_main.py),
so a board whose process hangs, whatever it is stuck in, is seen from the
outside; Simulation resets the boards `expired` names and the report lists
them. Until a board's first feed after a (re)boot its watchdog is off, as
on the hardware.
"""

from __future__ import annotations

import socket

TIMEOUT_S = 8.0
"""firmware/hal.py's WATCHDOG_TIMEOUT_MS (tests/test_watchdog.py reads it there)."""
_NAME_BYTES_MAX = 64
_RECEIVE_BUFFER_BYTES = 1 << 20  # a 0.5 s tick of a large fleet's feeds (simulator/board_main.py paces them)


class Watchdog:
    def __init__(self, timeout_s: float | None = None) -> None:
        self.timeout_s = TIMEOUT_S if timeout_s is None else timeout_s
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER_BYTES)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.setblocking(False)
        self._fed: dict[str, float] = {}  # board name -> when its last feed was read

    @property
    def address(self) -> tuple[str, int]:
        """Where the boards' feeds go (written into each board's sim.json)."""
        return self._sock.getsockname()

    def _read_feeds(self, now_s: float) -> None:
        while True:
            try:
                name = self._sock.recv(_NAME_BYTES_MAX)
            except (BlockingIOError, InterruptedError):
                return
            self._fed[name.decode(errors="replace")] = now_s

    def expired(self, now_s: float) -> list[str]:
        """The boards whose watchdog runs and was last fed over timeout_s ago.
        Feeds are read first, so time the simulator itself was busy never
        counts against a board that fed meanwhile."""
        self._read_feeds(now_s)
        return sorted(name for name, fed_s in self._fed.items() if now_s - fed_s > self.timeout_s)

    def rebooted(self, name: str, now_s: float) -> None:
        """The board restarted (a power cut or a watchdog reset): its
        watchdog is off until it feeds again. Call it once the old process
        has ended; the feeds it sent are read first, so none outlives it."""
        self._read_feeds(now_s)
        self._fed.pop(name, None)

    def close(self) -> None:
        self._sock.close()
