"""A deterministic sample device and one message of each kind, from a seed.

Portable (MicroPython and CPython): the test suite runs it on both and
compares the bytes, and ``paymote sample`` prints it. Everything, the device
key included, derives from the seed, so one seed always gives the same bytes.
"""

try:
    from paymote.crypto import cose, ed25519, inbound, messages
    from paymote.crypto._compat import sha256_digest
except ImportError:  # on a board or under the micropython interpreter
    from crypto import cose, ed25519, inbound, messages
    from crypto._compat import sha256_digest

SAMPLE_TIME_S = 1764374400  # 2025-11-29T00:00:00Z


def derive(seed, label):
    """32 bytes for label from seed: SHA-256("paymote sample" | seed | label)."""
    return sha256_digest(b"paymote sample|%d|%s" % (seed, label))


def sample(seed=1):
    """A dict describing the sample device and its three signed messages."""
    key = ed25519.SigningKey(derive(seed, b"device key"))
    device_id = cose.key_id(key.public)
    time_s = SAMPLE_TIME_S + seed % 86400
    meter_start_wh = 120000 + (seed % 1000) * 10
    used_wh = 1400
    # 0.30 EUR per kWh, priced in integer cents: 1.4 kWh -> 42 cents.
    amount_minor = used_wh * 30 // 1000
    fields = {
        "seq": 17,
        "time_s": time_s,
        "prev": messages.chain_hash(derive(seed, b"previous intent")),
        "payer": "hh-0017",
        "payee": "utility",
        "amount_minor": amount_minor,
        "currency": "EUR",
        "evidence": [messages.EVIDENCE_ENERGY_WH, meter_start_wh, meter_start_wh + used_wh],
        "tariff": [7, 2],
        "period_s": 900,
    }
    intent = cose.sign1(messages.intent_payload(**fields), key, device_id)
    attestation = cose.sign1(
        messages.attestation_payload(
            ueid=messages.ueid_for(key.public),
            nonce=derive(seed, b"nonce")[:16],
            iat=time_s,
            measurement=derive(seed, b"firmware manifest"),
            swname="paymote-fw",
            swversion="0.1.0",
            bootcount=3,
            dbgstat=2,
            location=messages.location(523712345, 48958123, alt_m=12),
        ),
        key,
        device_id,
    )
    reading_batch = cose.sign1(
        messages.reading_batch_payload(
            seq=5,
            time_s=time_s,
            records=[
                {
                    messages.SENML_BASE_NAME: "m17:",
                    messages.SENML_BASE_TIME: time_s - 900,
                    messages.SENML_NAME: "energy",
                    messages.SENML_UNIT: "Wh",
                    messages.SENML_VALUE: meter_start_wh,
                },
                messages.senml("energy", "Wh", meter_start_wh + 700, 450),
                messages.senml("energy", "Wh", meter_start_wh + used_wh, 900),
            ],
        ),
        key,
        device_id,
    )
    return {
        "device_id": device_id,
        "device_public_key": key.public,
        "payer": fields["payer"],
        "payee": fields["payee"],
        "amount_minor": amount_minor,
        "currency": fields["currency"],
        "intent": intent,
        "attestation": attestation,
        "reading_batch": reading_batch,
    }


def sample_receipt(seed, message, seq, kind=inbound.KIND_INTENT):
    """(receipt, gateway public key): a sample gateway's receipt for message.
    The entry hash stands in for the ledger's: SHA-256 of the message."""
    key = ed25519.SigningKey(derive(seed, b"gateway key"))
    payload = inbound.receipt_payload(
        device_id=cose.parse_sign1(message).kid,
        seq=seq,
        entry_hash=sha256_digest(message),
        time_s=SAMPLE_TIME_S + seed % 86400 + 1,
        kind=kind,
    )
    return cose.sign1(payload, key, cose.key_id(key.public)), key.public
