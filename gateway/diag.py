"""CBOR diagnostic notation (RFC 8949 §8, with RFC 8610 Appendix G's << >>
for embedded CBOR), for showing messages to people."""

from __future__ import annotations

import json
from typing import Any

from paymote.crypto import cbor, cose


def diagnostic(value: Any) -> str:
    """value in diagnostic notation."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return f"h'{value.hex()}'"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(diagnostic(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{diagnostic(k)}: {diagnostic(v)}" for k, v in value.items()) + "}"
    if isinstance(value, cbor.Tag):
        return f"{value.number}({diagnostic(value.value)})"
    raise TypeError(f"no diagnostic notation for {type(value).__name__}")


def sign1_diagnostic(message: bytes) -> str:
    """A COSE_Sign1 with its protected header and payload shown as << >>."""
    envelope = cose.parse_sign1(message)
    payload = cbor.decode(envelope.payload)
    return (
        f"{cose.TAG_SIGN1}([\n"
        f"  <<{diagnostic(cbor.decode(envelope.protected))}>>,\n"
        f"  {{{cose.HEADER_KID}: {diagnostic(envelope.kid)}}},\n"
        f"  <<{diagnostic(payload)}>>,\n"
        f"  {diagnostic(envelope.signature)}\n"
        f"])"
    )
