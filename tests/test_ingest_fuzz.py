"""Random and mutated messages against the running gateway: only 4.xx (or a real
accept), never 5.xx or a crash, and nothing written for what was refused."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paymote.gateway.store import Store
from tests.gateway_helpers import Device, running_gateway
from tests.mutations import mutate


def _mutations(data, template: bytes, count: int) -> list[bytes]:
    return [mutate(data, template, steps_max=4) for _ in range(count)] + [data.draw(st.binary(max_size=300))]


async def _send_all(data_dir: Path, messages_: list[bytes]) -> list[int]:
    async with running_gateway(data_dir) as gateway:
        return [int((await gateway.post("i", m)).code) for m in messages_]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzzed_intents_get_only_client_errors(data):
    """Every answer is 2.01/2.04 or a 4.xx; the ledger holds exactly the 2.01s."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        device = Device(200)
        device.register(data_dir)
        template = device.intent(amount_minor=7)
        codes = asyncio.run(_send_all(data_dir, _mutations(data, template, 24)))
        store = Store(data_dir)
        entries = list(store.entries())
        store.close()
    created, changed = 65, 68  # 2.01, 2.04
    assert all(code in (created, changed) or 128 <= code < 160 for code in codes), codes
    assert len(entries) == codes.count(created)
