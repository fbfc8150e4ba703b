"""What the gateway decides about a message; responses.py maps each to CoAP.

Every outcome has a `kind`, one fixed word for what happened, which
paymote_messages_total counts under: a class's own where it has one meaning,
given with each refusal beside its `reason`, text for people (the CoAP
diagnostic, the log). Never the text in a label: a payee's name or a number
there would let any device grow the metrics without bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class Accepted:
    """Recorded durably: 2.01 with the receipt."""

    kind: ClassVar[str] = "accepted"
    receipt: bytes


@dataclass(frozen=True)
class Duplicate:
    """The same message was accepted before: 2.04 with the same receipt."""

    kind: ClassVar[str] = "duplicate"
    receipt: bytes


@dataclass(frozen=True)
class Refused:
    """Authentic but refused by policy or because the device is revoked: 4.03."""

    reason: str
    kind: str


@dataclass(frozen=True)
class Stale:
    """An attestation whose nonce was not issued here, is used or expired: 4.01."""

    reason: str
    kind: str


@dataclass(frozen=True)
class Conflict:
    """Same sequence number with other content, or a broken chain: 4.09."""

    reason: str
    kind: str


@dataclass(frozen=True)
class RateLimited:
    """The device sends faster than its limit: 4.29 with Max-Age (RFC 8516)."""

    kind: ClassVar[str] = "rate_limit"
    retry_after_s: int


@dataclass(frozen=True)
class Busy:
    """The ledger queue is full: 5.03 with Max-Age, never unbounded memory."""

    kind: ClassVar[str] = "queue_full"
    retry_after_s: int


@dataclass(frozen=True)
class Failed:
    """The ledger writer could not commit it (the log says why): 5.00, nothing
    written or acknowledged, and the board sends it again."""

    reason: str
    kind: str


Outcome = Accepted | Duplicate | Refused | Stale | Conflict | RateLimited | Busy | Failed
