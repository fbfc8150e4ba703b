"""docs/paymote.cddl (RFC 8610) against the docs' examples and the builders."""

from __future__ import annotations

import re

import cbor2
import pycddl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paymote.crypto import cose, inbound, messages
from paymote.simulator.sample import sample, sample_receipt
from tests.conftest import REPO

CDDL = (REPO / "docs" / "paymote.cddl").read_text()
PROTOCOL = (REPO / "docs" / "protocol.md").read_text()
PAYLOAD_RULE = {
    "intent-message": "intent-payload",
    "attestation-message": "attestation-payload",
    "reading-batch-message": "reading-batch-payload",
    "receipt-message": "receipt-payload",
}


def schema(rule: str) -> pycddl.Schema:
    """The CDDL with `rule` as its root (pycddl validates against the first rule)."""
    return pycddl.Schema(f"paymote-root = {rule}\n{CDDL}")


def validate_message(rule: str, message: bytes) -> None:
    """Validate a whole message layer by layer: pycddl cannot look inside
    `bstr .cbor`, so the envelope, protected header and payload each get
    their own rule, exactly as the sign1<> generic composes them."""
    schema("sign1-envelope").validate_cbor(message)
    protected, _, payload, _ = cbor2.loads(message).value
    schema("eddsa-header").validate_cbor(protected)
    schema(PAYLOAD_RULE[rule]).validate_cbor(payload)


def doc_examples() -> list[tuple[str, bytes]]:
    blocks = re.findall(r"```cbor-hex ([a-z-]+)\n([0-9a-f\n]+)```", PROTOCOL)
    return [(rule, bytes.fromhex(hexed.replace("\n", ""))) for rule, hexed in blocks]


def test_docs_have_an_example_of_every_message_kind():
    """protocol.md shows one example of each of the four message kinds."""
    assert sorted(rule for rule, _ in doc_examples()) == sorted(PAYLOAD_RULE)


@pytest.mark.parametrize(("rule", "message"), doc_examples())
def test_every_doc_example_validates_and_verifies(rule, message):
    """Each example in protocol.md validates against the CDDL and verifies with its key."""
    validate_message(rule, message)
    s = sample(1)
    if rule == "receipt-message":
        _, gateway_public = sample_receipt(1, s["intent"], 17)
        keys = {cose.key_id(gateway_public): cose.Ed25519Key(gateway_public)}
        inbound.open_receipt(message, keys)
    else:
        keys = {s["device_id"]: cose.Ed25519Key(s["device_public_key"])}
        kind = {"intent-message": 1, "attestation-message": 2, "reading-batch-message": 3}[rule]
        inbound.open_message(message, kind, keys)


def test_doc_examples_are_what_paymote_sample_prints():
    """The examples are current: paymote sample --seed 1 still makes exactly these bytes."""
    s = sample(1)
    by_rule = dict(doc_examples())
    assert by_rule["intent-message"] == s["intent"]
    assert by_rule["attestation-message"] == s["attestation"]
    assert by_rule["reading-batch-message"] == s["reading_batch"]
    assert by_rule["receipt-message"] == sample_receipt(1, s["intent"], 17)[0]


@pytest.mark.parametrize(
    ("key", "bad"),
    [(6, 0), (6, 10**12 + 1), (7, "eur"), (4, "HH-1"), (3, b"\x00" * 15), (8, [4, 1, 2]), (99, 1)],
)
def test_cddl_refuses_bad_intent_fields(key, bad):
    """The CDDL has teeth: zero or huge amounts, bad codes, short hashes, unknown keys fail."""
    payload = dict(cbor2.loads(cose.parse_sign1(sample(1)["intent"]).payload))
    payload[key] = bad
    with pytest.raises(pycddl.ValidationError):
        schema("intent-payload").validate_cbor(cbor2.dumps(payload, canonical=True))


@settings(max_examples=60, deadline=None)
@given(
    seq=st.integers(1, 2**32 - 1),
    amount=st.integers(1, 10**12),
    currency=st.sampled_from(["EUR", "USD", "KES", "JPY", "KWD"]),
    payer=st.from_regex(r"[a-z0-9.:_-]{1,32}", fullmatch=True),
    start=st.integers(0, 10**9),
    used=st.integers(0, 10**6),
)
def test_everything_the_builder_accepts_the_cddl_accepts(seq, amount, currency, payer, start, used):
    """CDDL and code agree: any intent the builder makes is valid under the CDDL."""
    payload = messages.intent_payload(
        seq=seq,
        time_s=1764374400,
        prev=bytes(16),
        payer=payer,
        payee="utility" if payer != "utility" else "grid",
        amount_minor=amount,
        currency=currency,
        evidence=[messages.EVIDENCE_ENERGY_WH, start, start + used],
        tariff=[1, 1],
        period_s=900,
    )
    schema("intent-payload").validate_cbor(payload)
