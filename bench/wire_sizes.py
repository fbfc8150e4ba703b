"""Bytes on air: each paymote message next to the same content as JSON + JWS.

The JSON form is what a typical REST device API would send: readable field
names, byte strings in base64url, signed as a compact JWS (RFC 7515 §7.1)
with {"alg":"EdDSA","kid":...} and the same 64-byte Ed25519 signature.
Run: python bench/wire_sizes.py   (prints a table, then one JSON line)
"""

from __future__ import annotations

import base64
import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from paymote.crypto import cbor, cose  # noqa: E402
from paymote.simulator.sample import sample  # noqa: E402

NAMES = {
    "intent": {
        1: "seq",
        2: "time",
        3: "prev",
        4: "payer",
        5: "payee",
        6: "amount_minor",
        7: "currency",
        8: "evidence",
        9: "tariff",
        10: "period_s",
    },
    "attestation": {
        6: "iat",
        10: "eat_nonce",
        256: "ueid",
        263: "dbgstat",
        264: "location",
        267: "bootcount",
        270: "swname",
        271: "swversion",
        273: "measurements",
    },
    "reading_batch": {1: "seq", 2: "time", 3: "records"},
}
SENML_NAMES = {-2: "bn", -3: "bt", 0: "n", 1: "u", 2: "v", 6: "t"}
LOCATION_NAMES = {1: "latitude", 2: "longitude", 3: "altitude", 4: "accuracy"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jsonable(value: Any, names: dict[int, str] | None = None) -> Any:
    if isinstance(value, bytes):
        return _b64(value)
    if isinstance(value, list):
        return [_jsonable(v, SENML_NAMES if isinstance(v, dict) else None) for v in value]
    if isinstance(value, dict):
        names = names or {}
        return {
            names.get(k, str(k)): _jsonable(v, LOCATION_NAMES if names.get(k) == "location" else None)
            for k, v in value.items()
        }
    return value


def json_jws(kind: str, message: bytes) -> str:
    """The compact JWS that carries message's content as a JSON object."""
    envelope = cose.parse_sign1(message)
    payload = _jsonable(cbor.decode(envelope.payload), NAMES[kind])
    header = {"alg": "EdDSA", "kid": _b64(envelope.kid)}
    compact = json.dumps  # no spaces, as a device would send it
    return ".".join(
        (
            _b64(compact(header, separators=(",", ":")).encode()),
            _b64(compact(payload, separators=(",", ":")).encode()),
            _b64(envelope.signature),
        )
    )


def sizes(seed: int = 1) -> dict[str, dict[str, float]]:
    s = sample(seed)
    out = {}
    for kind in NAMES:
        cose_bytes = len(s[kind])
        jws_bytes = len(json_jws(kind, s[kind]))
        out[kind] = {"cose_bytes": cose_bytes, "json_jws_bytes": jws_bytes, "ratio": jws_bytes / cose_bytes}
    return out


def main() -> None:
    result = sizes()
    print(f"{'message':15} {'COSE/CBOR':>10} {'JSON+JWS':>10} {'JWS/COSE':>9}")
    for kind, row in result.items():
        print(f"{kind:15} {row['cose_bytes']:>10} {row['json_jws_bytes']:>10} {row['ratio']:>9.2f}")
    print(json.dumps({"bench": "wire_sizes", **result}))


if __name__ == "__main__":
    main()
