"""The outbox's length and newest number, kept in RAM, against a walk of its
folder on flash after every put, done and dead letter, across reboots (a new
Outbox); raises on the first difference. The operations come from a fixed
linear congruential sequence, so both interpreters run the same ones.
Prints each boot's final state, how many folder entries signing read, and
how many a wake reads (making both kinds' outboxes again).
Arguments: FLASH_DIR OPERATIONS."""

import sys

try:
    from paymote.firmware.outbox import Outbox
    from paymote.firmware.storage import FlashStorage
except ImportError:
    from firmware.outbox import Outbox
    from firmware.storage import FlashStorage


def walked(storage):
    seqs = list(storage.numbers("outbox"))
    return len(seqs), (max(seqs) if seqs else None)


storage = FlashStorage(sys.argv[1])
operations = int(sys.argv[2])
outbox = Outbox(storage, capacity=12)
state = 12345
seq = 0
signing_entries = 0
for step in range(operations):
    state = (state * 1103515245 + 12345) & 0x7FFFFFFF
    choice = state % 10
    if choice < 5 and len(outbox) < 12:  # sign: room, chain head, queue
        seq += 1 + (state >> 8) % 2  # a reboot or a reading batch may skip a number
        before = storage.listed
        outbox.check_room()
        outbox.prev_hash()
        outbox.put(seq, b"intent %d" % seq)
        signing_entries += storage.listed - before
    elif choice < 8 and len(outbox):  # answered, oldest first
        name, _ = outbox.oldest(1)[0]
        outbox.done(name, b"receipt")
    elif choice < 9 and len(outbox):  # refused: any of the queued, newest included
        queued = outbox.oldest(12)
        outbox.dead_letter(queued[(state >> 12) % len(queued)][0], "4.09")
    else:  # a reboot
        print("boot", len(outbox), outbox.newest())
        outbox = Outbox(storage, capacity=12)
    newest = outbox.newest()
    if (len(outbox), newest and int(newest.split("/")[1])) != walked(storage):
        raise AssertionError("step %d: kept %s, flash %s" % (step, (len(outbox), newest), walked(storage)))
print("end", len(outbox), outbox.newest(), "signing read", signing_entries, "entries")
before = storage.listed  # a wake from deep sleep: both kinds' outboxes made again
Outbox(storage, capacity=12)
Outbox(storage, folder="readings", tag="r")
read = storage.listed - before
print("a wake read", read, "entries, with", len(list(storage.numbers("receipts"))), "receipts on flash")
