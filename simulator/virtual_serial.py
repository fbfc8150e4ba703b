"""A board's serial port on the desktop: the real MicroPython interpreter on
one pseudo-terminal, relayed to a second one whose path a tool opens exactly
as it would open /dev/ttyUSB0 (pyserial, raw REPL, mpremote)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import threading
import tty
from pathlib import Path

from paymote.simulator import micropython_host


class VirtualBoard:
    """A MicroPython process whose REPL is reachable at `port`; its working
    directory is the board's flash. Use as a context manager."""

    def __init__(self, flash_dir: Path, heap: str = "96K") -> None:
        flash_dir.mkdir(parents=True, exist_ok=True)
        self.flash_dir = flash_dir
        board_master, board_slave = pty.openpty()
        tty.setraw(board_slave)  # no line-ending translation: bytes as a USB serial port carries them
        self._tool_master, tool_slave = pty.openpty()
        tty.setraw(tool_slave)  # the tool sees exactly the bytes the board sends
        self.port = os.ttyname(tool_slave)
        self._tool_slave = tool_slave
        self._board_master = board_master
        self.process = subprocess.Popen(
            [micropython_host.command(), "-X", f"heapsize={heap}"],
            stdin=board_slave,
            stdout=board_slave,
            stderr=board_slave,
            cwd=flash_dir,
            close_fds=True,
            env=dict(os.environ, MICROPYPATH=".frozen:lib"),  # the board's own lib/ on its flash
        )
        os.close(board_slave)
        self._stop = threading.Event()
        self._relay = threading.Thread(target=self._pump, daemon=True)
        self._relay.start()

    def _pump(self) -> None:
        """Copy bytes both ways until stopped or the board's end closes."""
        ends = {self._board_master: self._tool_master, self._tool_master: self._board_master}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(ends), [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    return
                if not data:
                    return
                os.write(ends[fd], data)

    def close(self) -> None:
        self._stop.set()
        self.process.kill()
        self.process.wait()
        self._relay.join(1)
        for fd in (self._board_master, self._tool_master, self._tool_slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> VirtualBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
