"""Messages as their receiver takes them: the strict parser of each device
message kind (docs/paymote.cddl), the gateway's receipt, and open_message /
open_receipt, which parse and verify a whole COSE_Sign1.

The gateway and whoever checks a receipt load this module; a board, which only
builds messages (crypto/messages.py), does not. Moving them here left the
96 KB test board 2.9 KB more free heap and 20 fewer interned names
(docs/performance.md, the qstr table).
A parser takes the decoded payload (from crypto.cbor or cbor2) and returns the
message's record, or raises FieldError naming the field.
"""

from . import cbor, cose
from ._compat import const
from .errors import FieldError
from .messages import (
    ATTESTATION_BYTES_MAX,
    CLAIM_LOCATION,
    CONTENT_FORMAT_MANIFEST_DIGEST,
    INTENT_BYTES_MAX,
    READING_BATCH_BYTES_MAX,
    SEQ_MAX,
    TIME_S_MIN,
    VERSION_SCHEME_SEMVER,
    Attestation,
    Intent,
    ReadingBatch,
    Record,
    check_attestation,
    check_batch,
    check_bytes,
    check_intent,
    check_pair,
    check_uint,
)

# What a receipt says it acknowledges (docs/paymote.cddl: receipt-payload)
KIND_INTENT = const(1)
KIND_ATTESTATION = const(2)
KIND_READING_BATCH = const(3)

_RECEIPT_BYTES_MAX = const(192)
_RECEIPT_DEVICE = const(1)
_RECEIPT_SEQ = const(2)
_RECEIPT_ENTRY_HASH = const(3)
_RECEIPT_TIME = const(4)
_RECEIPT_KIND = const(5)


def _fields(payload, required, optional, what):
    if not isinstance(payload, dict):
        raise FieldError(what, "payload must be a map")
    for key in payload:
        if key not in required and key not in optional:
            raise FieldError(what, "unknown key %r" % (key,))
    for key in required:
        if key not in payload:
            raise FieldError(what, "missing key %d" % key)


def _parse(cls, payload, what, optional=()):
    _fields(payload, [k for k in cls.KEYS if k not in optional], optional, what)
    return cls(*[payload.get(k) for k in cls.KEYS])


def parse_intent(payload):
    """An Intent from a decoded intent payload map."""
    return check_intent(_parse(Intent, payload, "intent"))


def parse_attestation(payload):
    att = _parse(Attestation, payload, "attestation", (CLAIM_LOCATION,))
    measurements = att.measurement
    if not isinstance(measurements, list) or len(measurements) != 1:
        raise FieldError("measurements", "must hold exactly one measurement")
    content_format, att.measurement = check_pair(measurements[0], "measurement")
    if content_format != CONTENT_FORMAT_MANIFEST_DIGEST:
        raise FieldError("measurement", "unknown content format")
    att.swversion, scheme = check_pair(att.swversion, "swversion")
    if scheme != VERSION_SCHEME_SEMVER:
        raise FieldError("swversion", "version scheme must be semver (16384)")
    return check_attestation(att)


def parse_reading_batch(payload):
    return check_batch(_parse(ReadingBatch, payload, "reading batch"))


# ------------------------------------------------------------ gateway receipt


class Receipt(Record):
    """The gateway's signed acknowledgement that a device message is recorded."""

    FIELDS = ("device_id", "seq", "entry_hash", "time_s", "kind")
    KEYS = (_RECEIPT_DEVICE, _RECEIPT_SEQ, _RECEIPT_ENTRY_HASH, _RECEIPT_TIME, _RECEIPT_KIND)


def _check_receipt(receipt):
    check_bytes(receipt.device_id, "device", cose.KID_BYTES, cose.KID_BYTES)
    check_uint(receipt.seq, "seq", 0, SEQ_MAX)
    check_bytes(receipt.entry_hash, "entry hash", 32, 32)
    check_uint(receipt.time_s, "time", TIME_S_MIN)
    check_uint(receipt.kind, "kind", KIND_INTENT, KIND_READING_BATCH)
    return receipt


def receipt_payload(**fields):
    return cbor.encode(_check_receipt(Receipt(**fields)).payload())


def parse_receipt(payload):
    return _check_receipt(_parse(Receipt, payload, "receipt"))


# ------------------------------------------------------------ whole messages

KINDS = {
    KIND_INTENT: (INTENT_BYTES_MAX, parse_intent),
    KIND_ATTESTATION: (ATTESTATION_BYTES_MAX, parse_attestation),
    KIND_READING_BATCH: (READING_BATCH_BYTES_MAX, parse_reading_batch),
}


def open_message(message, kind, keys):
    """Check and verify a device message of a known kind with the portable
    code: (Sign1, parsed payload). The cheap structural checks run before the
    signature check. Raises a MessageError subclass, never returns False."""
    size_max, parse = KINDS[kind]
    envelope = cose.parse_sign1(message, size_max)
    parsed = parse(cbor.decode(envelope.payload, size_max=size_max, depth_max=4))
    cose.check_signature(envelope, keys)
    return envelope, parsed


def open_receipt(message, gateway_keys):
    """Check and verify a gateway receipt: (Sign1, Receipt)."""
    envelope = cose.parse_sign1(message, _RECEIPT_BYTES_MAX)
    parsed = parse_receipt(cbor.decode(envelope.payload, size_max=_RECEIPT_BYTES_MAX, depth_max=1))
    cose.check_signature(envelope, gateway_keys)
    return envelope, parsed
