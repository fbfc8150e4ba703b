"""`paymote ledger balances|show|verify|export`."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from paymote.gateway import authenticate, keys, ledger
from paymote.gateway.store import Entry, Store, has_ledger


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
BALANCE_FIELDS = ("account", "currency", "balance_minor")
VERIFY_FIELDS = ("ok", "entries", "position", "id", "reason")


def _missing(data_dir: Path) -> bool:
    """Ledger commands read a ledger; they never create one where --data points
    (a mistyped path must not look like an empty ledger)."""
    if has_ledger(data_dir):
        return False
    print(f"paymote ledger: no ledger in {data_dir}", file=sys.stderr)
    return True


def _emit(
    rows: Iterable[dict[str, Any]], fields: tuple[str, ...], fmt: str, text: Callable[[dict], str]
) -> None:
    """Every ledger command's output, one row (a dict with `fields`) at a time,
    so an export of millions of entries never sits in memory: json one array,
    jsonl one object a line, csv a header and one line a row, text for people."""
    out = sys.stdout
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(fields)
        writer.writerows(row.values() for row in rows)
    elif fmt == "json":
        out.write("[")
        for i, row in enumerate(rows):
            out.write(("," if i else "") + json.dumps(row))
        out.write("]\n")
    else:
        for row in rows:
            out.write((json.dumps(row) if fmt == "jsonl" else text(row)) + "\n")


def _balance_text(row: dict[str, Any]) -> str:
    return f"{row['account']:32} {row['currency']} {row['balance_minor']:>15}"


def _entry_text(row: dict[str, Any]) -> str:
    return (
        f"{row['position']:>6} {row['id']:26} {row['debit']:>16} -> {row['credit']:16} "
        f"{row['amount_minor']:>10} {row['currency']}  {row['entry_hash'][:16]}"
    )


def balances(data_dir: Path, fmt: str = "text") -> int:
    if _missing(data_dir):
        return 2
    with Store(data_dir) as store:
        rows = ({"account": a, "currency": c, "balance_minor": b} for a, c, b in store.balances())
        _emit(rows, BALANCE_FIELDS, fmt, _balance_text)
    return 0


def entries(data_dir: Path, fmt: str) -> int:
    """`show` (text by default) and `export` (jsonl by default): every entry."""
    if _missing(data_dir):
        return 2
    with Store(data_dir) as store:
        _emit(map(_entry_json, store.entries()), EXPORT_FIELDS, fmt, _entry_text)
    return 0


def problem_in(data_dir: Path) -> tuple[ledger.Problem | None, int]:
    """The first problem `verify` finds (None if none) and the entry count.
    The data directory must hold a ledger and the gateway's key."""
    gateway = keys.load(data_dir / keys.KEY_FILE)
    gateway_keys = {gateway.kid: authenticate.Ed25519Key(gateway.public)}
    with Store(data_dir) as store, store.snapshot():  # a gateway may be committing meanwhile
        device_keys = {d.device_id: authenticate.Ed25519Key(d.public_key) for d in store.devices()}
        return ledger.verify(store, device_keys, gateway_keys), store.entry_count()


def verify(data_dir: Path, fmt: str = "text") -> int:
    """Exit 0 only if everything checks, 1 naming the first problem, 2 if
    there is nothing to check. --json: one object, `ok`, `entries` and, where
    it failed, the entry's `position` and `id` (0 and "" for the whole ledger)
    and the `reason`."""
    if _missing(data_dir):
        return 2
    if not (data_dir / keys.KEY_FILE).exists():
        print(f"paymote ledger verify: no gateway key in {data_dir}", file=sys.stderr)
        return 2
    problem, count = problem_in(data_dir)
    row = {
        "ok": problem is None,
        "entries": count,
        "position": problem.position if problem else None,
        "id": problem.transfer_id if problem else None,
        "reason": problem.reason if problem else None,
    }
    if fmt == "json":
        print(json.dumps(row))
    else:
        _emit([row], VERIFY_FIELDS, fmt, lambda _: _verdict(problem, count))
    return 0 if problem is None else 1


def _verdict(problem: ledger.Problem | None, count: int) -> str:
    if problem is not None:
        return f"ledger verify: FAILED at {problem}"
    return f"ledger verify: ok, {count} entries, chain, signatures and balances check"
