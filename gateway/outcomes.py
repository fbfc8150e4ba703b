"""What the gateway decides about a message; responses.py maps each to CoAP.

A refusal carries its reason twice: `reason`, text for people (the CoAP
diagnostic, the log), and `kind`, one fixed word for what happened, which
paymote_messages_total counts under (never the text: a payee's name or a
number in a label would let any device grow the metrics without bound).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Accepted:
    """Recorded durably: 2.01 with the receipt."""

    receipt: bytes


@dataclass(frozen=True)
class Duplicate:
    """The same message was accepted before: 2.04 with the same receipt."""

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

    retry_after_s: int


@dataclass(frozen=True)
class Busy:
    """The ledger queue is full: 5.03 with Max-Age, never unbounded memory."""

    retry_after_s: int


@dataclass(frozen=True)
class Failed:
    """The ledger writer could not commit it (the log says why): 5.00, nothing
    written or acknowledged, and the board sends it again."""

    reason: str
    kind: str


Outcome = Accepted | Duplicate | Refused | Stale | Conflict | RateLimited | Busy | Failed
