"""The outbox: signed messages on flash until the gateway has answered.

A message is enqueued with one atomic write (storage.write), so after a power
cut it is either there whole or it was never signed as far as the chain is
concerned. It leaves the outbox only with an answer: done (its receipt is
stored first, then the record moves to sent/last, which is also how the chain
head survives an empty outbox) or dead-lettered with the reason. Oldest first;
bounded: when full the agent stops producing and says so, it never drops.

Receipts are kept for the last RECEIPTS_KEPT sequence numbers of each kind;
older ones are removed as new ones arrive, so flash does not fill over a
board's life. The gateway keeps every receipt and answers a message it already has
with the same one (2.04), so a receipt removed here is never lost.
"""

try:  # CPython, installed: one copy of each module
    from paymote.crypto import messages
    from paymote.crypto._compat import const
except ImportError:  # on a board
    from crypto import messages
    from crypto._compat import const

_CAPACITY = const(64)
RECEIPTS_KEPT = const(256)
_LAST = "sent/last"


class OutboxFull(Exception):  # noqa: N818 - a condition the agent reports, not a failure
    """The outbox holds _CAPACITY messages; produce no more until some are answered."""


class Outbox:
    def __init__(self, storage, capacity=_CAPACITY, folder="outbox", tag="", receipts_kept=RECEIPTS_KEPT):
        """folder holds this kind's queue; tag keeps its receipts, dead letters
        and last sent record apart from another kind's (intents use none)."""
        self._storage = storage
        self._capacity = capacity
        self._receipts_kept = receipts_kept
        self._forgotten_to = None  # receipts up to here are gone; found at the first answer
        self._folder = folder
        self._tag = tag
        self._last = _LAST + ("-" + tag if tag else "")
        self._recover()

    def _recover(self):
        """After a power cut between storing a receipt and moving the record,
        finish the move: the receipt proves the gateway has the message.
        (Renamed after the walk: a directory is not changed while it is read.)"""
        answered = [
            seq
            for seq in self._storage.numbers(self._folder)
            if self._storage.read("receipts/%s%010d" % (self._tag, seq)) is not None
        ]
        for seq in answered:
            self._storage.rename(self._name(seq), self._last)
        self._count()

    def _count(self):
        """Count the queue and find its newest number, walking the folder once.
        Both are kept in RAM from then on, so signing an intent walks no folder
        (each walk reads every entry of a directory on flash)."""
        self._length = 0
        self._newest = None
        for seq in self._storage.numbers(self._folder):
            self._length += 1
            self._newest = max(seq, self._newest or 0)  # numbers start at 1

    def _retired(self, seq):
        """Record seq has left the queue on flash."""
        self._length -= 1
        if self._newest == seq:
            self._newest = None
            if self._length:  # the newest went before older ones (a dead letter): find the next
                self._count()

    def _name(self, seq):
        return "%s/%010d" % (self._folder, seq)

    def _key(self, name):
        return self._tag + name.split("/")[1]

    def newest(self):
        """The newest queued record's name, or None."""
        return None if self._newest is None else self._name(self._newest)

    def __len__(self):
        return self._length

    def check_room(self):
        """Raise OutboxFull if a message would not fit: before a sequence
        number is taken, so a full outbox never costs one."""
        if len(self) >= self._capacity:
            raise OutboxFull("outbox holds %d messages" % self._capacity)

    def put(self, seq, message):
        """Queue a signed message under its sequence number."""
        self.check_room()
        self._storage.write(self._name(seq), message)
        self._length += 1
        self._newest = max(seq, self._newest or 0)

    def oldest(self, count=1):
        """Up to count (name, message) pairs, oldest first, to send as one batch."""
        lowest = []  # the count smallest numbers so far, ascending
        for seq in self._storage.numbers(self._folder):
            if len(lowest) == count and seq > lowest[-1]:
                continue
            at = len(lowest)
            while at and lowest[at - 1] > seq:
                at -= 1
            lowest.insert(at, seq)
            if len(lowest) > count:
                lowest.pop()
        return [(self._name(seq), self._storage.read(self._name(seq))) for seq in lowest]

    def done(self, name, receipt):
        """The gateway answered 2.01/2.04: keep the receipt, retire the message,
        and remove the receipts that fell out of the newest receipts_kept."""
        seq = int(name.split("/")[1])
        self._storage.write("receipts/" + self._key(name), receipt)
        self._storage.rename(name, self._last)
        self._retired(seq)
        self._forget_receipts_up_to(seq - self._receipts_kept)

    def _forget_receipts_up_to(self, seq):
        """Remove every receipt numbered up to seq not removed yet. The numbers
        a reboot skipped have none: a failed remove, not a flash write. Where
        removal stopped is found by walking the receipts (both kinds', up to
        2 * receipts_kept entries) once a boot, at its first answer, not when the
        outbox is made: a board that wakes from deep sleep only to sample walks none."""
        if self._forgotten_to is None:
            lowest = self._storage.lowest_number("receipts", self._tag)
            self._forgotten_to = 0 if lowest is None else lowest - 1
        while self._forgotten_to < seq:
            self._forgotten_to += 1
            self._storage.remove("receipts/%s%010d" % (self._tag, self._forgotten_to))

    def dead_letter(self, name, reason):
        """The gateway refused it for good (4.00/4.09): keep it with the reason.
        If it is the newest message it stays the chain head: the next message
        was, or will be, signed after it."""
        key = self._key(name)
        if self.newest() == name:
            self._storage.write(self._last, self._storage.read(name))
        self._storage.write("dead/" + key + ".why", reason.encode())
        self._storage.rename(name, "dead/" + key)
        self._retired(int(name.split("/")[1]))

    def prev_hash(self):
        """The prev hash for the next message: the chain hash of the newest
        signed message on flash (queued, else retired), else genesis."""
        data = self._storage.read(self.newest() or self._last)
        return messages.GENESIS_HASH if data is None else messages.chain_hash(data)
