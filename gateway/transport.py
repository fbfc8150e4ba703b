"""CoAP resources (aiocoap): bytes in, pipeline, response out. Paths are one
letter to save bytes on air (docs/protocol.md §9)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiocoap
from aiocoap import resource

from paymote.crypto import cbor, cose, messages
from paymote.crypto.errors import MessageError
from paymote.gateway import responses, verdicts
from paymote.gateway.metrics import Metrics
from paymote.gateway.outcomes import Busy, Outcome
from paymote.gateway.pipeline import BATCH_BYTES_MAX, Pipeline


def _upload_within(request: aiocoap.Message, size_max: int) -> bool:
    """Block1 (RFC 7959 §2.3): does this block start inside size_max, and does
    the announced Size1 fit? Asked for every block before aiocoap buffers it,
    so no upload grows past size_max plus one block; the decoder then checks
    the assembled size exactly."""
    block1 = request.opt.block1
    if block1 is None:
        return True
    start = block1.block_number * (1 << (block1.size_exponent + 4))
    size1 = request.opt.size1
    return start < size_max and (size1 is None or size1 <= size_max)


class MessageResource(resource.Resource):
    """POST of one signed device message (COSE_Sign1, Content-Format 18). Every
    message kind fits one datagram, so a block-wise upload is refused at its
    first block (4.13 with Size1) instead of being buffered by aiocoap."""

    ct = cose.CONTENT_FORMAT_SIGN1

    def __init__(
        self, name: str, handle: Callable[[bytes], Awaitable[Outcome]], size_max: int, metrics: Metrics
    ) -> None:
        super().__init__()
        self.rt = f"paymote.{name}"
        self._name = name
        self._handle = handle
        self._size_max = size_max
        self._metrics = metrics

    async def needs_blockwise_assembly(self, request: aiocoap.Message) -> bool:
        return request.opt.block1 is None

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        peer = request.remote
        if request.opt.block1 is not None:
            return verdicts.too_large(self._metrics, self._name, self._size_max, peer)
        try:
            result: verdicts.Result = await self._handle(request.payload)
        except MessageError as error:
            result = error
        return verdicts.one(self._metrics, self._name, result, peer)


class BatchResource(resource.Resource):
    """POST /b: an array of signed intents (Content-Format 60), Block1 (RFC
    7959) where it exceeds a datagram; one verdict per intent. aiocoap
    assembles the blocks only while they stay within the batch limit; the first
    block past it is refused unassembled (4.13 with Size1)."""

    rt = "paymote.batch"
    ct = responses.CONTENT_FORMAT_CBOR

    def __init__(self, pipeline: Pipeline, metrics: Metrics) -> None:
        super().__init__()
        self._pipeline = pipeline
        self._metrics = metrics

    async def needs_blockwise_assembly(self, request: aiocoap.Message) -> bool:
        return _upload_within(request, BATCH_BYTES_MAX)

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        peer = request.remote
        if not _upload_within(request, BATCH_BYTES_MAX):
            return verdicts.too_large(self._metrics, "batch", BATCH_BYTES_MAX, peer)
        try:
            results = await self._pipeline.intent_batch(request.payload)
        except MessageError as error:  # the batch as a whole: counted once
            return verdicts.one(self._metrics, "batch", error, peer)
        return verdicts.batch(self._metrics, results, peer)


class NonceResource(resource.Resource):
    """GET /n: a fresh attestation nonce (single use, expiring)."""

    rt = "paymote.nonce"
    ct = responses.CONTENT_FORMAT_CBOR

    def __init__(self, pipeline: Pipeline) -> None:
        super().__init__()
        self._pipeline = pipeline

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        nonce = await self._pipeline.nonce()
        return responses.for_outcome(nonce) if isinstance(nonce, Busy) else responses.nonce(nonce)


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
    root.add_resource(["i"], MessageResource("intent", pipeline.intent, messages.INTENT_BYTES_MAX, metrics))
    root.add_resource(
        ["a"], MessageResource("attestation", pipeline.attestation, messages.ATTESTATION_BYTES_MAX, metrics)
    )
    root.add_resource(
        ["r"],
        MessageResource("reading-batch", pipeline.reading_batch, messages.READING_BATCH_BYTES_MAX, metrics),
    )
    root.add_resource(["b"], BatchResource(pipeline, metrics))
    root.add_resource(["n"], NonceResource(pipeline))
    root.add_resource(["t"], TimeResource(clock))
    return root
