"""The ledger: double-entry transfers, hash-chained, with signed evidence.

Each entry debits the payer and credits the payee with a positive amount in
one currency, so the balances of each currency always sum to zero. An entry's
hash covers the previous entry's hash and the entry's fields (including the
SHA-256 of its evidence), so editing, deleting or reordering history breaks
the chain; the gateway's signed receipt carries the entry hash, so a chain
recomputed by someone without the gateway key does not match its receipts.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass

import cbor2

from paymote.crypto import inbound, messages
from paymote.crypto.errors import MessageError
from paymote.gateway import receipts
from paymote.gateway.keys import GatewayKey
from paymote.gateway.store import GENESIS_ENTRY_HASH, Entry, Store


def transfer_id(device_id: bytes, seq: int) -> str:
    """Idempotent by construction: one id per (device, sequence number)."""
    return f"{device_id.hex()}-{seq}"


def entry_hash(previous: bytes, entry: Entry) -> bytes:
    fields = [
        entry.position,
        entry.transfer_id,
        entry.device_id,
        entry.seq,
        entry.debit,
        entry.credit,
        entry.amount_minor,
        entry.currency,
        entry.device_time_s,
        entry.gateway_time_s,
        hashlib.sha256(entry.evidence).digest(),
    ]
    # An array of integers, text and bytes has one encoding with shortest
    # heads (RFC 8949 §4.2.1), which cbor2 writes without the portable
    # encoder's walk; tests/test_ledger_verify.py holds it to cbor.encode.
    return hashlib.sha256(previous + cbor2.dumps(fields)).digest()


def record(
    store: Store,
    head: tuple[int, bytes],
    device_id: bytes,
    intent: messages.Intent,
    evidence: bytes,
    now_s: int,
    gateway_key: GatewayKey,
) -> Entry:
    """Append the transfer for an accepted intent after head (position, hash)
    and return it; the caller's transaction commits it."""
    position, previous = head
    draft = Entry(
        position=position + 1,
        transfer_id=transfer_id(device_id, intent.seq),
        device_id=device_id,
        seq=intent.seq,
        debit=intent.payer,
        credit=intent.payee,
        amount_minor=intent.amount_minor,
        currency=intent.currency,
        device_time_s=intent.time_s,
        gateway_time_s=now_s,
        evidence=evidence,
        receipt=b"",
        entry_hash=b"",
    )
    digest = entry_hash(previous, draft)
    receipt = receipts.issue(gateway_key, device_id, intent.seq, digest, now_s, inbound.KIND_INTENT)
    entry = Entry(**{**draft.__dict__, "receipt": receipt, "entry_hash": digest})
    _check_before_write(entry)
    store.add_entry(entry)
    return entry


def _check_before_write(entry: Entry) -> None:
    """Programmer errors only: the pipeline has validated all of this."""
    assert entry.amount_minor > 0 and entry.debit != entry.credit
    assert messages.minor_unit_digits(entry.currency) is not None


@dataclass(frozen=True)
class Problem:
    """The first thing `verify` found wrong; position 0 means the whole ledger."""

    position: int
    transfer_id: str
    reason: str

    def __str__(self) -> str:
        where = f"entry {self.position} ({self.transfer_id})" if self.position else "ledger"
        return f"{where}: {self.reason}"


def verify(store: Store, device_keys: dict, gateway_keys: dict) -> Problem | None:
    """Recompute the chain, re-verify every evidence signature and receipt, and
    check balances; return the first problem, or None when everything holds.
    device_keys / gateway_keys map kid to a key (crypto.cose interface)."""
    previous = GENESIS_ENTRY_HASH
    expected_position = 1
    sums: dict[tuple[str, str], int] = defaultdict(int)
    for entry in store.entries():
        if entry.position != expected_position:
            return Problem(expected_position, "?", f"missing: the next entry found is {entry.position}")
        if entry_hash(previous, entry) != entry.entry_hash:
            return Problem(entry.position, entry.transfer_id, "hash does not match its fields and chain")
        problem = _check_evidence(entry, device_keys) or _check_receipt(entry, gateway_keys)
        if problem:
            return Problem(entry.position, entry.transfer_id, problem)
        sums[(entry.debit, entry.currency)] -= entry.amount_minor
        sums[(entry.credit, entry.currency)] += entry.amount_minor
        previous = entry.entry_hash
        expected_position += 1
    stored = {(account, currency): balance for account, currency, balance in store.balances()}
    recomputed = {key: value for key, value in sums.items() if value or key in stored}
    if stored != recomputed:
        return Problem(0, "", "stored balances differ from the entries (an entry removed or edited?)")
    per_currency: dict[str, int] = defaultdict(int)
    for (_, currency), balance in sums.items():
        per_currency[currency] += balance
    unbalanced = sorted(c for c, total in per_currency.items() if total)
    if unbalanced:
        return Problem(0, "", f"balances do not sum to zero in {', '.join(unbalanced)}")
    return None


def _check_evidence(entry: Entry, device_keys: dict) -> str | None:
    try:
        envelope, intent = inbound.open_message(entry.evidence, inbound.KIND_INTENT, device_keys)
    except MessageError as e:
        return f"evidence does not verify: {type(e).__name__}: {e}"
    if envelope.kid != entry.device_id:
        return "evidence was signed by another device"
    fields = (intent.seq, intent.payer, intent.payee, intent.amount_minor, intent.currency, intent.time_s)
    stored = (entry.seq, entry.debit, entry.credit, entry.amount_minor, entry.currency, entry.device_time_s)
    if fields != stored:
        return "entry does not match its signed intent"
    return None


def _check_receipt(entry: Entry, gateway_keys: dict) -> str | None:
    try:
        _, receipt = inbound.open_receipt(entry.receipt, gateway_keys)
    except MessageError as e:
        return f"receipt does not verify: {type(e).__name__}: {e}"
    if (receipt.device_id, receipt.seq, receipt.entry_hash) != (entry.device_id, entry.seq, entry.entry_hash):
        return "receipt is for another entry"
    return None
