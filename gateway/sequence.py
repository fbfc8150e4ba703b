"""The sequence and chain check: where an authentic intent stands in its
device's chain. A pure function of what the store already holds.

- seq > last_seq and prev == the hash of the device's last authentic intent:
  next in the chain. A jump in seq is a gap (a board skips reserved numbers
  after a crash): recorded, never refused.
- the same seq again with the same bytes: a retransmission. It gets the first
  answer again (the same receipt, or the same refusal); nothing is written.
- the same seq with other bytes, an older seq never seen, or a prev that does
  not match: a fork. Boards send strictly in order and wait for each verdict,
  so an honest board cannot produce one; a cloned key can. 4.09, flag device.

The chain runs over every authentic intent, accepted or refused by policy: a
board signs while offline, before it can know a verdict, so its next intent
chains to the refused one.
"""

from __future__ import annotations

from dataclasses import dataclass

from paymote.gateway.outcomes import Conflict, Duplicate, Refused
from paymote.gateway.store import Device, Entry


@dataclass(frozen=True)
class Next:
    """The intent extends the chain; gap is True when numbers were skipped."""

    gap: bool


def check(
    device: Device,
    seq: int,
    prev: bytes,
    message: bytes,
    message_hash: bytes,
    accepted: Entry | None,
    refused: tuple[bytes, str] | None,
) -> Next | Duplicate | Refused | Conflict:
    """accepted / refused: what the store holds for (device, seq), if anything."""
    if accepted is not None:
        if accepted.evidence == message:
            return Duplicate(accepted.receipt)
        return Conflict(f"seq {seq} already recorded with other content", "fork")
    if refused is not None:
        if refused[0] == message_hash:
            return Refused(refused[1], "refused_before")
        return Conflict(f"seq {seq} already refused with other content", "fork")
    if seq <= device.last_seq:
        return Conflict(f"seq {seq} is behind the chain head {device.last_seq}", "behind")
    if prev != device.last_hash:
        return Conflict(f"seq {seq} does not chain to seq {device.last_seq}", "chain")
    return Next(gap=seq > device.last_seq + 1)
