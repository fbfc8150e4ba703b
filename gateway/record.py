"""What a verified message does to the store, one function per kind. They run
on the ledger thread inside a group-commit transaction (committer.py).

intent:        sequence -> policy -> ledger entry (or a recorded refusal)
attestation:   nonce (issued here, unused, unexpired) -> stored with the device
reading batch: stored as a time series, deduplicated by batch number
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from paymote.crypto import inbound, messages
from paymote.gateway import ledger, policy, receipts, senml, sequence
from paymote.gateway.keys import GatewayKey
from paymote.gateway.nonces import NonceBook
from paymote.gateway.outcomes import Accepted, Conflict, Duplicate, Outcome, Refused, Stale
from paymote.gateway.store import Device, Store


@dataclass
class Context:
    """What the writer thread carries from one message to the next."""

    store: Store
    gateway_key: GatewayKey
    nonces: NonceBook
    head: tuple[int, bytes]


def _again(known: tuple[bytes, bytes] | None, message: bytes, conflict: str) -> Outcome | None:
    """For a message whose place (device, number) is taken: the first answer
    again if it is the same message, else a Conflict; None if the place is free."""
    if known is None:
        return None
    evidence, receipt = known
    return Duplicate(receipt) if evidence == message else Conflict(conflict, "fork")


def _active(ctx: Context, device_id: bytes) -> Device | Refused:
    """The device if it may send, else why it is refused."""
    device = ctx.store.device(device_id)
    if device is None:
        return Refused("device is not registered", "unregistered")
    if device.status != "active":
        return Refused("device is revoked", "revoked")
    return device


def intent(ctx: Context, device_id: bytes, message: bytes, parsed: messages.Intent, now_s: int) -> Outcome:
    device = _active(ctx, device_id)
    if isinstance(device, Refused):
        return device
    store = ctx.store
    message_hash = messages.chain_hash(message)
    # Entries and refusals are written only together with advancing the chain
    # head, so a number past the head has neither: the common case reads nothing.
    seen = parsed.seq <= device.last_seq
    decision = sequence.check(
        device,
        parsed.seq,
        parsed.prev,
        message,
        message_hash,
        store.entry_by_seq(device_id, parsed.seq) if seen else None,
        store.refusal(device_id, parsed.seq) if seen else None,
    )
    if isinstance(decision, Conflict):
        store.flag_device(device_id, f"possible cloned key: {decision.reason}")
        return decision
    if not isinstance(decision, sequence.Next):
        return decision  # a retransmission: the first answer again
    if decision.gap:
        store.record_gap(device_id, device.last_seq, parsed.seq, now_s)
    spent = policy.spent_today(device, now_s)
    day = policy.utc_day(now_s)
    refused = policy.refusal(device, parsed, now_s)
    if refused is not None:
        store.add_refusal(device_id, parsed.seq, message_hash, refused.reason, now_s)
        store.advance_device(device_id, parsed.seq, message_hash, day, spent)
        return refused
    entry = ledger.record(store, ctx.head, device_id, parsed, message, now_s, ctx.gateway_key)
    ctx.head = (entry.position, entry.entry_hash)
    store.advance_device(device_id, parsed.seq, message_hash, day, spent + parsed.amount_minor)
    return Accepted(entry.receipt)


def attestation(
    ctx: Context, device_id: bytes, message: bytes, parsed: messages.Attestation, now_s: int
) -> Outcome:
    device = _active(ctx, device_id)
    if isinstance(device, Refused):
        return device
    again = _again(
        ctx.store.attestation(device_id, parsed.nonce), message, "nonce already used by another attestation"
    )
    if again:
        return again
    if not ctx.nonces.consume(parsed.nonce, now_s):
        return Stale("nonce not issued here, already used, or expired", "nonce")
    digest = hashlib.sha256(message).digest()
    receipt = receipts.issue(
        ctx.gateway_key, device_id, parsed.bootcount, digest, now_s, inbound.KIND_ATTESTATION
    )
    location = None
    if parsed.location is not None:
        location = json.dumps({str(k): float(v) for k, v in parsed.location.items()})
    ctx.store.add_attestation(
        device_id,
        parsed.nonce,
        parsed.bootcount,
        parsed.iat,
        parsed.measurement,
        parsed.swname,
        parsed.swversion,
        parsed.dbgstat,
        location,
        now_s,
        message,
        receipt,
    )
    return Accepted(receipt)


def reading_batch(
    ctx: Context, device_id: bytes, message: bytes, parsed: messages.ReadingBatch, now_s: int
) -> Outcome:
    device = _active(ctx, device_id)
    if isinstance(device, Refused):
        return device
    again = _again(
        ctx.store.reading_batch(device_id, parsed.seq), message, f"batch {parsed.seq} already stored"
    )
    if again:
        return again
    digest = hashlib.sha256(message).digest()
    receipt = receipts.issue(
        ctx.gateway_key, device_id, parsed.seq, digest, now_s, inbound.KIND_READING_BATCH
    )
    ctx.store.add_reading_batch(
        device_id, parsed.seq, parsed.time_s, now_s, message, receipt, senml.samples(parsed)
    )
    return Accepted(receipt)
