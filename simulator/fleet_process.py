"""The cpython engine's fleet process: every board of a simulation as a
thread of one CPython process of its own, running the same firmware modules
as the micropython engine's processes. Apart from the simulator's process so
that its event loop, which carries the faulty link for the whole fleet,
keeps its own interpreter lock: with thousands of boards signing in threads
beside it, the link starved and the boards timed out.

    python -m paymote.simulator.fleet_process
    stdin:  a JSON list of the boards' flash folders, then one command a line:
            start NAME | cut NAME | stop        (NAME: the board's folder name)
    stdout: {"crashed": NAME, "reason": ...} for a board that died by itself

A power cut stops a board while it sleeps; its flash stays as it was.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

_JOIN_S = 30.0  # a board in a request finishes it (with its retransmissions) within this
SWITCH_INTERVAL_S = 0.05
"""How long a board thread may hold the interpreter lock before one that
waits for it may take it (CPython's default is 5 ms). With thousands of
threads waking on answers, the default handed the lock around so often that
the process spent most of its time in the kernel: 5,000 households at speed
36 for 90 s kept up 0.06 with it, 0.78 with 50 ms (docs/performance.md)."""
BOOTS_PER_S_MAX = 200
"""Boards started per second at most. A fleet is not switched on in one
millisecond; started together, thousands of boards measured their firmware,
signed and attested at once, their answers came later than their CoAP
timeouts, and the retransmissions kept the gateway saturated: with the 50 ms
switch interval, 5,000 boards at speed 36 still kept up 0.78 in one 90 s run
and 0.04 in a 180 s one; paced, 0.70 and 0.69 in two 120 s runs."""
BOARD_STACK_BYTES = 256 * 1024
"""A board thread's C stack (the default is 8 MB of address space each; the
firmware's Python frames live on the heap)."""


class PowerCut(BaseException):
    """Raised in a board's thread while it sleeps: the board stops there."""


class ThreadBoard:
    def __init__(self, flash: Path, report) -> None:
        self.flash = flash
        self._report = report  # report(name, reason) for a crash
        self._cut = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._cut.clear()
        self._thread = threading.Thread(target=self._run, name=self.flash.parent.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from paymote.simulator import board_main

        def pause(seconds: float) -> None:
            if self._cut.wait(seconds):  # the power went while the board slept
                raise PowerCut

        try:
            board_main.boot(str(self.flash), pause=pause)
        except PowerCut:
            pass
        except Exception as e:  # noqa: BLE001 - reported as the board's crash, as its console would show
            self._report(self.flash.parent.name, f"{type(e).__name__}: {e}")

    def cut_soon(self) -> None:
        self._cut.set()

    def power_cut(self) -> None:
        self._cut.set()
        if self._thread is not None:
            self._thread.join(_JOIN_S)
            self._thread = None


def main() -> None:
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    threading.stack_size(BOARD_STACK_BYTES)
    lock = threading.Lock()

    def report(name: str, reason: str) -> None:
        with lock:
            print(json.dumps({"crashed": name, "reason": reason}), flush=True)

    boards = {Path(p).parent.name: ThreadBoard(Path(p), report) for p in json.loads(sys.stdin.readline())}
    next_start = time.monotonic()
    for line in sys.stdin:
        command, _, name = line.strip().partition(" ")
        if command == "start":
            wait_s = next_start - time.monotonic()
            if wait_s > 0:
                time.sleep(wait_s)
            next_start = max(next_start, time.monotonic()) + 1 / BOOTS_PER_S_MAX
            boards[name].start()
        elif command == "cut":
            boards[name].power_cut()
        elif command == "stop":
            break
    for board in boards.values():
        board.cut_soon()  # every board at once, then wait for each
    for board in boards.values():
        board.power_cut()


if __name__ == "__main__":
    main()
