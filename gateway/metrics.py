"""Prometheus metrics, one registry per gateway (tests run several at once)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "paymote_messages",
            "Device messages by resource and CoAP response code",
            ["resource", "code"],
            registry=self.registry,
        )
        self.verify_seconds = Histogram(
            "paymote_verify_seconds",
            "Decode and signature check per message",
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
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

    def serve(self, host: str, port: int):
        """Start the /metrics HTTP endpoint; returns the server (shutdown() stops it)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server
