"""The `paymote` command: `paymote sample` and its stable JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from paymote.crypto import cose, messages
from paymote.gateway import authenticate, decode
from paymote.gateway.cli import main

JSON_FIELDS = {
    "device_id",
    "device_public_key",
    "payer",
    "payee",
    "amount_minor",
    "currency",
    "intent",
    "attestation",
    "reading_batch",
}


def test_sample_json_is_stable_per_seed_and_verifies(capsys):
    """--json prints the documented fields; the same seed gives the same bytes; each message verifies."""
    assert main(["sample", "--seed", "4", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["sample", "--seed", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert main(["sample", "--seed", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["intent"] != first["intent"]
    assert set(first) == JSON_FIELDS
    public = bytes.fromhex(first["device_public_key"])
    assert cose.key_id(public).hex() == first["device_id"]
    keys = {bytes.fromhex(first["device_id"]): authenticate.Ed25519Key(public)}
    for name, kind in (("intent", 1), ("attestation", 2), ("reading_batch", 3)):
        envelope, parsed = decode.decode_message(bytes.fromhex(first[name]), kind)
        authenticate.authenticate(envelope, keys)
    assert isinstance(first["amount_minor"], int) and first["amount_minor"] > 0
    assert messages.minor_unit_digits(first["currency"]) is not None


def test_sample_prints_diagnostic_notation_and_sizes(capsys):
    """The human form shows each message in diagnostic notation with its size and a verified summary."""
    assert main(["sample"]) == 0
    out = capsys.readouterr().out
    assert "payment intent: 159 bytes (limit 192)" in out
    assert "<<{1: -8}>>" in out and '7: "EUR"' in out
    assert "verified: hh-0017 owes utility 0.42 EUR" in out
    assert out.count("verified:") == 3


def test_console_script_is_installed():
    """The `paymote` console script exists beside the interpreter and runs."""
    script = Path(sys.executable).parent / "paymote"
    proc = subprocess.run([str(script), "sample", "--json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads(proc.stdout)) == JSON_FIELDS


def test_negative_seed_is_refused(capsys):
    """A negative seed is a usage error with a message, not a traceback."""
    assert main(["sample", "--seed", "-1"]) == 2
    assert "--seed" in capsys.readouterr().err
