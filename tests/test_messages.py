"""Message builders and parsers: every field is validated on both sides."""

from __future__ import annotations

import pytest

from paymote.crypto import cbor, cose, ed25519, inbound, messages
from paymote.crypto.errors import FieldError, TooLarge

KEY = ed25519.SigningKey(bytes(range(32)))
KID = cose.key_id(KEY.public)
KEYS = {KID: cose.Ed25519Key(KEY.public)}

INTENT = {
    "seq": 1,
    "time_s": 1764374400,
    "prev": messages.GENESIS_HASH,
    "payer": "hh-0017",
    "payee": "utility",
    "amount_minor": 42,
    "currency": "EUR",
    "evidence": [messages.EVIDENCE_ENERGY_WH, 1000, 2400],
    "tariff": [7, 2],
    "period_s": 900,
}


def _intent(**changes):
    return {**INTENT, **changes}


def test_intent_round_trip():
    """A built, signed intent opens to the same fields."""
    message = cose.sign1(messages.intent_payload(**INTENT), KEY, KID)
    envelope, intent = inbound.open_message(message, inbound.KIND_INTENT, KEYS)
    assert envelope.kid == KID
    assert {name: getattr(intent, name) for name in messages.Intent.FIELDS} == INTENT
    assert len(message) <= 160


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"seq": 0}, "seq"),
        ({"seq": 2**32}, "seq"),
        ({"seq": True}, "seq"),
        ({"time_s": 1000}, "time"),
        ({"prev": b"\x00" * 15}, "prev"),
        ({"prev": "00" * 16}, "prev"),
        ({"payer": "HH-0017"}, "payer"),
        ({"payer": ""}, "payer"),
        ({"payer": "x" * 33}, "payer"),
        ({"payee": "hh-0017"}, "payee"),
        ({"amount_minor": 0}, "amount"),
        ({"amount_minor": -5}, "amount"),
        ({"amount_minor": 10**12 + 1}, "amount"),
        ({"amount_minor": 0.42}, "amount"),
        ({"amount_minor": "42"}, "amount"),
        ({"currency": "eur"}, "currency"),
        ({"currency": "XXX"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"evidence": [1, 2400, 1000]}, "evidence end"),
        ({"evidence": [4, 1, 2]}, "evidence type"),
        ({"evidence": [1, 2]}, "evidence"),
        ({"evidence": [3, "c-1", 9]}, "delivery event"),
        ({"tariff": [7]}, "tariff"),
        ({"tariff": [7, -1]}, "tariff version"),
        ({"period_s": 0}, "period"),
        ({"period_s": 40 * 86400}, "period"),
        ({"period_s": None}, "period"),
    ],
)
def test_bad_intent_fields_are_refused_by_builder_and_parser(changes, field):
    """The builder refuses a bad field, and so does the parser when it arrives anyway."""
    with pytest.raises(FieldError) as built:
        messages.intent_payload(**_intent(**changes))
    assert built.value.field == field
    raw = messages.Intent(**_intent(**changes)).payload()  # bypasses the builder's checks
    with pytest.raises(FieldError) as parsed:
        inbound.parse_intent(raw)
    assert parsed.value.field == field


def test_parser_refuses_unknown_missing_and_non_map_payloads():
    """Extra keys, missing keys and non-maps are FieldErrors naming the message kind."""
    payload = messages.Intent(**INTENT).payload()
    with pytest.raises(FieldError, match="unknown key 11"):
        inbound.parse_intent({**payload, 11: 0})
    del payload[6]
    with pytest.raises(FieldError, match="missing key 6"):
        inbound.parse_intent(payload)
    with pytest.raises(FieldError):
        inbound.parse_intent([1, 2])


def test_kinds_cannot_be_confused():
    """An attestation or reading batch never parses as an intent, and vice versa."""
    from paymote.simulator.sample import sample

    s = sample(3)
    keys = {s["device_id"]: cose.Ed25519Key(s["device_public_key"])}
    kinds = {
        "intent": inbound.KIND_INTENT,
        "attestation": inbound.KIND_ATTESTATION,
        "reading_batch": inbound.KIND_READING_BATCH,
    }
    for name, kind in kinds.items():
        for other_kind in kinds.values():
            if other_kind == kind:
                inbound.open_message(s[name], kind, keys)
            elif len(s[name]) <= inbound.KINDS[other_kind][0]:
                with pytest.raises(FieldError):
                    inbound.open_message(s[name], other_kind, keys)
            else:
                with pytest.raises(TooLarge):
                    inbound.open_message(s[name], other_kind, keys)


def test_attestation_claims_and_location():
    """EAT claims use their registered keys and location survives as exact doubles."""
    location = messages.location(-339249000, 184241000, alt_m=25, accuracy_m=5)
    fields = {
        "ueid": messages.ueid_for(KEY.public),
        "nonce": bytes(16),
        "iat": 1764374400,
        "measurement": bytes(32),
        "swname": "paymote-fw",
        "swversion": "1.2.3",
        "bootcount": 9,
        "dbgstat": 2,
        "location": location,
    }
    payload = messages.attestation_payload(**fields)
    claims = cbor.decode(payload)
    assert sorted(claims) == [6, 10, 256, 263, 264, 267, 270, 271, 273]
    assert claims[273] == [[65000, bytes(32)]] and claims[271] == ["1.2.3", 16384]
    assert claims[264] == {1: -33.9249, 2: 18.4241, 3: 25, 4: 5}
    att = inbound.parse_attestation(claims)
    assert att.measurement == bytes(32) and att.swversion == "1.2.3" and att.ueid[1:9] == KID
    for bad, field in (
        ({"ueid": b"\x02" + bytes(16)}, "ueid"),
        ({"nonce": bytes(7)}, "nonce"),
        ({"dbgstat": 5}, "dbgstat"),
        ({"measurement": bytes(31)}, "measurement"),
        ({"location": messages.location(910000000, 0)}, "latitude"),
    ):
        with pytest.raises(FieldError) as error:
            messages.attestation_payload(**{**fields, **bad})
        assert error.value.field == field


def test_reading_batch_records_follow_senml():
    """Reading batches carry SenML records; unknown labels and missing values are refused."""
    record = messages.senml("temp", "Cel", cbor.float_from_decimal(215, -1), 60)
    payload = messages.reading_batch_payload(seq=1, time_s=1764374400, records=[record])
    assert cbor.decode(payload)[3] == [{0: "temp", 1: "Cel", 2: 21.5, 6: 60}]
    with pytest.raises(FieldError, match="unsupported SenML label 4"):
        messages.reading_batch_payload(seq=1, time_s=1764374400, records=[{2: 1, 4: True}])
    with pytest.raises(FieldError, match="missing value"):
        messages.reading_batch_payload(seq=1, time_s=1764374400, records=[{0: "x"}])
    with pytest.raises(FieldError):
        messages.reading_batch_payload(seq=1, time_s=1764374400, records=[record] * 49)


def test_receipt_round_trip_and_chain_hash():
    """A receipt opens with the gateway key; chain_hash is SHA-256 truncated to 16 bytes."""
    import hashlib

    gateway = ed25519.SigningKey(bytes(32))
    gateway_keys = {cose.key_id(gateway.public): cose.Ed25519Key(gateway.public)}
    payload = inbound.receipt_payload(
        device_id=KID, seq=3, entry_hash=bytes(32), time_s=1764374400, kind=inbound.KIND_INTENT
    )
    receipt = cose.sign1(payload, gateway, cose.key_id(gateway.public))
    _, parsed = inbound.open_receipt(receipt, gateway_keys)
    assert (parsed.device_id, parsed.seq, parsed.kind) == (KID, 3, inbound.KIND_INTENT)
    assert messages.chain_hash(receipt) == hashlib.sha256(receipt).digest()[:16]


def test_currency_table():
    """ISO 4217 minor units come from the table; unknown codes are None."""
    assert messages.minor_unit_digits("EUR") == 2
    assert messages.minor_unit_digits("JPY") == 0
    assert messages.minor_unit_digits("KWD") == 3
    assert messages.minor_unit_digits("UR2") is None
    assert messages.minor_unit_digits("XYZ") is None
