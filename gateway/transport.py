"""CoAP resources (aiocoap): bytes in, pipeline, response out. Paths are one
letter to save bytes on air (docs/protocol.md §10)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import aiocoap
from aiocoap import resource

from paymote.crypto import cbor, cose
from paymote.crypto.errors import MessageError
from paymote.gateway import responses
from paymote.gateway.pipeline import Pipeline

CONTENT_FORMAT_CBOR = 60  # application/cbor (RFC 7049 §7.4)
log = logging.getLogger("paymote.gateway")


class IntentResource(resource.Resource):
    """POST /i: one payment intent (COSE_Sign1, Content-Format 18)."""

    rt = "paymote.intent"
    ct = cose.CONTENT_FORMAT_SIGN1

    def __init__(self, pipeline: Pipeline) -> None:
        super().__init__()
        self._pipeline = pipeline

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        try:
            outcome = await self._pipeline.intent(request.payload)
        except MessageError as error:
            response = responses.for_error(error)
        else:
            response = responses.for_outcome(outcome)
        log.info("intent %s from %s", response.code, request.remote.hostinfo)
        return response


class TimeResource(resource.Resource):
    """GET /t: gateway time in Unix seconds, as CBOR, for boards without NTP."""

    rt = "paymote.time"
    ct = CONTENT_FORMAT_CBOR

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__()
        self._clock = clock

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        return aiocoap.Message(payload=cbor.encode(int(self._clock())), content_format=CONTENT_FORMAT_CBOR)


def site(pipeline: Pipeline, clock: Callable[[], float]) -> resource.Site:
    root = resource.Site()
    root.add_resource([".well-known", "core"], resource.WKCResource(root.get_resources_as_linkheader))
    root.add_resource(["i"], IntentResource(pipeline))
    root.add_resource(["t"], TimeResource(clock))
    return root
