"""`paymote demo`: the whole system for a newcomer, on the embedded default.

A gateway with an SQLite ledger in ./paymote-demo/, the firmware built for
each board, five virtual boards (two households, a delivery van, a car, a
farm) provisioned over their virtual serial ports, about 30 seconds of
running with mild faults (loss, duplicates, one gateway crash, one power
cut), the adversaries; then the devices, balances, what was refused and why,
where the data lives, and a picture of the balances over simulated time.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Console
from rich.table import Table

from paymote.crypto import messages
from paymote.gateway import registry
from paymote.gateway.store import Store
from paymote.simulator import sim_command
from paymote.simulator.proxy import Faults
from paymote.simulator.run import Options

DEMO_SCENARIOS = ["household", "van", "car", "farm", "household"]
PICTURE = "balances.png"


def plot_balances(data_dir: Path, out: Path) -> int:
    """Each account's balance over the devices' (simulated) time, as a PNG.
    Returns how many transfers it drew."""
    import matplotlib

    matplotlib.use("Agg")  # no screen needed
    import matplotlib.pyplot as plt

    with Store(data_dir) as store:
        entries = sorted(store.entries(), key=lambda e: e.device_time_s)
    series: dict[tuple[str, str], list[tuple[int, int]]] = {}
    running: dict[tuple[str, str], int] = {}
    for e in entries:
        for account, sign in ((e.debit, -1), (e.credit, 1)):
            key = (account, e.currency)
            running[key] = running.get(key, 0) + sign * e.amount_minor
            series.setdefault(key, []).append((e.device_time_s, running[key]))
    figure, axis = plt.subplots(figsize=(9, 4.8), dpi=100)
    start = entries[0].device_time_s if entries else 0
    for (account, currency), points in sorted(series.items()):
        hours = [(t - start) / 3600 for t, _ in points]
        scale = 10 ** (messages.minor_unit_digits(currency) or 0)
        axis.step(hours, [b / scale for _, b in points], where="post", label=f"{account} ({currency})")
    axis.axhline(0, color="grey", linewidth=0.5)
    axis.set_xlabel("simulated hours")
    axis.set_ylabel("balance (major units)")
    axis.set_title("paymote demo: balances over simulated time (double entry: they sum to zero)")
    axis.legend(fontsize=8, loc="upper left", ncol=2)
    figure.tight_layout()
    figure.savefig(out)
    plt.close(figure)
    return len(entries)


def _show(console: Console, data_dir: Path, report) -> None:
    with Store(data_dir / "gateway") as store:
        devices = [registry.as_json(d) for d in store.devices()]
    table = Table(title="devices (paymote devices list --data paymote-demo/gateway)")
    for column in ("device", "board", "payer -> payee", "status", "last seq", "flagged"):
        table.add_column(column)
    for d in devices:
        payees = ",".join(d["allowed_payees"])
        flagged = (d["flagged"] or "")[:40]
        table.add_row(
            d["device_id"],
            d["board"] or "-",
            f"{d['payer']} -> {payees}",
            d["status"],
            str(d["last_seq"]),
            flagged,
        )
    console.print(table)
    balances = Table(title="balances per account (minor units)")
    for column in ("account", "currency", "balance"):
        balances.add_column(column)
    for b in report.balances:
        balances.add_row(b["account"], b["currency"], str(b["balance_minor"]))
    console.print(balances)
    refused = Table(title="refused, and why")
    refused.add_column("who")
    refused.add_column("answer")
    refused.add_column("why")
    for a in report.adversaries:
        refused.add_row(
            f"adversary: {a['name']}",
            str(a["got"]),
            a["detail"] or "duplicate: same receipt, nothing written",
        )
    for answer, count in report.answers.items():
        if not answer.split(" ")[1].startswith("2."):
            refused.add_row(f"boards ({count}x)", answer.split(" ")[1], " ".join(answer.split(" ")[2:]))
    console.print(refused)


def run(data: Path, duration_s: float, seed: int) -> int:
    console = Console()
    options = Options(
        boards=len(DEMO_SCENARIOS),
        scenarios=DEMO_SCENARIOS,
        duration_s=duration_s,
        faults=Faults(loss=0.05, dup=0.02),
        kill_gateway_every_s=duration_s * 0.6,
        power_cut_every_s=duration_s * 0.6,
        seed=seed,
        data=data,
    )
    console.print(
        f"[bold]paymote demo[/]: {len(DEMO_SCENARIOS)} virtual boards for {duration_s:.0f} s, seed {seed}"
    )
    report = asyncio.run(sim_command.simulate(options, console, check=True))
    _show(console, data, report)
    sim_command.print_report(report, console)
    picture = data / PICTURE
    drawn = plot_balances(data / "gateway", picture)
    hours = report.simulated_s / 3600
    console.print(f"\nthe picture: [bold]{picture}[/] ({drawn} transfers over {hours:.1f} simulated hours)")
    console.print(
        f"the data: ledger and registry in [bold]{data / 'gateway'}[/] "
        f"(paymote ledger verify --data {data / 'gateway'}); each board's flash in {data / 'boards'}"
    )
    return 0 if report.ok else 1
