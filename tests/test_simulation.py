"""The simulator end to end: every scenario on the real MicroPython firmware,
through a lossy, duplicating link, with a gateway crash and power cuts; every
invariant holds, every adversary gets its answer, and the checker catches a
ledger that lost an entry."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3

import pytest

from paymote.gateway.store import DB_NAME
from paymote.simulator import check, proxy
from paymote.simulator.run import Options, Report, Simulation


def _simulate(options: Options) -> tuple[Simulation, Report]:
    """Set up, run and check one simulation."""
    sim = Simulation(options)

    async def go() -> Report:
        await sim.setup(log=lambda message: None)
        return await sim.run()

    report = asyncio.run(go())
    sim.check(report)
    return sim, report


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    options = Options(
        boards=4,
        duration_s=30,  # the van starts its route at 8:00, 20 s in; its last stop is near 24 s
        faults=proxy.Faults(loss=0.1, dup=0.05),
        kill_gateway_every_s=12,
        power_cut_every_s=8,
        seed=11,
        data=tmp_path_factory.mktemp("sim") / "run",
    )
    return _simulate(options)


def test_every_invariant_holds_under_faults(simulated):
    """Loss 10 %, duplication 5 %, gateway SIGKILLs and power cuts: nothing lost, nothing twice."""
    sim, report = simulated
    failed = [i for i in report.invariants if not i["ok"]]
    assert not failed, f"seed={report.seed}: {failed}"
    assert not report.crashed_boards, report.crashed_boards
    assert not report.watchdog_resets, report.watchdog_resets  # no firmware hung
    assert report.gateway_kills >= 1 and report.power_cuts >= 2, (report.gateway_kills, report.power_cuts)
    assert report.faults.get("lost", 0) > 0 and report.retransmissions > 0, report.faults
    assert report.acknowledged > 0 and report.ledger_entries >= report.acknowledged - report.queued
    # Energy, deliveries and distance were all billed, except where a power cut took
    # the board's unsigned count (kept in RAM until signed: data lost, never billed twice).
    payees = {b["account"] for b in report.balances if b["balance_minor"] > 0}
    for payee, scenario in (("utility", "household"), ("merchant", "van"), ("insurer", "car")):
        cut = any(name.startswith(scenario) for name in report.power_cut_boards)
        assert payee in payees or cut, f"seed={report.seed}: {report.balances}, cut {report.power_cut_boards}"


def test_every_adversary_gets_its_answer(simulated):
    """Replay 2.04, tampered 4.01, clone 4.09, unregistered 4.01, revoked and over-limit 4.03."""
    _, report = simulated
    got = {a["name"]: a["got"] for a in report.adversaries}
    assert got == {
        "replay": "2.04",
        "tampered": "4.01",
        "clone": "4.09",
        "unregistered": "4.01",
        "revoked": "4.03",
        "over-limit": "4.03",
    }


def test_the_checker_catches_a_lost_entry(simulated, tmp_path):
    """Delete from a copy of the ledger one entry a board holds a receipt for:
    receipted-once and ledger-verify fail, naming it."""
    sim, _ = simulated
    copy = tmp_path / "gateway"
    shutil.copytree(sim.gateway_dir, copy)
    flash = next(f for f in map(check.read_flash, (s.flash for s in sim.specs)) if f.receipts)
    seq = max(flash.receipts)
    db = sqlite3.connect(copy / DB_NAME)
    deleted = db.execute(
        "DELETE FROM entries WHERE device_id = ? AND seq = ?", (flash.device_id, seq)
    ).rowcount
    db.commit()
    db.close()
    assert deleted == 1
    results = {i.name: i for i in check.check(copy, sim.specs, sim.attempts, sim.clone_victim)}
    assert not results["receipted-once"].ok and f"seq {seq}" in results["receipted-once"].detail
    assert not results["ledger-verify"].ok


def test_faults_come_from_the_seed():
    """Two links with the same seed make the same decisions for the same datagrams."""

    async def decisions(seed: int) -> list[str]:
        link = proxy.FaultyLink(("127.0.0.1", 9), proxy.Faults(loss=0.3, dup=0.2, corrupt=0.1), seed)
        sent: list[bytes] = []
        for i in range(200):
            link._inject(0, bytes([0x40, 2, 0, i]), sent.append)
        return [d.hex() for d in sent] + [str(dict(link.stats.faults))]

    assert asyncio.run(decisions(5)) == asyncio.run(decisions(5))
    assert asyncio.run(decisions(5)) != asyncio.run(decisions(6))


def test_the_cpython_engine_keeps_the_invariants_through_power_cuts(tmp_path):
    """The same firmware as threads of one fleet process: power cuts stop boards while
    they sleep and boot them again from flash; nothing lost, nothing twice."""
    options = Options(
        boards=8,
        duration_s=12,
        faults=proxy.Faults(loss=0.05),
        power_cut_every_s=2,
        seed=12,
        data=tmp_path / "run",
        engine="cpython",
        adversaries=False,
        serial=False,
    )
    _, report = _simulate(options)
    assert [i for i in report.invariants if not i["ok"]] == [], f"seed={report.seed}"
    assert not report.crashed_boards and report.power_cuts >= 3 and report.acknowledged > 0


def test_the_check_knows_receipts_the_outbox_retired():
    """Below the newest receipt minus outbox.RECEIPTS_KEPT the flash holds no
    receipts by design: not a gap, and ledger entries there are acknowledged."""
    from paymote.firmware.outbox import RECEIPTS_KEPT
    from paymote.simulator.check import BoardFlash, _gaps_ok

    newest = RECEIPTS_KEPT + 40
    flash = BoardFlash(b"d" * 8, {seq: b"r" for seq in range(41, newest + 1)}, {}, {})
    assert flash.retired_to == 40
    assert _gaps_ok(flash.used, flash.retired_to) is None
    assert _gaps_ok(flash.used) is not None  # without retention, 1..40 would be a gap mid-block
