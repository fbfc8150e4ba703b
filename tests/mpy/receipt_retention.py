"""Receipts kept for the newest N messages across reboots and skipped
numbers; printed so both interpreters can be compared. Argument: FLASH_DIR."""

import sys

try:
    from paymote.firmware.outbox import Outbox
    from paymote.firmware.storage import FlashStorage
except ImportError:
    from firmware.outbox import Outbox
    from firmware.storage import FlashStorage


def acknowledge(outbox, seqs):
    for seq in seqs:
        outbox.put(seq, b"intent %d" % seq)
        outbox.done("outbox/%010d" % seq, b"receipt %d" % seq)


def kept(storage, tag):
    return ["%s%010d" % (tag, n) for n in sorted(storage.numbers("receipts", tag))]


storage = FlashStorage(sys.argv[1])
acknowledge(Outbox(storage, receipts_kept=5), range(1, 11))
print("first boot", kept(storage, ""))
acknowledge(Outbox(storage, receipts_kept=5), range(17, 31))  # a reboot skipped 11..16
print("after a reboot", kept(storage, ""))
acknowledge(Outbox(storage, receipts_kept=5), range(49, 51))  # two boots that signed nothing: 31..48 skipped
print("after empty boots", kept(storage, ""))
readings = Outbox(storage, folder="readings", tag="r", receipts_kept=2)
for seq in range(1, 5):
    readings.put(seq, b"batch")
    readings.done("readings/%010d" % seq, b"receipt")
print("readings", kept(storage, "r"), "intents still", len(kept(storage, "")))
