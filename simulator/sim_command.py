"""`paymote sim run`: options from the command line, live progress (rich),
the report, and the exit code (1 if an invariant failed or a board crashed)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from paymote.simulator.scenarios import SCENARIOS

if TYPE_CHECKING:  # the simulator and rich load only when a simulation runs, not with every command
    from rich.console import Console
    from rich.table import Table

    from paymote.simulator.run import Options, Report, Simulation


def add_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("--boards", type=int, default=4, help="how many virtual boards")
    run.add_argument(
        "--scenario", default=",".join(SCENARIOS), help=f"comma-separated: {', '.join(SCENARIOS)}"
    )
    run.add_argument("--duration", type=float, default=30.0, help="real seconds")
    for name in ("loss", "dup", "reorder", "delay", "corrupt"):
        run.add_argument(f"--{name}", type=float, default=0.0, help=f"{name} rate per datagram, 0..1")
    run.add_argument("--kill-gateway-every", type=float, metavar="S", help="SIGKILL the gateway every S s")
    run.add_argument("--power-cut-every", type=float, metavar="S", help="cut a board's power every S s")
    run.add_argument("--seed", type=int, default=1)
    run.add_argument("--gateway", help="coap://HOST:PORT of a running gateway (default: start one)")
    run.add_argument(
        "--gateway-data", type=Path, help="with --gateway: its data directory, to register boards"
    )
    run.add_argument("--data", type=Path, default=Path("paymote-sim"), help="the simulation's directory")
    run.add_argument("--engine", choices=("micropython", "cpython"), default="micropython")
    run.add_argument("--speed", type=int, default=1440, help="simulated seconds per real second")
    run.add_argument("--no-adversaries", action="store_true")
    run.add_argument("--check", action="store_true", help="check the invariants; exit 1 if one fails")
    run.add_argument("--json", action="store_true", help="print the report as one JSON object")


def options_from(args: argparse.Namespace) -> Options:
    from paymote.simulator.proxy import Faults
    from paymote.simulator.run import Options

    scenarios = [s for s in args.scenario.split(",") if s]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown or not scenarios:
        raise ValueError(f"--scenario: unknown {', '.join(sorted(unknown)) or '(none given)'}")
    if args.boards < 1 or args.duration <= 0 or args.speed < 1:
        raise ValueError("--boards, --duration and --speed must be positive")
    gateway = None
    if args.gateway:
        host, _, port = args.gateway.removeprefix("coap://").rstrip("/").rpartition(":")
        if not host or not port.isdigit():
            raise ValueError("--gateway wants coap://HOST:PORT")
        if args.gateway_data is None:
            raise ValueError("--gateway needs --gateway-data (its registry takes the boards)")
        gateway = (host, int(port))
    return Options(
        boards=args.boards,
        scenarios=scenarios,
        duration_s=args.duration,
        faults=Faults(args.loss, args.dup, args.reorder, args.delay, args.corrupt),
        kill_gateway_every_s=args.kill_gateway_every,
        power_cut_every_s=args.power_cut_every,
        seed=args.seed,
        gateway=gateway,
        gateway_data=args.gateway_data,
        data=args.data,
        engine=args.engine,
        speed=args.speed,
        adversaries=not args.no_adversaries,
    )


def progress_table(elapsed_s: float, sim: Simulation) -> Table:
    from rich.table import Table

    o = sim.o
    table = Table(title=f"paymote sim  seed={o.seed}  {elapsed_s:5.1f}/{o.duration_s:.0f} s", expand=False)
    for column in ("boards up", "ledger entries", "requests", "retransmitted", "gateway kills", "power cuts"):
        table.add_column(column, justify="right")
    stats = sim.link.stats if sim.link else None
    up = sum(1 for r in sim.runners if r.alive())
    table.add_row(
        f"{up}/{len(sim.runners)}",
        str(sim.entries),
        str(sum(stats.requests.values())) if stats else "-",
        str(stats.retransmissions) if stats else "-",
        str(sim.kills),
        str(sim.cuts),
    )
    return table


def print_report(report: Report, console: Console) -> None:
    from rich.table import Table

    console.print(
        f"[bold]signed[/] {report.signed}  [bold]acknowledged[/] {report.acknowledged}  "
        f"[bold]queued[/] {report.queued}  [bold]dead-lettered[/] {report.dead_lettered}  "
        f"retransmissions {report.retransmissions}  latency ms {report.latency_ms}"
    )
    console.print(
        f"simulated {report.simulated_s / 3600:.1f} h in {report.duration_s} s; faults {report.faults}"
    )
    answers = Table(title="answers by code and reason")
    answers.add_column("answer")
    answers.add_column("count", justify="right")
    for answer, count in report.answers.items():
        answers.add_row(answer, str(count))
    console.print(answers)
    for attempt in report.adversaries:
        mark = "[green]ok[/]" if attempt["ok"] else "[red]WRONG[/]"
        console.print(
            f"adversary {attempt['name']:12} {attempt['got']} (expected {attempt['expected']}) {mark}"
        )
    for invariant in report.invariants:
        mark = "[green]pass[/]" if invariant["ok"] else "[red]FAIL[/]"
        console.print(f"invariant {invariant['name']:16} {mark}  {invariant['detail']}")
    for crash in report.crashed_boards:
        console.print(f"[red]board crashed[/] {crash}")
    for name in report.watchdog_resets:
        console.print(f"[yellow]watchdog reset[/] {name}: it stopped feeding its watchdog and rebooted")


async def simulate(options: Options, console: Console, check: bool, live_progress: bool = True) -> Report:
    from rich.live import Live

    from paymote.simulator.run import Simulation

    sim = Simulation(options)
    await sim.setup(log=lambda message: console.print(f"[dim]{message}[/]"))
    if live_progress:
        with Live(progress_table(0, sim), console=console, refresh_per_second=4) as live:
            sim.progress = lambda elapsed, s: live.update(progress_table(elapsed, s))
            report = await sim.run()
    else:
        report = await sim.run()
    if check:
        sim.check(report)
    return report


def run(args: argparse.Namespace) -> int:
    try:
        options = options_from(args)
    except ValueError as e:
        print(f"paymote sim run: {e}", file=sys.stderr)
        return 2
    import asyncio

    from rich.console import Console

    from paymote.simulator.run import as_json

    console = Console(stderr=args.json)
    try:
        report = asyncio.run(simulate(options, console, args.check))
    except RuntimeError as e:  # no micropython for this platform, a gateway that did not start
        hint = " (--engine cpython runs the same firmware without it)" if "micropython" in str(e) else ""
        print(f"paymote sim run: {e}{hint}", file=sys.stderr)
        return 2
    if args.json:
        print(as_json(report))
    else:
        print_report(report, console)
    if not report.ok:
        console.print(f"[red]seed={options.seed}[/]: replay with the same options and --seed {options.seed}")
        return 1
    return 0
