"""Every outcome and every error, mapped to its CoAP response in one place.

Errors carry a short diagnostic payload (RFC 7252 §5.5.2): UTF-8 text for
people and logs, never a stack trace.
"""

from __future__ import annotations

from aiocoap import Message
from aiocoap.numbers.codes import Code

from paymote.crypto import cbor, cose
from paymote.crypto.errors import MessageError, TooLarge, VerifyError
from paymote.gateway.outcomes import (
    Accepted,
    Busy,
    Conflict,
    Duplicate,
    Failed,
    Outcome,
    RateLimited,
    Refused,
    Stale,
)

CONTENT_FORMAT_CBOR = 60  # application/cbor

DIAGNOSTIC_BYTES_MAX = 96


def _diagnostic(code: Code, text: str, max_age_s: int | None = None) -> Message:
    response = Message(code=code, payload=text.encode("utf-8")[:DIAGNOSTIC_BYTES_MAX])
    if max_age_s is not None:
        response.opt.max_age = max_age_s
    return response


def for_outcome(outcome: Outcome) -> Message:
    if isinstance(outcome, Accepted):
        return Message(code=Code.CREATED, payload=outcome.receipt, content_format=cose.CONTENT_FORMAT_SIGN1)
    if isinstance(outcome, Duplicate):
        return Message(code=Code.CHANGED, payload=outcome.receipt, content_format=cose.CONTENT_FORMAT_SIGN1)
    if isinstance(outcome, Refused):
        return _diagnostic(Code.FORBIDDEN, outcome.reason)
    if isinstance(outcome, Conflict):
        return _diagnostic(Code.CONFLICT, outcome.reason)
    if isinstance(outcome, Stale):
        return _diagnostic(Code.UNAUTHORIZED, outcome.reason)
    if isinstance(outcome, RateLimited):  # RFC 8516 §2
        return _diagnostic(Code.TOO_MANY_REQUESTS, "rate limit", outcome.retry_after_s)
    if isinstance(outcome, Busy):  # RFC 7252 §5.9.3.4
        return _diagnostic(Code.SERVICE_UNAVAILABLE, "ledger busy", outcome.retry_after_s)
    if isinstance(outcome, Failed):  # RFC 7252 §5.9.3.1; the reason is for the log, not the network
        return _diagnostic(Code.INTERNAL_SERVER_ERROR, "ledger error")
    raise TypeError(f"unknown outcome {outcome!r}")


def too_large(size_max: int) -> Message:
    """4.13 with Size1 (RFC 7959 §2.9.3): the largest body this resource takes."""
    response = _diagnostic(Code.REQUEST_ENTITY_TOO_LARGE, "too large")
    response.opt.size1 = size_max
    return response


def for_error(error: MessageError) -> Message:
    """4.13 too large, 4.01 unknown key or bad signature, 4.00 anything else malformed."""
    if isinstance(error, TooLarge):
        return _diagnostic(Code.REQUEST_ENTITY_TOO_LARGE, "too large")
    if isinstance(error, VerifyError):
        return _diagnostic(Code.UNAUTHORIZED, f"{type(error).__name__}")
    return _diagnostic(Code.BAD_REQUEST, f"{type(error).__name__}: {error}")


def for_batch(answers: list[Message]) -> Message:
    """2.04 with one [code, receipt or diagnostic, Max-Age?] per intent, from
    each one's own answer, in order; code is the CoAP code number (65 for
    2.01). Content-Format 60."""
    items = []
    for single in answers:
        item = [
            int(single.code),
            bytes(single.payload) if single.code.is_successful() else single.payload.decode(),
        ]
        if single.opt.max_age is not None and not single.code.is_successful():
            item.append(single.opt.max_age)
        items.append(item)
    return Message(code=Code.CHANGED, payload=cbor.encode(items), content_format=CONTENT_FORMAT_CBOR)


def nonce(value: bytes) -> Message:
    """2.05 with the nonce as a CBOR byte string."""
    return Message(code=Code.CONTENT, payload=cbor.encode(value), content_format=CONTENT_FORMAT_CBOR)
