"""Gateway configuration: TOML into a small typed object.

[gateway]
bind = "0.0.0.0:5683"           # CoAP over UDP
data = "/var/lib/paymote"       # SQLite ledger and the gateway key
# store = "postgresql://paymote@db/paymote"  # the ledger in PostgreSQL instead (once; DATA remembers it)
metrics = "127.0.0.1:9464"      # Prometheus; omit to disable
workers = 2                     # request processes on the port; one writes the ledger

[limits]
rate_per_device_per_s = 20
burst_per_device = 100
queue_items_max = 4096
batch_items_max = 256
exchange_lifetime_s = 30
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, fields
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class ConfigError(ValueError):
    """A config file the gateway refuses; the message names the key."""


@dataclass(frozen=True)
class Config:
    data: Path
    """Data directory: the SQLite ledger (or store.url, naming the PostgreSQL
    one), and gateway.key unless key_file is set."""
    store: str | None = None
    """The ledger in PostgreSQL instead of SQLite in DATA: a libpq URL, its
    search_path option naming the schema (gateway/store_postgres.py). Given
    once, DATA/store.url remembers it, so every command on DATA finds the
    ledger; a DATA that holds an SQLite ledger or another URL is refused."""
    bind: str = "127.0.0.1:5683"
    """HOST:PORT the CoAP server listens on (UDP)."""
    key_file: Path | None = None
    """The gateway's receipt-signing key; default DATA/gateway.key, made on first run."""
    metrics: str | None = None
    """HOST:PORT for the Prometheus endpoint, or None for none."""
    workers: int = 1
    """Processes that decode and verify requests on the bind port
    (SO_REUSEPORT), each handing verified messages to this process, the single
    ledger writer. 1 serves everything in one process. Measured on a 2-core
    machine (`python bench/gateway_cpu.py --workers N`, 256 in flight): one
    process 2,029 single intents/s, 2 workers 3,171/s, 3 workers 3,204/s: one
    worker per core is enough (docs/performance.md). More than one needs a
    fixed port."""
    rate_per_device_per_s: float = 20.0
    """Sustained messages per second one device may send (4.29 beyond)."""
    burst_per_device: int = 100
    """Messages one device may send at once before the rate applies."""
    queue_items_max: int = 4096
    """Bound of the queue in front of the ledger writer (5.03 beyond)."""
    batch_items_max: int = 256
    """Most messages one group commit takes."""
    gc_threshold0: int = 50000
    """Allocations between young-generation collections (CPython's default is
    700). Measured here at 1,000 intents/s: default thresholds give a p99
    acknowledgement of 65 ms, this one 21 ms (no collector at all: 3 ms, but
    aiocoap's reference cycles then leak). docs/performance.md has the run."""
    exchange_lifetime_s: float = 30.0
    """How long the CoAP layer remembers a message ID to answer duplicates from
    its cache. Covers the boards' retransmissions (RFC 7252 §4.8: 2+4+8+16 s,
    times up to 1.5); a later duplicate reaches the ledger and gets 2.04 with the
    same receipt, so this bounds memory without risking a double count."""

    def __post_init__(self) -> None:
        for name in (
            "rate_per_device_per_s",
            "burst_per_device",
            "queue_items_max",
            "batch_items_max",
            "gc_threshold0",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"limits.{name} must be positive")
        if not 1 <= self.workers <= WORKERS_MAX:
            raise ConfigError(f"gateway.workers must be 1 to {WORKERS_MAX}")
        if self.workers > 1 and self.bind.endswith(":0"):
            raise ConfigError("gateway.workers above 1 needs a fixed port in gateway.bind")
        if self.exchange_lifetime_s < 1:
            raise ConfigError("limits.exchange_lifetime_s must be at least 1")
        for name in ("bind", "metrics"):
            value = getattr(self, name)
            if value is not None and not split_host_port(value):
                raise ConfigError(f"gateway.{name} wants HOST:PORT, not {value!r}")

    def to_json(self) -> str:
        """The whole config as JSON (how a worker process receives it)."""
        return json.dumps({f.name: _plain(getattr(self, f.name)) for f in fields(self)})

    @classmethod
    def from_json(cls, text: str) -> Config:
        values = json.loads(text)
        for name in ("data", "key_file"):
            if values.get(name) is not None:
                values[name] = Path(values[name])
        return cls(**values)


WORKERS_MAX = 64


def _plain(value: object) -> object:
    return str(value) if isinstance(value, Path) else value


def split_host_port(value: str) -> tuple[str, int] | None:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host.strip("[]"), int(port)


def load(path: Path) -> Config:
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: {e}") from None
    section = dict(raw.get("gateway", {}))
    section.update(raw.get("limits", {}))
    known = {f.name for f in fields(Config)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]}")
    if "data" not in section:
        raise ConfigError(f"{path}: gateway.data is required")
    for name in ("data", "key_file"):
        if section.get(name) is not None:
            section[name] = Path(section[name])
    try:
        return Config(**section)
    except TypeError as e:
        raise ConfigError(f"{path}: {e}") from None
