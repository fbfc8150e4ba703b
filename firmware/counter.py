"""Sequence numbers that a reboot never reuses, at one flash write per block.

The counter reserves BLOCK numbers at a time: the highest reserved number is
stored before any of them is used, so after a power cut the board starts
past everything it may have used. The numbers it skips make a gap the gateway
records (docs/protocol.md §9), which costs nothing; a reused number would be
refused as a fork.
"""

try:  # CPython, installed: one copy of each module
    from paymote.crypto._compat import const
except ImportError:  # on a board
    from crypto._compat import const

BLOCK = const(16)
_NAME = "seq.reserved"


class SequenceCounter:
    def __init__(self, storage, block=BLOCK, name=_NAME):
        """name: where the reservation is kept (one counter per message kind)."""
        self._storage = storage
        self._block = block
        self._name = name
        stored = storage.read(name)
        self._reserved = int.from_bytes(stored, "big") if stored else 0
        self.next = self._reserved + 1  # skip what the last boot may have used

    def take(self):
        """The next sequence number, never handed out before on this flash."""
        if self.next > self._reserved:
            self._reserved = self.next + self._block - 1
            self._storage.write(self._name, self._reserved.to_bytes(4, "big"))
        seq = self.next
        self.next += 1
        return seq
