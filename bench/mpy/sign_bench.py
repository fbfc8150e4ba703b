"""MicroPython half of bench/device_sign.py. Arguments: "full", "check",
"churn" (bytes one signing allocates; needs a large heap), or "fits N" (sign
with only N bytes of heap free; the exit status says whether it could).
Prints one JSON line. Runs on compiled modules from mpy-cross."""

import gc
import json
import sys
import time

for name in (
    "crypto.errors",
    "crypto.cbor",
    "crypto._ed25519_table",
    "crypto.sha512",
    "crypto.ed25519",
    "crypto.cose",
    "crypto.messages",
):
    __import__(name)
    gc.collect()

from crypto import _ed25519_table, cose, ed25519, messages  # noqa: E402

MODE = sys.argv[1] if len(sys.argv) > 1 else "full"  # full, check or fits
KEY = ed25519.SigningKey(bytes(range(32)))
KID = cose.key_id(KEY.public)
PAYLOAD = messages.intent_payload(
    seq=17,
    time_s=1764374401,
    prev=bytes(16),
    payer="hh-0017",
    payee="utility",
    amount_minor=42,
    currency="EUR",
    evidence=[1, 120010, 121410],
    tariff=[7, 2],
    period_s=900,
)
gc.collect()


def sign():
    return cose.sign1(PAYLOAD, KEY, KID)


def median_us(fn, runs):
    times = []
    for _ in range(runs):
        t0 = time.ticks_us()
        fn()
        times.append(time.ticks_diff(time.ticks_us(), t0))
    times.sort()
    return times[len(times) // 2]


def fits(headroom):
    """Sign with only `headroom` bytes of heap left free (the rest filled with
    small chunks, so a fragmented heap fills too). Exits 0 if it signed."""
    gc.collect()
    ballast = []
    while gc.mem_free() - 256 > headroom:
        ballast.append(bytearray(240))
    sign()
    print(json.dumps({"headroom": headroom, "free_when_signing": gc.mem_free()}))


def allocated_bytes():
    """Bytes allocated by one signing, garbage included (GC off)."""
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    sign()
    after = gc.mem_alloc()
    gc.enable()
    return after - before


if MODE == "fits":
    fits(int(sys.argv[2]))
    sys.exit(0)
if MODE == "churn":  # run with a large heap: the GC is off while it signs
    print(json.dumps({"allocated_per_sign_bytes": allocated_bytes()}))
    sys.exit(0)
message = sign()
result = {"intent_bytes": len(message), "heap_free_after_import": gc.mem_free()}
if MODE == "full":
    from plain_ed25519 import PlainSigningKey

    plain = PlainSigningKey(bytes(range(32)))
    assert plain.sign(b"x") == KEY.sign(b"x")
    structure = cose.sig_structure(cose.PROTECTED_EDDSA, PAYLOAD)
    result["sign_us_median"] = median_us(sign, 200)
    result["ed25519_sign_us_median"] = median_us(lambda: KEY.sign(structure), 200)
    result["plain_sign_us_median"] = median_us(lambda: plain.sign(structure), 15)
    result["table_bytes"] = len(_ed25519_table.TABLE)
else:
    for _ in range(20):
        assert sign() == message
    result["signed"] = 20
print(json.dumps(result))
