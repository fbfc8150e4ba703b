"""CoAP resources (aiocoap): bytes in, pipeline, response out. Paths are one
letter to save bytes on air (docs/protocol.md §9)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import aiocoap
from aiocoap import resource

from paymote.crypto import cbor, cose
from paymote.crypto.errors import MessageError
from paymote.gateway import responses
from paymote.gateway.metrics import Metrics
from paymote.gateway.outcomes import Outcome
from paymote.gateway.pipeline import Pipeline

log = logging.getLogger("paymote.gateway")


class MessageResource(resource.Resource):
    """POST of one signed device message (COSE_Sign1, Content-Format 18)."""

    ct = cose.CONTENT_FORMAT_SIGN1

    def __init__(self, name: str, handle: Callable[[bytes], Awaitable[Outcome]], metrics: Metrics) -> None:
        super().__init__()
        self.rt = f"paymote.{name}"
        self._name = name
        self._handle = handle
        self._metrics = metrics

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        try:
            response = responses.for_outcome(await self._handle(request.payload))
        except MessageError as error:
            response = responses.for_error(error)
        self._metrics.messages.labels(self._name, response.code.dotted).inc()
        log.info("%s %s from %s", self._name, response.code, request.remote.hostinfo)
        return response


class BatchResource(resource.Resource):
    """POST /b: an array of signed intents (Content-Format 60), Block1 (RFC
    7959) where it exceeds a datagram; one verdict per intent."""

    rt = "paymote.batch"
    ct = responses.CONTENT_FORMAT_CBOR

    def __init__(self, pipeline: Pipeline, metrics: Metrics) -> None:
        super().__init__()
        self._pipeline = pipeline
        self._metrics = metrics

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        try:
            response = responses.for_batch(await self._pipeline.intent_batch(request.payload))
        except MessageError as error:
            response = responses.for_error(error)
        self._metrics.messages.labels("batch", response.code.dotted).inc()
        log.info("batch %s from %s", response.code, request.remote.hostinfo)
        return response


class NonceResource(resource.Resource):
    """GET /n: a fresh attestation nonce (single use, expiring)."""

    rt = "paymote.nonce"
    ct = responses.CONTENT_FORMAT_CBOR

    def __init__(self, pipeline: Pipeline) -> None:
        super().__init__()
        self._pipeline = pipeline

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        return responses.nonce(self._pipeline.nonce())


class TimeResource(resource.Resource):
    """GET /t: gateway time in Unix seconds, as CBOR, for boards without NTP."""

    rt = "paymote.time"
    ct = responses.CONTENT_FORMAT_CBOR

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__()
        self._clock = clock

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        return aiocoap.Message(payload=cbor.encode(int(self._clock())), content_format=self.ct)


def tune_exchange_lifetime(seconds: float) -> None:
    """Make aiocoap remember message IDs for `seconds` instead of RFC 7252's
    247 s EXCHANGE_LIFETIME (§4.8.2, with a MAX_LATENCY of 100 s). At thousands
    of requests a second the default caches hundreds of thousands of exchanges;
    the ledger's idempotency makes a later duplicate harmless (2.04, same
    receipt). aiocoap takes the tuning of an incoming message from
    aiocoap.message.TransportTuning, so that is what is replaced."""

    class GatewayTuning(aiocoap.numbers.constants.TransportTuning):
        EXCHANGE_LIFETIME = seconds  # type: ignore[assignment]

    aiocoap.message.TransportTuning = GatewayTuning  # type: ignore[misc]


def site(pipeline: Pipeline, clock: Callable[[], float], metrics: Metrics) -> resource.Site:
    root = resource.Site()
    root.add_resource([".well-known", "core"], resource.WKCResource(root.get_resources_as_linkheader))
    root.add_resource(["i"], MessageResource("intent", pipeline.intent, metrics))
    root.add_resource(["a"], MessageResource("attestation", pipeline.attestation, metrics))
    root.add_resource(["r"], MessageResource("reading-batch", pipeline.reading_batch, metrics))
    root.add_resource(["b"], BatchResource(pipeline, metrics))
    root.add_resource(["n"], NonceResource(pipeline))
    root.add_resource(["t"], TimeResource(clock))
    return root
