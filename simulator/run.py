"""`paymote sim run`: a fleet of virtual boards running the real firmware
against a gateway, through a faulty link, with gateway crashes and power
cuts on a schedule drawn from the seed; live progress, a report, and with
--check the invariants of simulator/check.py.

Layout of the data directory:

    gateway/            the gateway's data (ledger, registry, key)
    gateway.log         its log
    boards/NAME/flash   each board's flash; boards/NAME/console.log its console
    builds/, simlib/    the x64 firmware builds and the simulator's .mpy
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import sqlite3
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from paymote.gateway.store import Store
from paymote.simulator import adversary, check, fleet, micropython_host
from paymote.simulator.proxy import Faults, FaultyLink
from paymote.simulator.scenarios import SCENARIOS
from paymote.simulator.watchdog import Watchdog

_TICK_S = 0.5  # how often the run looks at its boards and draws the schedule
_RESTART_DELAY_S = 0.5  # how long a killed gateway or board stays down


@dataclass
class Options:
    boards: int = 4
    scenarios: list[str] = field(default_factory=lambda: list(SCENARIOS))
    duration_s: float = 30.0
    faults: Faults = field(default_factory=Faults)
    kill_gateway_every_s: float | None = None
    power_cut_every_s: float | None = None
    seed: int = 1
    gateway: tuple[str, int] | None = None  # an outside gateway; None: start our own in data/gateway
    gateway_data: Path | None = None  # the outside gateway's data directory (its registry)
    data: Path = Path("paymote-sim")
    engine: str = "micropython"
    speed: int = 1440  # simulated seconds per real second: a day in a minute
    adversaries: bool = True
    serial: bool = True  # provision over the virtual serial ports (micropython engine)
    ack_timeout_ms: int = 300


@dataclass
class Report:
    seed: int
    data: str
    engine: str
    boards: int
    duration_s: float
    simulated_s: int
    signed: int = 0
    acknowledged: int = 0
    queued: int = 0
    dead_lettered: int = 0
    requests: dict = field(default_factory=dict)
    retransmissions: int = 0
    answers: dict = field(default_factory=dict)
    faults: dict = field(default_factory=dict)
    latency_ms: dict = field(default_factory=dict)
    gateway_kills: int = 0
    power_cuts: int = 0
    power_cut_boards: list = field(default_factory=list)  # the boards cut, in order
    watchdog_resets: list = field(default_factory=list)  # boards that stopped feeding theirs, in order
    crashed_boards: list = field(default_factory=list)
    ledger_entries: int = 0
    balances: list = field(default_factory=list)
    adversaries: list = field(default_factory=list)
    invariants: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.crashed_boards and all(i["ok"] for i in self.invariants)


class Schedule:
    """When the gateway dies and which board loses power, from the seed: each
    fault every `every_s` on average, the gaps drawn between half and one and
    a half times that (so a run of D seconds has about D / every_s of them)."""

    def __init__(self, seed: int, every_s: float | None, start_s: float) -> None:
        self._random = random.Random(seed)
        self._every_s = every_s
        self.next_s = self._draw(start_s)

    def _draw(self, now_s: float) -> float:
        if self._every_s is None:
            return float("inf")
        return now_s + max(1.0, self._every_s * self._random.uniform(0.5, 1.5))

    def due(self, now_s: float) -> bool:
        if now_s < self.next_s:
            return False
        self.next_s = self._draw(now_s)
        return True

    def pick(self, items: list):
        return items[self._random.randrange(len(items))]


def _ledger_counts(data_dir: Path) -> tuple[int, list]:
    """Entries and balances, read-only while the gateway writes."""
    try:
        with Store(data_dir, readonly=True) as store:
            return store.entry_count(), store.balances()
    except sqlite3.OperationalError:  # no ledger yet: the gateway has not started
        return 0, []


def _percentiles(values: list[float]) -> dict:
    if len(values) < 2:
        return {"count": len(values)}
    q = statistics.quantiles(values, n=100)
    return {"count": len(values), "p50": round(q[49], 1), "p90": round(q[89], 1), "p99": round(q[98], 1)}


class Simulation:
    def __init__(self, options: Options, progress=None) -> None:
        self.o = options
        self.progress = progress  # called with (elapsed_s, self) every tick
        self.root = options.data.resolve()
        self.gateway_dir = (options.gateway_data or self.root / "gateway").resolve()
        self.specs = fleet.specs(self.root, options.boards, options.scenarios, options.seed)
        self.runners: list[fleet.BoardRunner] = []
        self.cpython_fleet: fleet.CpythonFleet | None = None
        self.gateway: fleet.GatewayProcess | None = None
        self.link: FaultyLink | None = None
        self.attempts: list[adversary.Attempt] = []
        self.clone_victim: bytes | None = None
        self.flashes: dict[str, check.BoardFlash] | None = None  # read once the run is over
        self.kills = 0
        self.cuts = 0
        self.cut_boards: list[str] = []
        self.watchdog: Watchdog | None = None
        self.watchdog_resets: list[str] = []
        self.entries = 0
        self.balances: list = []

    async def setup(self, log=print) -> None:
        """Build, provision every board, register the adversaries, start the gateway."""
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        o = self.o
        gateway_addr = o.gateway or ("127.0.0.1", fleet.free_udp_port())
        self.link = FaultyLink(gateway_addr, o.faults, o.seed)
        link_port = await self.link.start()
        uri = f"coap://127.0.0.1:{link_port}"
        builds = await asyncio.to_thread(fleet.build_all, self.root, {s.board for s in self.specs})
        simlib = (
            await asyncio.to_thread(fleet.compile_simulator, self.root) if o.engine == "micropython" else None
        )
        log(f"built firmware for {', '.join(sorted(builds))}")
        if o.engine == "micropython":
            log(f"boards run on {(await asyncio.to_thread(micropython_host.host)).why}")
        if o.engine == "micropython" and o.serial:
            for spec in self.specs:
                await asyncio.to_thread(
                    fleet.provision_over_serial,
                    spec,
                    builds[spec.board],
                    uri,
                    self.gateway_dir,
                    lambda m: None,
                )
                log(f"provisioned {spec.name} over its virtual serial port")
        else:
            await asyncio.to_thread(fleet.provision_in_place, self.specs, builds, uri, self.gateway_dir)
            log(f"provisioned {len(self.specs)} boards in place")
        real_epoch_s = time.time()
        # The micropython engine's boards are processes, which a watchdog can
        # reset; the cpython engine's are threads, which nothing can.
        self.watchdog = Watchdog() if o.engine == "micropython" else None
        watchdog = self.watchdog.address if self.watchdog is not None else None
        for spec in self.specs:
            fleet.write_sim_files(spec, real_epoch_s, o.speed, o.ack_timeout_ms, watchdog)
        self._adversary_devices = (
            adversary.register_adversaries(self.gateway_dir, o.seed) if o.adversaries else {}
        )
        if o.gateway is None:
            self.gateway = fleet.GatewayProcess(self.gateway_dir, gateway_addr[1])
            await asyncio.to_thread(self.gateway.start)
        self.cpython_fleet = fleet.CpythonFleet(self.specs) if o.engine == "cpython" else None
        self.runners = [fleet.BoardRunner(spec, simlib, self.cpython_fleet) for spec in self.specs]
        for runner in self.runners:
            runner.start()

    async def run(self) -> Report:
        o = self.o
        start = time.monotonic()
        kills = Schedule(o.seed * 7 + 1, o.kill_gateway_every_s if self.gateway else None, 0)
        cuts = Schedule(o.seed * 7 + 2, o.power_cut_every_s, 0)
        attack_at_s = o.duration_s / 2
        try:
            while (elapsed := time.monotonic() - start) < o.duration_s:
                if self.gateway is not None and kills.due(elapsed):
                    await asyncio.to_thread(self._kill_gateway)
                if cuts.due(elapsed):
                    await asyncio.to_thread(self._power_cut, cuts.pick(self.runners))
                if o.adversaries and not self.attempts and elapsed >= attack_at_s:
                    await self._attack()
                for runner in self.runners:
                    runner.alive()
                for name in self.watchdog.expired(time.monotonic()) if self.watchdog else ():
                    await asyncio.to_thread(self._watchdog_reset, name)
                self.entries, self.balances = _ledger_counts(self.gateway_dir)
                if self.progress:
                    self.progress(elapsed, self)
                await asyncio.sleep(_TICK_S)
            if o.adversaries and not self.attempts:
                await self._attack()
        finally:
            # Off the event loop: the link must keep forwarding while boards finish a request.
            await asyncio.to_thread(self._stop_boards)
            if self.gateway is not None:
                await asyncio.to_thread(self.gateway.stop)
            if self.link is not None:
                self.link.close()
            if self.watchdog is not None:
                self.watchdog.close()
        return self.report(time.monotonic() - start)

    def _stop_boards(self) -> None:
        for runner in self.runners:
            runner.stop()
        if self.cpython_fleet is not None:
            self.cpython_fleet.stop()

    def _kill_gateway(self) -> None:
        assert self.gateway is not None
        self.gateway.kill()
        self.kills += 1
        time.sleep(_RESTART_DELAY_S)
        self.gateway.start()

    def _reboot(self, runner: fleet.BoardRunner, down_s: float) -> None:
        """The board's power off, down_s, on again: it boots from its flash,
        its RAM lost, and its watchdog is off until it feeds again."""
        runner.power_cut()
        if self.watchdog is not None:
            self.watchdog.rebooted(runner.spec.name, time.monotonic())
        time.sleep(down_s)
        runner.start()

    def _power_cut(self, runner: fleet.BoardRunner) -> None:
        self.cuts += 1
        self.cut_boards.append(runner.spec.name)
        self._reboot(runner, _RESTART_DELAY_S / 5)

    def _watchdog_reset(self, name: str) -> None:
        """What a board's watchdog does to firmware that stopped feeding it."""
        self.watchdog_resets.append(name)
        self._reboot(next(r for r in self.runners if r.spec.name == name), 0)

    async def _attack(self) -> None:
        """The adversaries, against the first household (or any board) with an
        accepted intent. Read from the ledger: the boards' flash is theirs while they run."""
        found = await asyncio.to_thread(self._first_accepted)
        if found is None:
            return
        spec, accepted = found
        self.clone_victim = spec.device_id
        seed = (spec.flash / "key.bin").read_bytes()  # the attacker extracted the victim's key
        attacks = adversary.messages_for(accepted, seed, self._adversary_devices, self.o.seed)
        assert self.link is not None
        self.attempts = await adversary.send_all(self.link.upstream, attacks)

    def _first_accepted(self) -> tuple[fleet.BoardSpec, bytes] | None:
        """(board, the first intent the ledger took from it), households first."""
        boards = sorted(
            ((spec.device_id, spec) for spec in self.specs), key=lambda b: b[1].scenario != "household"
        )
        ids = {device_id for device_id, _ in boards}
        first: dict[bytes, bytes] = {}
        try:
            with Store(self.gateway_dir, readonly=True) as store:
                for entry in store.entries():
                    if entry.device_id in ids:
                        first.setdefault(entry.device_id, entry.evidence)
        except sqlite3.OperationalError:
            return None
        return next(((spec, first[device_id]) for device_id, spec in boards if device_id in first), None)

    def report(self, elapsed_s: float) -> Report:
        o = self.o
        link = self.link.stats if self.link else None
        report = Report(
            seed=o.seed,
            data=str(self.root),
            engine=o.engine,
            boards=len(self.specs),
            duration_s=round(elapsed_s, 1),
            simulated_s=int(elapsed_s * o.speed),
            gateway_kills=self.kills,
            power_cuts=self.cuts,
            power_cut_boards=self.cut_boards,
            watchdog_resets=self.watchdog_resets,
        )
        self.flashes = {spec.name: check.read_flash(spec.flash) for spec in self.specs}  # the boards stopped
        for flash in self.flashes.values():
            report.acknowledged += len(flash.receipts)
            report.queued += len(flash.queued)
            report.dead_lettered += len(flash.dead)
        report.signed = report.acknowledged + report.queued + report.dead_lettered
        report.crashed_boards = [f"{r.spec.name}: {r.crash}" for r in self.runners if r.crash]
        if link is not None:
            report.requests = dict(link.requests)
            report.retransmissions = link.retransmissions
            report.answers = dict(Counter(link.answers).most_common())
            report.faults = dict(link.faults)
            report.latency_ms = _percentiles(link.latency_ms)
        report.ledger_entries, balances = _ledger_counts(self.gateway_dir)
        report.balances = [{"account": a, "currency": c, "balance_minor": b} for a, c, b in balances]
        report.adversaries = [
            {"name": a.name, "expected": a.expected, "got": a.got, "detail": a.detail, "ok": a.ok}
            for a in self.attempts
        ]
        return report

    def check(self, report: Report) -> None:
        invariants = check.check(self.gateway_dir, self.specs, self.attempts, self.clone_victim, self.flashes)
        report.invariants = [{"name": i.name, "ok": i.ok, "detail": i.detail} for i in invariants]


def as_json(report: Report) -> str:
    fields = dict(report.__dict__)
    fields["ok"] = report.ok
    return json.dumps(fields, sort_keys=True)
