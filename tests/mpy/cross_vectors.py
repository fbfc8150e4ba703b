"""Prints every portable computation as text lines. tests/test_micropython.py
runs this on MicroPython and on CPython and requires identical output."""

import sys

sys.path.append("tests")

try:
    from paymote.crypto import cbor, cose, ed25519, errors, inbound, sha512
    from paymote.simulator.sample import sample, sample_receipt
except ImportError:
    from crypto import cbor, cose, ed25519, errors, inbound, sha512
    from simulator.sample import sample, sample_receipt

import vectors

for message, _ in vectors.SHA512:
    print("sha512", sha512.digest(message).hex())
for n in (0, 1, 111, 112, 127, 128, 129, 239, 240, 255, 256, 1000):
    print("sha512-len", n, sha512.digest(bytes([n % 251]) * n).hex())

for secret, _public, message, _signature in vectors.RFC8032:
    key = ed25519.SigningKey(bytes.fromhex(secret))
    sig = key.sign(bytes.fromhex(message))
    print("ed25519", key.public.hex(), sig.hex())
    ed25519.verify(key.public, bytes.fromhex(message), sig)
    try:
        ed25519.verify(key.public, bytes.fromhex(message) + b"!", sig)
        print("ed25519 forged message accepted")
    except errors.BadSignature:
        print("ed25519 forged message refused")

VALUES = [
    0,
    23,
    24,
    255,
    256,
    65535,
    65536,
    4294967295,
    4294967296,
    18446744073709551615,
    -1,
    -24,
    -25,
    -256,
    -257,
    -18446744073709551616,
    b"",
    b"\x00\xff",
    "",
    "paymote",
    "h\u00e9llo",
    [],
    [1, [2, [3]]],
    {},
    {1: 2, -1: 3, "a": b"x", b"k": []},
    True,
    False,
    None,
    cbor.Tag(18, [b"", {}]),
    0.0,
    -0.0,
    1.5,
    0.1,
    65504.0,
    65536.0,
    1e300,
    5e-324,
]
for value in VALUES:
    encoded = cbor.encode(value)
    decoded = cbor.decode(encoded)
    print("cbor", encoded.hex(), cbor.encode(decoded) == encoded)

for mantissa, exp10 in ((523712345, -7), (-48958123, -7), (1, -1), (15, -1), (1, 0), (12345, 3), (7, -320)):
    print("float", mantissa, exp10, "%016x" % cbor.float_from_decimal(mantissa, exp10).bits)

MALFORMED = (
    "",
    "18",
    "1817",
    "1900ff",
    "5f4100ff",
    "a20102 0103",
    "a2020101 02",
    "0001",
    "f7",
    "f97e00",
    "fa3fc00000",
    "c1",
    "8181818181818181818101",
    "62c328",
    "1c",
    "ff",
    "f818",
)
for hexed in MALFORMED:
    try:
        cbor.decode(bytes.fromhex(hexed.replace(" ", "")), depth_max=8)
        print("malformed", hexed, "accepted")
    except errors.DecodeError as e:
        print("malformed", hexed, type(e).__name__)

for seed in (1, 2, 99):
    s = sample(seed)
    for key in ("device_id", "device_public_key", "intent", "attestation", "reading_batch"):
        print("sample", seed, key, s[key].hex())
    receipt, gateway_public = sample_receipt(seed, s["intent"], 17)
    print("receipt", seed, receipt.hex(), gateway_public.hex())
    keys = {s["device_id"]: cose.Ed25519Key(s["device_public_key"])}
    for kind in (inbound.KIND_INTENT, inbound.KIND_ATTESTATION, inbound.KIND_READING_BATCH):
        name = ("", "intent", "attestation", "reading_batch")[kind]
        envelope, parsed = inbound.open_message(s[name], kind, keys)
        print("open", seed, name, envelope.kid.hex(), type(parsed).__name__)
    gateway_keys = {cose.key_id(gateway_public): cose.Ed25519Key(gateway_public)}
    print("receipt-open", seed, inbound.open_receipt(receipt, gateway_keys)[1].seq)
