"""simulator/watchdog.py: a virtual board that stops feeding its watchdog is
reset (rebooted from flash) as the hardware's machine.WDT would; one that
feeds is left alone."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket

import pytest

from paymote.simulator import board_main, watchdog
from paymote.simulator.host_hal import HostHal
from paymote.simulator.run import Options, Simulation
from tests.conftest import REPO


def test_the_timeout_is_the_firmwares():
    source = (REPO / "firmware" / "hal.py").read_text()
    timeout_ms = int(re.search(r"WATCHDOG_TIMEOUT_MS = const\((\d+)\)", source).group(1))
    assert watchdog.TIMEOUT_S == timeout_ms / 1000


def test_only_a_running_watchdog_not_fed_for_its_timeout_expires():
    """Times are passed in: the watchdog only compares them."""
    dog = watchdog.Watchdog(timeout_s=8)
    board = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        assert dog.expired(100.0) == []  # nothing has fed: no watchdog runs yet
        board.sendto(b"household-0", dog.address)
        assert dog.expired(100.0) == []
        assert dog.expired(107.9) == []
        board.sendto(b"household-0", dog.address)
        assert dog.expired(108.0) == []  # fed again, at 108
        assert dog.expired(116.5) == ["household-0"]
        board.sendto(b"household-0", dog.address)  # sent before the reset, read after it
        dog.rebooted("household-0", 117.0)
        assert dog.expired(200.0) == []  # off until the rebooted board feeds
    finally:
        board.close()
        dog.close()


def test_a_board_that_feeds_thousands_of_times_a_second_sends_a_few_datagrams(tmp_path):
    """A GPS board feeds each simulated second; its datagrams are paced to
    board_main.TELL_EVERY_MS of its ticks, so it cannot fill the watchdog's
    socket and drown the feeds of the boards beside it."""

    class Ticks:
        now_ms = 0

        def ticks_ms(self):
            return self.now_ms

    ticks = Ticks()
    hal = HostHal(str(tmp_path), ticks)
    dog = watchdog.Watchdog()
    try:
        board_main._tell_the_watchdog(hal, *dog.address, "van-0002")
        for _ in range(10_000):  # 10 s of ticks, a feed each millisecond
            hal.feed_watchdog()
            ticks.now_ms += 1
        received = 0
        with contextlib.suppress(BlockingIOError):
            while dog._sock.recv(64):  # noqa: SLF001 - counting what arrived is the point
                received += 1
    finally:
        dog.close()
    assert hal.watchdog_feeds == 10_000
    assert received == 10_000 // board_main.TELL_EVERY_MS


@pytest.mark.micropython
def test_a_hung_board_is_reset_and_carries_on(tmp_path, monkeypatch):
    """A board process frozen mid-run (SIGSTOP: the firmware stuck, whatever
    in) is rebooted by its watchdog; every invariant still holds afterwards."""
    monkeypatch.setattr(watchdog, "TIMEOUT_S", 3.0)  # a board feeds at least every 2 s
    sim = Simulation(Options(boards=2, duration_s=16, adversaries=False, seed=3, data=tmp_path / "run"))

    async def go():
        await sim.setup(log=lambda message: None)
        run = asyncio.create_task(sim.run())
        await asyncio.sleep(5)  # both boards booted and fed
        frozen = sim.runners[0]
        os.kill(frozen.pid, signal.SIGSTOP)
        return frozen.spec.name, await run

    frozen, report = asyncio.run(go())
    sim.check(report)
    assert report.watchdog_resets == [frozen]  # once, and not the board that kept feeding
    assert not report.crashed_boards, report.crashed_boards
    assert all(i["ok"] for i in report.invariants), report.invariants
