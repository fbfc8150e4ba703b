"""`paymote sample`: build, sign, verify and show one message of each kind."""

from __future__ import annotations

import json
from typing import Any

from paymote.crypto import inbound, messages
from paymote.gateway import authenticate, decode
from paymote.gateway.diag import sign1_diagnostic
from paymote.simulator.sample import sample

_KINDS = (
    ("intent", "payment intent", inbound.KIND_INTENT),
    ("attestation", "attestation (EAT)", inbound.KIND_ATTESTATION),
    ("reading_batch", "reading batch (SenML)", inbound.KIND_READING_BATCH),
)


def sample_json(seed: int) -> dict[str, Any]:
    """The stable machine-readable form (docs/protocol.md, "paymote sample")."""
    s = sample(seed)
    return {
        "device_id": s["device_id"].hex(),
        "device_public_key": s["device_public_key"].hex(),
        "payer": s["payer"],
        "payee": s["payee"],
        "amount_minor": s["amount_minor"],
        "currency": s["currency"],
        "intent": s["intent"].hex(),
        "attestation": s["attestation"].hex(),
        "reading_batch": s["reading_batch"].hex(),
    }


def _money(amount_minor: int, currency: str) -> str:
    digits = messages.minor_unit_digits(currency) or 0
    units, minor = divmod(amount_minor, 10**digits)
    return f"{units}.{minor:0{digits}d} {currency}" if digits else f"{units} {currency}"


def _summary(key: str, parsed: Any) -> str:
    if key == "intent":
        start, end = parsed.evidence[1], parsed.evidence[2]
        return (
            f"{parsed.payer} owes {parsed.payee} {_money(parsed.amount_minor, parsed.currency)}"
            f" for {end - start} Wh (meter {start} -> {end} Wh), tariff {parsed.tariff[0]}"
            f" v{parsed.tariff[1]}, seq {parsed.seq}"
        )
    if key == "attestation":
        return (
            f"{parsed.swname} {parsed.swversion}, boot {parsed.bootcount}, "
            f"measurement {parsed.measurement.hex()[:16]}..."
        )
    return f"{len(parsed.records)} SenML records, batch {parsed.seq}"


def run(seed: int, as_json: bool) -> int:
    if as_json:
        print(json.dumps(sample_json(seed)))
        return 0
    s = sample(seed)
    keys = {s["device_id"]: authenticate.Ed25519Key(s["device_public_key"])}
    print(f"sample device (seed {seed}): id {s['device_id'].hex()}")
    print(f"  Ed25519 public key {s['device_public_key'].hex()}")
    for key, title, kind in _KINDS:
        message = s[key]
        envelope, parsed = decode.decode_message(message, kind)
        authenticate.authenticate(envelope, keys)
        size_max = inbound.KINDS[kind][0]
        print(f"\n{title}: {len(message)} bytes (limit {size_max}), COSE_Sign1, Content-Format 18")
        print(sign1_diagnostic(message))
        print(f"  verified: {_summary(key, parsed)}")
    return 0
