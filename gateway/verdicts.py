"""Each message's verdict, told once: its CoAP response (responses.py), counted
in paymote_messages_total by resource, code and reason, and logged. Both
request paths (transport.py's aiocoap resources and fastpath.py) answer
through here, so they count and log alike.

The reason is one fixed word: an outcome's kind (outcomes.py) or the name of
the decode or verify error ("NonCanonical", "BadSignature", ...).

A refusal (4.00, 4.01, 4.03, 4.09, 4.13; and a 5.00) is logged at WARNING, one JSON line
with the resource, code, reason and its text, and the peer's IP address;
back-pressure (4.29, 5.03) and acceptances at INFO. At most
REFUSALS_LOGGED_PER_S refusal lines a second per process: a flood of junk
would otherwise spend the gateway's CPU on its own log. What that leaves
out is said in one line ("N refusals not logged") when the next second's
first refusal is logged, and every refusal is counted in the metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeAlias

from aiocoap import Message
from aiocoap.numbers.codes import Code

from paymote.crypto.errors import MessageError, TooLarge
from paymote.gateway import responses
from paymote.gateway.metrics import Metrics
from paymote.gateway.outcomes import Outcome

log = logging.getLogger("paymote.gateway")

Result: TypeAlias = Outcome | MessageError

_BACK_PRESSURE = (Code.TOO_MANY_REQUESTS, Code.SERVICE_UNAVAILABLE)
REFUSALS_LOGGED_PER_S = 50


class LogBudget:
    """At most per_s refusal lines in each second of clock; the count of the
    ones left out, said with the next line allowed."""

    def __init__(self, per_s: int = REFUSALS_LOGGED_PER_S, clock: Callable[[], float] = time.monotonic):
        self.per_s = per_s
        self._clock = clock
        self._second = -1
        self._left = 0
        self.left_out = 0

    def allow(self) -> bool:
        second = int(self._clock())
        if second != self._second:
            self._second, self._left = second, self.per_s
        if self._left:
            self._left -= 1
            return True
        self.left_out += 1
        return False

    def take_left_out(self) -> int:
        left_out, self.left_out = self.left_out, 0
        return left_out


_budget = LogBudget()


def reason(result: Result) -> str:
    """The word result is counted under."""
    return type(result).__name__ if isinstance(result, MessageError) else result.kind


def one(metrics: Metrics, resource: str, result: Result, peer: Any) -> Message:
    """The response to one message, counted and logged."""
    if isinstance(result, MessageError):
        response = responses.for_error(result)
    else:
        response = responses.for_outcome(result)
    _tell(metrics, resource, response, reason(result), peer)
    return response


def batch(metrics: Metrics, results: list[Result], peer: Any) -> Message:
    """The 2.04 answer to a batch; each intent in it counted and logged with
    its own verdict, under resource "batch"."""
    return responses.for_batch([one(metrics, "batch", result, peer) for result in results])


def too_large(metrics: Metrics, resource: str, size_max: int, peer: Any) -> Message:
    """4.13 with Size1, for a body refused before it was read."""
    response = responses.too_large(size_max)
    _tell(metrics, resource, response, TooLarge.__name__, peer)
    return response


def _tell(metrics: Metrics, resource: str, response: Message, word: str, peer: Any) -> None:
    code = response.code
    metrics.messages.labels(resource, code.dotted, word).inc()
    if code.is_successful() or code in _BACK_PRESSURE:
        if log.isEnabledFor(logging.INFO):
            log.info("%s %s %s from %s", resource, code.dotted, word, _host(peer))
        return
    if not _budget.allow():
        return
    left_out = _budget.take_left_out()
    if left_out:
        log.warning("%d refusals not logged (at most %d a second)", left_out, _budget.per_s)
    text = bytes(response.payload).decode("utf-8", "replace")
    host = _host(peer)
    log.warning(
        "%s %s %s from %s: %s",
        resource,
        code.dotted,
        word,
        host,
        text,
        extra={"fields": {"resource": resource, "code": code.dotted, "reason": word, "peer": host}},
    )


def _host(peer: Any) -> str:
    """A peer's address as text, IPv4 in its own notation: peer is the socket
    address (the fast path's) or aiocoap's remote, whose sockaddr it is."""
    address = getattr(peer, "sockaddr", peer)
    host = str(address[0]) if isinstance(address, tuple) else str(address)
    return host.removeprefix("::ffff:")
