"""MicroPython's raw REPL over a serial port (the protocol mpremote uses):
Ctrl-A enters it, code then Ctrl-D runs it, and the board answers
"OK", stdout, 0x04, stderr, 0x04, ">". Every file operation is built on exec
and eval; a device error becomes an OSError with its errno, as in mpremote."""

from __future__ import annotations

import ast
import errno
import re
import time

import serial

CHUNK_BYTES = 192  # of file data per exec: short lines fit any board's input buffer
_ERRNO = re.compile(r"OSError: \[Errno (\d+)\]")


class ReplError(RuntimeError):
    """The board raised something other than OSError; the message is its traceback."""


class NoBoard(ConnectionError):  # noqa: N818 - a condition the user must fix
    """Nothing answering as a MicroPython REPL at the port."""


class RawRepl:
    def __init__(self, port: str, baudrate: int = 115200, timeout_s: float = 5.0) -> None:
        try:
            self._serial = serial.Serial(port, baudrate=baudrate, timeout=0.05, write_timeout=timeout_s)
        except serial.SerialException as e:
            raise NoBoard(f"cannot open {port}: {e}") from None
        self._timeout_s = timeout_s
        self.port = port
        self.transcript = bytearray()  # everything read, for tests that check what crossed the wire

    def _read_until(self, marker: bytes, timeout_s: float | None = None) -> bytes:
        deadline = time.monotonic() + (timeout_s or self._timeout_s)
        data = bytearray()
        while not data.endswith(marker):
            if time.monotonic() > deadline:
                raise NoBoard(
                    f"no answer from {self.port} (expected {marker!r}; is a MicroPython REPL running?)"
                )
            chunk = self._serial.read(1)
            data += chunk
            self.transcript += chunk
        return bytes(data)

    def enter(self) -> None:
        """Interrupt whatever runs and enter the raw REPL."""
        self._serial.write(b"\r\x03\x03")
        time.sleep(0.1)
        self._serial.reset_input_buffer()
        self._serial.write(b"\r\x01")
        self._read_until(b"raw REPL; CTRL-B to exit")
        self._read_until(b">")

    def exit(self) -> None:
        self._serial.write(b"\x02")

    def close(self) -> None:
        self._serial.close()

    def exec(self, code: str, timeout_s: float | None = None) -> str:
        """Run code on the board; its stdout, or OSError / ReplError for a traceback."""
        self._serial.write(code.encode() + b"\x04")
        if self._read_until(b"OK", timeout_s)[-2:] != b"OK":
            raise ReplError("the board did not accept the code")
        out = self._read_until(b"\x04", timeout_s)[:-1]
        err = self._read_until(b"\x04", timeout_s)[:-1]
        self._read_until(b">", timeout_s)
        if err:
            text = err.decode(errors="replace")
            found = _ERRNO.search(text)
            if found:
                number = int(found.group(1))
                raise OSError(number, f"{errno.errorcode.get(number, number)} on the board")
            raise ReplError(text.strip())
        return out.decode(errors="replace").replace("\r", "")

    def eval(self, expression: str):
        """The value of a literal-valued expression on the board."""
        return ast.literal_eval(self.exec(f"print(repr({expression}))").strip())

    # ---- files, all built on exec and eval

    def mkdir(self, path: str) -> None:
        self.exec(f"import os\ntry:\n os.mkdir({path!r})\nexcept OSError as e:\n if e.args[0] != 17: raise")

    def put(self, data: bytes, path: str) -> None:
        self.exec(f"f = open({path!r}, 'wb')")
        for i in range(0, len(data), CHUNK_BYTES):
            self.exec(f"f.write(bytes.fromhex({data[i : i + CHUNK_BYTES].hex()!r}))")
        self.exec("f.close()")

    def sha256(self, path: str) -> str:
        return self.eval(
            f"__import__('binascii').hexlify(__import__('hashlib').sha256(open({path!r}, 'rb').read())"
            ".digest()).decode()"
        )

    def exists(self, path: str) -> bool:
        try:
            self.exec(f"import os\nos.stat({path!r})")
        except OSError as e:
            if e.errno == errno.ENOENT:
                return False
            raise
        return True
