"""Imports the compiled modules one by one (as a board's boot does) and
builds and signs the sample messages. Run with -X heapsize=64K."""

import gc

for name in (
    "crypto.errors",
    "crypto.cbor",
    "crypto._ed25519_table",
    "crypto.sha512",
    "crypto.ed25519",
    "crypto.cose",
    "crypto.messages",
    "simulator.sample",
):
    __import__(name)
    gc.collect()

from simulator.sample import sample  # noqa: E402

s = sample(1)
gc.collect()
print(s["intent"].hex())
print(s["attestation"].hex())
print(s["reading_batch"].hex())
print("free", gc.mem_free())
