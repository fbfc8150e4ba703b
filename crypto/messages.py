"""Builders for paymote's device messages: payment intents, attestations
(EAT) and reading batches, and the field checks they share with their parsers.

docs/paymote.cddl is the single source of truth for these layouts; each
builder validates its arguments with the same checks its parser
(crypto/inbound.py) applies to what arrives, so a board can never sign what
the gateway would refuse. A board builds; it never loads the parsers.

A payload is a map with small integer keys (one byte each when encoded).
"""

from . import cbor
from ._compat import const, sha256_digest
from .errors import FieldError

# Size limits of whole COSE_Sign1 messages; checked before any parsing.
INTENT_BYTES_MAX = const(192)
ATTESTATION_BYTES_MAX = const(320)
READING_BATCH_BYTES_MAX = const(1024)

# Payment intent payload keys (docs/paymote.cddl: intent-payload)
_INTENT_SEQ = const(1)
_INTENT_TIME = const(2)
_INTENT_PREV = const(3)
_INTENT_PAYER = const(4)
_INTENT_PAYEE = const(5)
_INTENT_AMOUNT = const(6)
_INTENT_CURRENCY = const(7)
_INTENT_EVIDENCE = const(8)
_INTENT_TARIFF = const(9)
_INTENT_PERIOD = const(10)

EVIDENCE_ENERGY_WH = const(1)  # [1, meter start Wh, meter end Wh]
EVIDENCE_DISTANCE_M = const(2)  # [2, odometer start m, odometer end m]
EVIDENCE_DELIVERY = const(3)  # [3, consignment id, delivery event]
DELIVERY_EVENTS = (1, 2, 3)  # delivered, refused, damaged

# EAT claims (RFC 8392 §4, RFC 9711 §4 and §10.2: CWT Claims registry keys)
_CLAIM_IAT = const(6)
_CLAIM_NONCE = const(10)
_CLAIM_UEID = const(256)
_CLAIM_DBGSTAT = const(263)
CLAIM_LOCATION = const(264)
_CLAIM_BOOTCOUNT = const(267)
_CLAIM_SWNAME = const(270)
_CLAIM_SWVERSION = const(271)
_CLAIM_MEASUREMENTS = const(273)
_UEID_TYPE_RAND = const(0x01)  # RFC 9711 §4.2.1
VERSION_SCHEME_SEMVER = const(16384)  # CoSWID version-scheme (RFC 9393 §4.1)
# Experimental CoAP Content-Format (RFC 7252 §12.3: 65000-65535) naming our
# measurement: the SHA-256 of the firmware build manifest.
CONTENT_FORMAT_MANIFEST_DIGEST = const(65000)
_LOCATION_LATITUDE = const(1)  # RFC 9711 §4.2.10
_LOCATION_LONGITUDE = const(2)
_LOCATION_ALTITUDE = const(3)
_LOCATION_ACCURACY = const(4)

# Reading batch payload keys; records use SenML labels (RFC 8428 §6)
_BATCH_SEQ = const(1)
_BATCH_TIME = const(2)
_BATCH_RECORDS = const(3)
SENML_BASE_NAME = const(-2)
SENML_BASE_TIME = const(-3)
SENML_NAME = const(0)
SENML_UNIT = const(1)
SENML_VALUE = const(2)
SENML_TIME = const(6)
_BATCH_RECORDS_MAX = const(48)

_CHAIN_HASH_BYTES = const(16)
GENESIS_HASH = bytes(_CHAIN_HASH_BYTES)  # "prev" of a device's first intent
_UINT32_MAX = const(0xFFFFFFFF)
SEQ_MAX = const(0xFFFFFFFF)
_AMOUNT_MINOR_MAX = const(1000000000000)  # 10**12 minor units per intent
_ACCOUNT_BYTES_MAX = const(32)
TIME_S_MIN = const(1577836800)  # 2020-01-01: earlier stamps mean no clock
_ACCOUNT_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789.:_-"

# ISO 4217 alphabetic codes the formats accept, with their minor-unit digits.
_CURRENCIES = (
    "AED2ARS2AUD2BDT2BHD3BRL2CAD2CHF2CLP0CNY2COP2CZK2DKK2EGP2ETB2EUR2GBP2GHS2"
    "HKD2HUF2IDR2ILS2INR2IQD3ISK0JOD3JPY0KES2KRW0KWD3LYD3MAD2MWK2MXN2MYR2MZN2"
    "NGN2NOK2NZD2OMR3PEN2PHP2PKR2PLN2QAR2RON2RWF0SAR2SEK2SGD2THB2TND3TRY2TWD2"
    "TZS2UGX0USD2VND0XAF0XOF0ZAR2ZMW2"
)


def minor_unit_digits(currency):
    """Digits after the decimal point for an ISO 4217 code, or None if unknown."""
    if len(currency) != 3 or not currency.isupper():
        return None
    i = _CURRENCIES.find(currency)
    if i < 0 or i % 4:
        return None
    return int(_CURRENCIES[i + 3])


def chain_hash(message):
    """A message's link in its device's hash chain: SHA-256 truncated to 16 bytes."""
    return sha256_digest(bytes(message))[:_CHAIN_HASH_BYTES]


# ------------------------------------------------------------ field checks


def check_uint(value, name, low=0, high=_UINT32_MAX):
    if not isinstance(value, int) or isinstance(value, bool):
        raise FieldError(name, "must be an unsigned integer")
    if value < low or value > high:
        raise FieldError(name, "out of range %d..%d" % (low, high))
    return value


def check_bytes(value, name, low, high):
    if not isinstance(value, bytes):
        raise FieldError(name, "must be a byte string")
    if not low <= len(value) <= high:
        raise FieldError(name, "must be %d..%d bytes" % (low, high))
    return value


def _text(value, name, high):
    if not isinstance(value, str):
        raise FieldError(name, "must be a text string")
    if not 1 <= len(value.encode("utf-8")) <= high:
        raise FieldError(name, "must be 1..%d bytes" % high)
    return value


def is_account(value):
    """Whether value is an account name: 1..32 of a-z 0-9 . : _ - (the one
    definition; the registry and the board definitions use it too)."""
    if not isinstance(value, str) or not 1 <= len(value) <= _ACCOUNT_BYTES_MAX:
        return False
    for ch in value:
        if ch not in _ACCOUNT_CHARS:
            return False
    return True


def _account(value, name):
    _text(value, name, _ACCOUNT_BYTES_MAX)
    if not is_account(value):
        raise FieldError(name, "allowed characters are a-z 0-9 . : _ -")
    return value


def _number(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, cbor.Float)):
        raise FieldError(name, "must be a number")
    return value


def check_pair(value, name):
    if not isinstance(value, list) or len(value) != 2:
        raise FieldError(name, "must be an array of 2")
    return value


# ------------------------------------------------------------ records


class Record:
    """A message's fields as attributes. FIELDS name them in the order of the
    payload KEYS. One shared __init__ and payload() keep the module small in a
    board's RAM. Build with keywords (missing fields are None and fail their
    check) or positionally in FIELDS order."""

    FIELDS = ()
    KEYS = ()

    def __init__(self, *values, **named):
        if named:
            values = [named.pop(name, None) for name in self.FIELDS]
            if named:
                raise TypeError("unknown field %s" % sorted(named)[0])
        for name, value in zip(self.FIELDS, values):
            setattr(self, name, value)

    def payload(self):
        return {key: getattr(self, name) for key, name in zip(self.KEYS, self.FIELDS)}


# ------------------------------------------------------------ payment intent


class Intent(Record):
    """A device's signed promise: payer owes payee amount_minor in currency,
    priced from evidence under tariff, for the period ending at time_s."""

    FIELDS = (
        "seq",
        "time_s",
        "prev",
        "payer",
        "payee",
        "amount_minor",
        "currency",
        "evidence",
        "tariff",
        "period_s",
    )
    KEYS = (
        _INTENT_SEQ,
        _INTENT_TIME,
        _INTENT_PREV,
        _INTENT_PAYER,
        _INTENT_PAYEE,
        _INTENT_AMOUNT,
        _INTENT_CURRENCY,
        _INTENT_EVIDENCE,
        _INTENT_TARIFF,
        _INTENT_PERIOD,
    )


def _check_evidence(evidence):
    if not isinstance(evidence, list) or len(evidence) != 3:
        raise FieldError("evidence", "must be an array of 3")
    kind = check_uint(evidence[0], "evidence type", 1, 3)
    if kind == EVIDENCE_DELIVERY:
        _text(evidence[1], "consignment", _ACCOUNT_BYTES_MAX)
        event = check_uint(evidence[2], "delivery event")
        if event not in DELIVERY_EVENTS:
            raise FieldError("delivery event", "must be 1, 2 or 3")
    else:
        start = check_uint(evidence[1], "evidence start", 0, _AMOUNT_MINOR_MAX)
        end = check_uint(evidence[2], "evidence end", 0, _AMOUNT_MINOR_MAX)
        if end < start:
            raise FieldError("evidence end", "before its start")
    return evidence


def check_intent(intent):
    check_uint(intent.seq, "seq", 1, SEQ_MAX)
    check_uint(intent.time_s, "time", TIME_S_MIN)
    check_bytes(intent.prev, "prev", _CHAIN_HASH_BYTES, _CHAIN_HASH_BYTES)
    _account(intent.payer, "payer")
    _account(intent.payee, "payee")
    if intent.payer == intent.payee:
        raise FieldError("payee", "same account as the payer")
    check_uint(intent.amount_minor, "amount", 1, _AMOUNT_MINOR_MAX)
    if not isinstance(intent.currency, str) or minor_unit_digits(intent.currency) is None:
        raise FieldError("currency", "not an accepted ISO 4217 code")
    _check_evidence(intent.evidence)
    tariff = check_pair(intent.tariff, "tariff")
    check_uint(tariff[0], "tariff id")
    check_uint(tariff[1], "tariff version")
    check_uint(intent.period_s, "period", 1, 31 * 86400)
    return intent


def intent_payload(**fields):
    """The encoded payload of a payment intent; raises FieldError on a bad field."""
    return cbor.encode(check_intent(Intent(**fields)).payload())


# ------------------------------------------------------------ attestation (EAT)


class Attestation(Record):
    """An Entity Attestation Token (RFC 9711) as CWT claims."""

    FIELDS = (
        "ueid",
        "nonce",
        "iat",
        "measurement",
        "swname",
        "swversion",
        "bootcount",
        "dbgstat",
        "location",
    )
    KEYS = (
        _CLAIM_UEID,
        _CLAIM_NONCE,
        _CLAIM_IAT,
        _CLAIM_MEASUREMENTS,
        _CLAIM_SWNAME,
        _CLAIM_SWVERSION,
        _CLAIM_BOOTCOUNT,
        _CLAIM_DBGSTAT,
        CLAIM_LOCATION,
    )

    def payload(self):
        claims = Record.payload(self)
        claims[_CLAIM_MEASUREMENTS] = [[CONTENT_FORMAT_MANIFEST_DIGEST, self.measurement]]
        claims[_CLAIM_SWVERSION] = [self.swversion, VERSION_SCHEME_SEMVER]
        if self.location is None:
            del claims[CLAIM_LOCATION]
        return claims


def ueid_for(public):
    """RFC 9711 §4.2.1 RAND-type UEID: 0x01 then 16 bytes of SHA-256(public
    key); its first 8 bytes after the type are the device id."""
    return bytes([_UEID_TYPE_RAND]) + sha256_digest(bytes(public))[:16]


def location(lat_e7, lon_e7, alt_m=None, accuracy_m=None):
    """An RFC 9711 location claim from integer 1e-7 degrees (what the GPS
    driver produces), converted to doubles with integers only."""
    claim = {
        _LOCATION_LATITUDE: cbor.float_from_decimal(lat_e7, -7),
        _LOCATION_LONGITUDE: cbor.float_from_decimal(lon_e7, -7),
    }
    if alt_m is not None:
        claim[_LOCATION_ALTITUDE] = alt_m
    if accuracy_m is not None:
        claim[_LOCATION_ACCURACY] = accuracy_m
    return claim


def _check_location(claim):
    if not isinstance(claim, dict):
        raise FieldError("location", "must be a map")
    for key in claim:
        if key not in (_LOCATION_LATITUDE, _LOCATION_LONGITUDE, _LOCATION_ALTITUDE, _LOCATION_ACCURACY):
            raise FieldError("location", "unknown key %r" % (key,))
    for key, name, bound in ((_LOCATION_LATITUDE, "latitude", 90), (_LOCATION_LONGITUDE, "longitude", 180)):
        if key not in claim:
            raise FieldError("location", "missing %s" % name)
        if not -bound <= float(_number(claim[key], name)) <= bound:
            raise FieldError(name, "out of range")
    for key in (_LOCATION_ALTITUDE, _LOCATION_ACCURACY):
        if key in claim:
            _number(claim[key], "location")
    return claim


def check_attestation(att):
    ueid = check_bytes(att.ueid, "ueid", 17, 17)
    if ueid[0] != _UEID_TYPE_RAND:
        raise FieldError("ueid", "must be of type RAND (0x01)")
    check_bytes(att.nonce, "nonce", 8, 64)
    check_uint(att.iat, "iat", TIME_S_MIN)
    check_bytes(att.measurement, "measurement", 32, 32)
    _text(att.swname, "swname", 32)
    _text(att.swversion, "swversion", 16)
    check_uint(att.bootcount, "bootcount")
    check_uint(att.dbgstat, "dbgstat", 0, 4)
    if att.location is not None:
        _check_location(att.location)
    return att


def attestation_payload(**fields):
    return cbor.encode(check_attestation(Attestation(**fields)).payload())


# ------------------------------------------------------------ reading batch


class ReadingBatch(Record):
    """Raw sensor samples as SenML records (RFC 8428), numbered per device."""

    FIELDS = ("seq", "time_s", "records")
    KEYS = (_BATCH_SEQ, _BATCH_TIME, _BATCH_RECORDS)


def senml(name, unit, value, time_s=None):
    """One SenML record (RFC 8428 §6, CBOR labels): name, unit, value, time."""
    record = {SENML_NAME: name, SENML_UNIT: unit, SENML_VALUE: value}
    if time_s is not None:
        record[SENML_TIME] = time_s
    return record


def _check_record(record):
    labels = (SENML_BASE_NAME, SENML_BASE_TIME, SENML_NAME, SENML_UNIT, SENML_VALUE, SENML_TIME)
    if not isinstance(record, dict):
        raise FieldError("record", "must be a map")
    for key in record:
        if key not in labels:
            raise FieldError("record", "unsupported SenML label %r" % (key,))
    if SENML_VALUE not in record:
        raise FieldError("record", "missing value (label 2)")
    _number(record[SENML_VALUE], "value")
    for key, name in ((SENML_BASE_NAME, "base name"), (SENML_NAME, "name"), (SENML_UNIT, "unit")):
        if key in record:
            _text(record[key], name, 64)
    for key, name in ((SENML_BASE_TIME, "base time"), (SENML_TIME, "time")):
        if key in record:
            _number(record[key], name)


def check_batch(batch):
    check_uint(batch.seq, "seq", 1, SEQ_MAX)
    check_uint(batch.time_s, "time", TIME_S_MIN)
    records = batch.records
    if not isinstance(records, list) or not 1 <= len(records) <= _BATCH_RECORDS_MAX:
        raise FieldError("records", "must be an array of 1..%d" % _BATCH_RECORDS_MAX)
    for record in records:
        _check_record(record)
    return batch


def reading_batch_payload(**fields):
    return cbor.encode(check_batch(ReadingBatch(**fields)).payload())
