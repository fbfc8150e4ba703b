"""What appending an entry costs the ledger writer as the ledger grows, and
what the transfer_id UNIQUE index of ledgers made before 2026-12-02 added;
with --postgres, the same in a PostgreSQL ledger (gateway/store_postgres.py).

Store.add_entry (the entry and its two balance updates) in transactions of
200, durable (WAL, synchronous=FULL, as the gateway runs), 4,000 devices
in turn, into a fresh ledger with the current schema, and into one with
that old index added (the baseline, in the same run). Prints µs an entry
for each slice of --slice entries, the ratio of the two, and one JSON line.
--postgres DATABASE_URL runs the current schema in a scratch schema of that
database too (synchronous_commit=on: each COMMIT waits for the server's WAL
flush), and prints its ratio to SQLite's in the same run.

Run: python bench/ledger_inserts.py [--entries 300000] [--slice 50000]
         [--postgres postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path

from paymote.gateway import ledger, store_postgres
from paymote.gateway.store import Entry, Store

_DEVICES = 4000
_PER_TRANSACTION = 200


def _entries(count: int) -> list[Entry]:
    devices = [os.urandom(8) for _ in range(_DEVICES)]
    made = []
    for position in range(1, count + 1):
        device_id, seq = devices[position % _DEVICES], position // _DEVICES + 1
        made.append(
            Entry(
                position=position,
                transfer_id=ledger.transfer_id(device_id, seq),
                device_id=device_id,
                seq=seq,
                debit=f"payer-{position % _DEVICES}",
                credit="utility",
                amount_minor=42,
                currency="EUR",
                device_time_s=1764374400 + position,
                gateway_time_s=1764374400 + position,
                evidence=os.urandom(159),  # an intent's size
                receipt=os.urandom(111),
                entry_hash=os.urandom(32),
            )
        )
    return made


def run(
    entries: list[Entry], slice_entries: int, old_index: bool, postgres: str | None = None
) -> list[float]:
    """µs an entry for each slice, appended in order to a fresh ledger (in a
    scratch schema of the database at postgres, if given)."""
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if postgres:
            stack.enter_context(store_postgres.scratch_ledger(tmp, postgres, "paymote_bench"))
        store = stack.enter_context(Store(tmp))
        if old_index:
            with store.transaction():
                store._db.execute("CREATE UNIQUE INDEX old_transfer_id ON entries (transfer_id)")  # noqa: SLF001
        per_slice = []
        for start in range(0, len(entries), slice_entries):
            part = entries[start : start + slice_entries]
            began = time.perf_counter()
            for at in range(0, len(part), _PER_TRANSACTION):
                with store.transaction():
                    for entry in part[at : at + _PER_TRANSACTION]:
                        store.add_entry(entry)
            per_slice.append(round(1e6 * (time.perf_counter() - began) / len(part), 1))
            label = "old index" if old_index else "postgresql" if postgres else "current"
            print(f"  {label}: {start + len(part):>8} entries, {per_slice[-1]} µs an entry", flush=True)
        return per_slice


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=300_000)
    parser.add_argument("--slice", type=int, default=50_000)
    parser.add_argument("--postgres", metavar="DATABASE_URL", help="also time a PostgreSQL ledger there")
    args = parser.parse_args()
    print(f"ledger_inserts: {args.entries} entries of {_DEVICES} devices, {_PER_TRANSACTION} a transaction")
    entries = _entries(args.entries)
    current = run(entries, args.slice, old_index=False)
    baseline = run(entries, args.slice, old_index=True)
    ratios = [round(c / b, 2) for c, b in zip(current, baseline, strict=True)]
    print(f"current / with the old transfer_id index, per slice: {ratios}")
    result = {
        "bench": "ledger_inserts",
        "entries": args.entries,
        "slice": args.slice,
        "current_us": current,
        "old_index_us": baseline,
        "ratios": ratios,
    }
    if args.postgres:
        postgres = run(entries, args.slice, old_index=False, postgres=args.postgres)
        result["postgres_us"] = postgres
        result["postgres_ratios"] = [round(p / c, 2) for p, c in zip(postgres, current, strict=True)]
        print(f"postgresql / sqlite (current schema), per slice: {result['postgres_ratios']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
