"""The invariants a simulation must keep, checked against the boards' flash
and the gateway's ledger after the run (`paymote sim run --check`):

    receipted-once   every intent a board holds a receipt for is in the ledger
                     exactly once, under the entry hash the signed receipt names
    backed           every ledger transfer of a simulated board is a message that
                     board signed: receipted, or still queued byte for byte
    nothing-missing  every sequence number a board used is acknowledged, queued
                     or dead-lettered with a reason; numbers are skipped only
                     where a reboot starts a new reserved block
    delivered-once   no consignment is paid twice
    zero-sum         balances sum to zero per currency
    ledger-verify    `paymote ledger verify` passes (chain, signatures, balances)
    adversaries      every adversarial message got the answer it must get
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cbor2

from paymote.crypto import cose, inbound, messages
from paymote.firmware.counter import BLOCK
from paymote.firmware.outbox import RECEIPTS_KEPT
from paymote.firmware.storage import FlashStorage
from paymote.gateway import authenticate, keys, ledger_command
from paymote.gateway.store import Store
from paymote.simulator.adversary import Attempt
from paymote.simulator.fleet import BoardSpec, device_id


@dataclass
class Invariant:
    name: str
    ok: bool
    detail: str


@dataclass
class BoardFlash:
    """What one board's flash says about its intents."""

    device_id: bytes
    receipts: dict[int, bytes]  # seq -> receipt (COSE_Sign1 by the gateway)
    queued: dict[int, bytes]  # seq -> signed intent
    dead: dict[int, tuple[bytes, str]]  # seq -> (signed intent, reason)

    @property
    def used(self) -> set[int]:
        return set(self.receipts) | set(self.queued) | set(self.dead)

    @property
    def retired_to(self) -> int:
        """Receipts up to this number were removed by the outbox's retention
        (outbox.RECEIPTS_KEPT): acknowledged, though the flash no longer says so."""
        return max(0, max(self.receipts, default=0) - RECEIPTS_KEPT)


def read_flash(flash: Path) -> BoardFlash:
    """Read the board's records through the firmware's own storage (CRC-checked).
    Only once the board has stopped: opening the storage finishes what a
    power cut left (it removes a torn .tmp), as the board's next boot would."""
    storage = FlashStorage(str(flash))
    receipts, queued, dead = {}, {}, {}
    for seq in sorted(storage.numbers("receipts")):  # intents' receipts; "r..." are reading batches'
        receipts[seq] = storage.read(f"receipts/{seq:010d}")
    for seq in sorted(storage.numbers("outbox")):
        queued[seq] = storage.read(f"outbox/{seq:010d}")
    for seq in sorted(storage.numbers("dead")):  # and each one's reason beside it, in "<seq>.why"
        why = storage.read(f"dead/{seq:010d}.why")
        dead[seq] = (storage.read(f"dead/{seq:010d}"), why.decode() if why else "")
    return BoardFlash(device_id(flash), receipts, queued, dead)


def _gaps_ok(used: set[int], retired_to: int = 0) -> str | None:
    """None if every skipped number after retired_to ends at the start of a reserved block."""
    previous = retired_to
    for seq in sorted(s for s in used if s > retired_to):
        if seq != previous + 1 and (seq - 1) % BLOCK != 0:
            return f"seq {previous + 1}..{seq - 1} skipped in the middle of a block"
        previous = seq
    return None


def check(
    data_dir: Path,
    specs: list[BoardSpec],
    attempts: list[Attempt],
    clone_victim: bytes | None,
    flashes: dict[str, BoardFlash] | None = None,
) -> list[Invariant]:
    """The invariants; flashes: the boards' read_flash by name, if read already."""
    gateway = keys.load(data_dir / keys.KEY_FILE)
    gateway_key = authenticate.Ed25519Key(gateway.public)
    if flashes is None:
        flashes = {spec.name: read_flash(spec.flash) for spec in specs}
    problems: dict[str, list[str]] = {n: [] for n in ("receipted-once", "backed", "nothing-missing")}
    with Store(data_dir) as store:
        entries = list(store.entries())
        balances = store.balances()
    by_place = Counter((e.device_id, e.seq) for e in entries)
    entry_at = {(e.device_id, e.seq): e for e in entries}
    for name, flash in flashes.items():
        for seq, receipt in flash.receipts.items():
            payload = cose.verify1(receipt, {gateway.kid: gateway_key}).payload
            fields = inbound.parse_receipt(cbor2.loads(payload))
            entry = entry_at.get((flash.device_id, seq))
            if entry is None or by_place[(flash.device_id, seq)] != 1:
                problems["receipted-once"].append(f"{name} seq {seq}: receipt but not in the ledger once")
            elif entry.entry_hash != fields.entry_hash or fields.seq != seq:
                problems["receipted-once"].append(f"{name} seq {seq}: receipt names another entry")
        for seq, (_, why) in flash.dead.items():
            if not why:
                problems["nothing-missing"].append(f"{name} seq {seq}: dead-lettered without a reason")
        gap = _gaps_ok(flash.used, flash.retired_to)
        if gap:
            problems["nothing-missing"].append(f"{name}: {gap}")
    device_flash = {f.device_id: (n, f) for n, f in flashes.items()}
    consignments: Counter = Counter()
    for e in entries:
        owner = device_flash.get(e.device_id)
        evidence = cbor2.loads(cbor2.loads(e.evidence).value[2])[8]
        if evidence[0] == messages.EVIDENCE_DELIVERY:
            consignments[(e.device_id, evidence[1])] += 1
        if owner is None:
            continue  # an adversary's device: the adversaries invariant speaks for it
        name, flash = owner
        if e.seq > flash.retired_to and e.seq not in flash.receipts and flash.queued.get(e.seq) != e.evidence:
            if e.device_id == clone_victim:
                continue  # its key is the clone's too: the clone's messages are not on this flash
            problems["backed"].append(f"{name} seq {e.seq}: in the ledger but neither receipted nor queued")
    twice = [f"{d.hex()} {c}" for (d, c), n in consignments.items() if n > 1]
    sums: Counter = Counter()
    for _, currency, balance in balances:
        sums[currency] += balance
    problem, count = ledger_command.problem_in(data_dir)
    out = [Invariant(n, not p, "; ".join(p[:3]) or "ok") for n, p in problems.items()]
    out.append(
        Invariant("delivered-once", not twice, ", ".join(twice[:3]) or f"{len(consignments)} consignments")
    )
    out.append(
        Invariant(
            "zero-sum", all(v == 0 for v in sums.values()), ", ".join(f"{c} {v}" for c, v in sums.items())
        )
    )
    out.append(Invariant("ledger-verify", problem is None, str(problem) if problem else f"{count} entries"))
    wrong = [f"{a.name}: {a.got} ({a.detail}), expected {a.expected}" for a in attempts if not a.ok]
    out.append(
        Invariant("adversaries", not wrong, "; ".join(wrong) or f"{len(attempts)} refused as expected")
    )
    return out
