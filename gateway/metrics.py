"""Prometheus metrics, one registry per gateway (tests run several at once).

With several worker processes (Config.workers > 1) the request metrics
(messages by outcome, verify latency) live in the workers; each sends a
snapshot over its writer link every second, and the writer's endpoint serves
their sum (WorkerFamilies) beside its own ledger metrics.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import Metric

_LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


_PAUSE_BUCKETS_S = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)

Family = tuple[str, str, str, list[tuple[str, dict[str, str], float]]]
"""(name, help, type, samples): a metric family as plain data, to send."""


class WorkerFamilies:
    """A collector: the latest request metrics of every worker, summed."""

    def __init__(self) -> None:
        self._latest: dict[int, list[Family]] = {}

    def update(self, worker: int, families: list[Family]) -> None:
        self._latest[worker] = families

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, tuple[Metric, dict[tuple, float]]] = {}
        for families in list(self._latest.values()):
            for name, documentation, kind, samples in families:
                metric, sums = merged.setdefault(name, (Metric(name, documentation, kind), {}))
                for sample_name, labels, value in samples:
                    key = (sample_name, tuple(sorted(labels.items())))
                    sums[key] = sums.get(key, 0.0) + value
        for metric, sums in merged.values():
            for (sample_name, labels), value in sums.items():
                metric.add_sample(sample_name, dict(labels), value)
            yield metric


class Metrics:
    def __init__(self, requests: bool = True) -> None:
        """requests=False: a writer whose workers count the requests (their
        sums arrive through self.workers)."""
        self.registry = CollectorRegistry()
        self.workers = WorkerFamilies()
        if not requests:
            self.registry.register(self.workers)  # type: ignore[arg-type]
        own = self.registry if requests else None  # counted here, or summed from the workers
        self.messages = Counter(
            "paymote_messages",
            "Device messages by resource, CoAP response code and reason (gateway/verdicts.py)",
            ["resource", "code", "reason"],
            registry=own,
        )
        self.verify_seconds = Histogram(
            "paymote_verify_seconds",
            "Decode and signature check per message",
            buckets=_LATENCY_BUCKETS_S,
            registry=own,
        )
        self.pause_seconds = Histogram(
            "paymote_pause_seconds",
            "Stalls of a gateway process: garbage collections, and event-loop lag past a 10 ms tick",
            ["process", "cause"],
            buckets=_PAUSE_BUCKETS_S,
            registry=own,
        )
        self.commit_seconds = Histogram(
            "paymote_commit_seconds",
            "One group commit, fsync included",
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.commit_batch_items = Histogram(
            "paymote_commit_batch_items",
            "Messages per group commit",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "paymote_queue_depth", "Messages waiting for the ledger", registry=self.registry
        )
        self.ledger_entries = Gauge("paymote_ledger_entries", "Entries in the ledger", registry=self.registry)

    def request_families(self) -> list[Family]:
        """This process's request metrics and pauses as plain data (a worker
        sends them; a writer with workers adds its own pauses to their sum)."""
        return [
            (
                family.name,
                family.documentation,
                family.type,
                [
                    (s.name, dict(s.labels), s.value)
                    for s in family.samples
                    if not s.name.endswith("_created")
                ],
            )
            for metric in (self.messages, self.verify_seconds, self.pause_seconds)
            for family in metric.collect()
        ]

    def serve(self, host: str, port: int):
        """Start the /metrics HTTP endpoint; returns the server (shutdown() stops it)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server
