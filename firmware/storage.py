"""Flash storage for the firmware: the HAL's filesystem facet.

Every record is written whole or not at all: the bytes go to a temporary file,
which is then renamed over the target (atomic on LittleFS, which ESP32 and RP2
ports use, and on POSIX). Each record ends with a CRC-32, so a torn or rotted
record is recognised when it is read back.

For power-loss tests, `cut_after` stops the interpreter after that many write
steps (a step: writing a file, which can tear half-way; a rename; a remove).
"""

import binascii
import os
import sys

try:  # CPython, installed: one copy of each module
    from paymote.crypto._compat import const
except ImportError:  # on a board
    from crypto._compat import const

_RECORD_BYTES_MAX = const(2048)
_TMP = ".tmp"
POWER_CUT_EXIT = const(99)  # the exit status of a simulated power cut


class CorruptRecord(ValueError):  # noqa: N818 - a condition of the flash, named as such
    """A record whose checksum does not match: torn, or rotted flash."""


def _crc(data):
    return (binascii.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")


class FlashStorage:
    """Records (bytes) by path under root. Counts write steps and the directory
    entries its walks read: flash writes and reads per intent are budgets
    docs/performance.md reports."""

    def __init__(self, root, cut_after=None):
        self.root = root
        self.writes = 0
        self.listed = 0
        self._cut_after = cut_after
        for folder in ("", "/outbox", "/readings", "/sent", "/receipts", "/dead"):
            try:
                os.mkdir(root + folder)
            except OSError:
                pass  # exists
        try:
            os.remove(self._path(_TMP))  # a write torn by a power cut: never renamed, so never real
        except OSError:
            pass

    def _path(self, name):
        return self.root + "/" + name

    def _step(self):
        self.writes += 1
        if self._cut_after is not None and self.writes >= self._cut_after:
            sys.exit(POWER_CUT_EXIT)  # the power goes; nothing after this runs

    def write(self, name, data):
        """Store data under name, atomically, with its checksum."""
        if len(data) > _RECORD_BYTES_MAX:
            raise ValueError("record over %d bytes" % _RECORD_BYTES_MAX)
        record = bytes(data) + _crc(data)
        with open(self._path(_TMP), "wb") as f:
            if self._cut_after is not None and self.writes + 1 >= self._cut_after:
                f.write(record[: len(record) // 2])  # torn: the power goes mid-write
                f.close()
                self._step()
            f.write(record)
        self._step()
        os.rename(self._path(_TMP), self._path(name))
        self._step()

    def read(self, name):
        """The record's data, None if absent; CorruptRecord if its checksum fails."""
        try:
            with open(self._path(name), "rb") as f:
                record = f.read()
        except OSError:
            return None
        if len(record) < 4 or _crc(record[:-4]) != record[-4:]:
            raise CorruptRecord(name)
        return record[:-4]

    def rename(self, name, new_name):
        os.rename(self._path(name), self._path(new_name))
        self._step()

    def remove(self, name):
        try:
            os.remove(self._path(name))
        except OSError:
            return
        self._step()

    def numbers(self, folder, prefix=""):
        """The N of each record named prefix + N (ten digits) in folder, one at
        a time, in the directory's order; none if the folder is not there yet.
        Walks the directory without building a list of its names (os.ilistdir
        on MicroPython, os.scandir on CPython): a 96 KB heap cannot hold the
        names of a full outbox (64 of them ran it out at boot)."""
        try:
            if hasattr(os, "ilistdir"):
                entries = (entry[0] for entry in os.ilistdir(self._path(folder)))
            else:
                entries = (entry.name for entry in os.scandir(self._path(folder)))
            for name in entries:
                self.listed += 1
                digits = name[len(prefix) :]
                if name.startswith(prefix) and len(digits) == 10 and digits.isdigit():
                    yield int(digits)
        except OSError:  # no such folder yet
            return

    def lowest_number(self, folder, prefix):
        """The smallest N of the records named prefix + N in folder, or None."""
        lowest = None
        for number in self.numbers(folder, prefix):
            if lowest is None or number < lowest:
                lowest = number
        return lowest
