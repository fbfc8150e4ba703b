"""A board's signing workload against flash that loses power after CUT write
steps ("none": never). Run again after a cut, it boots from what is on flash
and finishes. A fake gateway (gateway.log, outside the flash under test)
records every message it is sent, as a real one would, idempotently.

Arguments: ROOT CUT TARGET. Prints "complete WRITES INTENTS" when TARGET
distinct intents have reached the gateway and the outbox is empty."""

import sys

from crypto import cose, ed25519, messages
from crypto._compat import sha256_digest
from firmware.counter import SequenceCounter
from firmware.outbox import Outbox
from firmware.storage import FlashStorage

root, cut, target = sys.argv[1], sys.argv[2], int(sys.argv[3])
storage = FlashStorage(root + "/flash", None if cut == "none" else int(cut))
counter = SequenceCounter(storage)
outbox = Outbox(storage)
key = ed25519.SigningKey(bytes(range(32)))
kid = cose.key_id(key.public)
log_path = root + "/gateway.log"


def gateway_seen():
    try:
        with open(log_path) as f:
            return set(line.strip() for line in f if line.strip())
    except OSError:
        return set()


def gateway_accept(message):
    with open(log_path, "a") as f:
        f.write(message.hex() + "\n")
    return sha256_digest(message)  # stands in for the signed receipt


def drain():
    for name, message in outbox.oldest(64):
        outbox.done(name, gateway_accept(message))


drain()
signed = 0
while len(gateway_seen()) < target:
    seq = counter.take()
    payload = messages.intent_payload(
        seq=seq,
        time_s=1764374400 + seq,
        prev=outbox.prev_hash(),
        payer="hh-1",
        payee="utility",
        amount_minor=10 + seq,
        currency="EUR",
        evidence=[1, seq * 100, seq * 100 + 50],
        tariff=[7, 2],
        period_s=900,
    )
    outbox.put(seq, cose.sign1(payload, key, kid))
    signed += 1
    drain()
print("complete", storage.writes, signed)
