"""`paymote ledger balances|show|verify|export`."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

from paymote.gateway import authenticate, keys, ledger
from paymote.gateway.store import DB_NAME, Entry, Store


def _entry_json(entry: Entry) -> dict[str, Any]:
    return {
        "position": entry.position,
        "id": entry.transfer_id,
        "device_id": entry.device_id.hex(),
        "seq": entry.seq,
        "debit": entry.debit,
        "credit": entry.credit,
        "amount_minor": entry.amount_minor,
        "currency": entry.currency,
        "device_time_s": entry.device_time_s,
        "gateway_time_s": entry.gateway_time_s,
        "entry_hash": entry.entry_hash.hex(),
        "evidence": entry.evidence.hex(),
    }


EXPORT_FIELDS = tuple(_entry_json(Entry(0, "", b"", 0, "", "", 0, "", 0, 0, b"", b"", b"")))


def _missing(data_dir: Path) -> bool:
    """Ledger commands read a ledger; they never create one where --data points
    (a mistyped path must not look like an empty ledger)."""
    if (data_dir / DB_NAME).exists():
        return False
    print(f"paymote ledger: no ledger in {data_dir}", file=sys.stderr)
    return True


def balances(data_dir: Path, as_json: bool) -> int:
    if _missing(data_dir):
        return 2
    with Store(data_dir) as store:
        rows = [{"account": a, "currency": c, "balance_minor": b} for a, c, b in store.balances()]
    if as_json:
        print(json.dumps(rows))
    else:
        for row in rows:
            print(f"{row['account']:32} {row['currency']} {row['balance_minor']:>15}")
    return 0


def show(data_dir: Path, as_json: bool) -> int:
    if _missing(data_dir):
        return 2
    with Store(data_dir) as store:
        if as_json:
            print(json.dumps([_entry_json(e) for e in store.entries()]))
            return 0
        for e in store.entries():
            print(
                f"{e.position:>6} {e.transfer_id:26} {e.debit:>16} -> {e.credit:16} "
                f"{e.amount_minor:>10} {e.currency}  {e.entry_hash.hex()[:16]}"
            )
    return 0


def export(data_dir: Path, fmt: str) -> int:
    if _missing(data_dir):
        return 2
    with Store(data_dir) as store:
        if fmt == "jsonl":
            for entry in store.entries():
                print(json.dumps(_entry_json(entry)))
            return 0
        writer = csv.writer(sys.stdout)
        writer.writerow(EXPORT_FIELDS)
        for entry in store.entries():
            writer.writerow(_entry_json(entry).values())
    return 0


def problem_in(data_dir: Path) -> tuple[ledger.Problem | None, int]:
    """The first problem `verify` finds (None if none) and the entry count.
    The data directory must hold a ledger and the gateway's key."""
    gateway = keys.load(data_dir / keys.KEY_FILE)
    gateway_keys = {gateway.kid: authenticate.Ed25519Key(gateway.public)}
    with Store(data_dir) as store:
        device_keys = {d.device_id: authenticate.Ed25519Key(d.public_key) for d in store.devices()}
        return ledger.verify(store, device_keys, gateway_keys), store.entry_count()


def verify(data_dir: Path) -> int:
    if _missing(data_dir):
        return 2
    if not (data_dir / keys.KEY_FILE).exists():
        print(f"paymote ledger verify: no gateway key in {data_dir}", file=sys.stderr)
        return 2
    problem, count = problem_in(data_dir)
    if problem is not None:
        print(f"ledger verify: FAILED at {problem}")
        return 1
    print(f"ledger verify: ok, {count} entries, chain, signatures and balances check")
    return 0
