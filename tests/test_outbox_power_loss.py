"""The board's outbox and sequence numbers on the real MicroPython interpreter,
with the power cut after every single flash write step in turn: after each
reboot nothing signed is lost or duplicated and no sequence number is reused."""

from __future__ import annotations

import os
import subprocess

import pytest

from paymote.crypto import cbor, cose, messages
from tests.conftest import MPY_SCRIPTS, REPO, micropython_binary

pytestmark = pytest.mark.micropython
TARGET = 5
POWER_CUT_EXIT = 99


def _run(root, cut) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            micropython_binary(),
            "-X",
            "heapsize=1M",
            str(MPY_SCRIPTS / "outbox_power.py"),
            str(root),
            str(cut),
            str(TARGET),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, MICROPYPATH=f"{REPO}:.frozen"),
        cwd=REPO,
    )


def _check_gateway_log(root):
    """One message per sequence number, a linear chain from genesis, TARGET of them."""
    lines = [bytes.fromhex(line) for line in (root / "gateway.log").read_text().split()]
    by_seq: dict[int, set[bytes]] = {}
    for message in lines:
        payload = cbor.decode(cose.parse_sign1(message).payload)
        by_seq.setdefault(payload[1], set()).add(message)
    assert all(len(versions) == 1 for versions in by_seq.values()), "a sequence number was reused"
    chain = [next(iter(by_seq[seq])) for seq in sorted(by_seq)]
    assert len(chain) == TARGET
    prev = messages.GENESIS_HASH
    for message in chain:
        assert cbor.decode(cose.parse_sign1(message).payload)[3] == prev, "the chain forked or lost a link"
        prev = messages.chain_hash(message)
    return sorted(by_seq)


def test_no_power_cut_baseline(tmp_path):
    """Without cuts: TARGET intents, in order, at a known number of flash writes per intent."""
    done = _run(tmp_path, "none")
    assert done.returncode == 0, done.stderr
    _, writes, signed = done.stdout.split()
    assert int(signed) == TARGET
    seqs = _check_gateway_log(tmp_path)
    assert seqs == list(range(1, TARGET + 1))
    # per intent: the record (tmp write + rename), the receipt (tmp write + rename), the move
    # to sent/last; plus one reservation (write + rename) per 16 intents.
    assert int(writes) == 5 * TARGET + 2


def test_power_cut_after_every_write_step(tmp_path):
    """Cut after step 1, 2, 3, ... of the workload, reboot, finish: every time the gateway has
    one version of each sequence number, a linear chain, and all TARGET intents."""
    cut = 1
    while True:
        root = tmp_path / f"cut-{cut}"
        root.mkdir()
        first = _run(root, cut)
        if first.returncode == 0:
            break  # the workload finished before the cut: every step has been cut once
        assert first.returncode == POWER_CUT_EXIT, f"cut {cut}: {first.stderr}"
        second = _run(root, "none")
        assert second.returncode == 0, f"cut {cut}: {second.stderr}"
        _check_gateway_log(root)  # one version per number, a linear chain, TARGET intents
        cut += 1
    assert cut > 5 * TARGET, "the workload should have been cut at every one of its steps"
