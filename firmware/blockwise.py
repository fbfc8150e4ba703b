"""Block-wise transfer (RFC 7959) for a batch upload larger than one datagram,
over the CoAP client (firmware/coap.py): the body goes up in Block1 blocks
(§2.5), each a confirmable request answered 2.31 Continue until the last,
whose answer is the response; a response larger than one datagram comes
down in Block2 blocks (§2.4), each asked for by the request again with the
block's number, the same options (§2.4: Content-Format too, which the
gateway's answer cache is keyed on) and no payload (§3.2).

Lock-step, as §2.5 requires of CON requests: one block per exchange each
way. So a block-wise batch takes more exchanges than batches that each fit
one datagram, whose request and answer share one exchange (measured:
bench/catch_up.py, docs/performance.md); the agent uses it only for a batch
configured larger than a datagram. Loaded only then, so a board that never
sends one spends no heap on it.
"""

try:  # CPython, installed: one copy of each module
    from paymote.crypto._compat import const
    from paymote.firmware import coap
except ImportError:  # on a board
    from crypto._compat import const
    from firmware import coap

_OPTION_BLOCK2 = const(23)
_OPTION_BLOCK1 = const(27)
_OPTION_SIZE1 = const(60)
_SZX = const(6)  # 1,024-byte blocks: RFC 7252 §4.6's payload bound, and aiocoap's own
_CONTINUE = const(95)  # 2.31 (§2.9.1)


def _block_option(num, more, szx):
    """A Block1/Block2 value (§2.2): NUM, the M bit and SZX, as a uint option."""
    return coap.uint_option((num << 4) | (more << 3) | szx)


def _block(response, number):
    """(NUM, M, SZX) of the response's Block option numbered number, or None."""
    value = coap.option(response.options, number)
    if value is None:
        return None
    value = int.from_bytes(value, "big")
    return value >> 4, (value >> 3) & 1, value & 7


def post(client, path, body, content_format, body_bytes_max):
    """POST body to path, block-wise where it exceeds one block, and return
    the whole Response (its payload reassembled, at most body_bytes_max).
    An answer other than 2.31 to a block before the last (4.13 with Size1,
    4.08, 5.03) ends the upload and is the Response. Raises NoAnswerError
    as client.request does, and for an answer whose blocks do not follow on
    or grow past body_bytes_max: the agent keeps the batch queued and sends
    it again, and the gateway answers what it committed 2.04, same receipt."""
    szx = _SZX
    start = 0
    while True:
        size = 1 << (szx + 4)
        more = 1 if start + size < len(body) else 0
        options = [(_OPTION_BLOCK1, _block_option(start // size, more, szx))] if more or start else []
        if start == 0 and more:
            options.append((_OPTION_SIZE1, coap.uint_option(len(body))))  # §4: the whole size
        response = client.request(
            coap.POST, path, body[start : start + size], content_format, coap.MESSAGE_BYTES_MAX, options
        )
        if not more:
            break
        if response.code != _CONTINUE:
            return response
        block1 = _block(response, _OPTION_BLOCK1)
        if block1 is not None and block1[2] < szx:
            szx = block1[2]  # §2.3: the gateway prefers smaller blocks; its number counts in them
        start += size
    return _rest(client, path, response, content_format, body_bytes_max)


def _rest(client, path, response, content_format, body_bytes_max):
    """The response with every Block2 block after its first (§2.4)."""
    block2 = _block(response, _OPTION_BLOCK2)
    if block2 is None or not block2[1]:
        return response
    body = bytearray(response.payload)
    num, more, szx = block2
    while more:
        num += 1
        response = client.request(
            coap.POST,
            path,
            b"",
            content_format,
            coap.MESSAGE_BYTES_MAX,
            [(_OPTION_BLOCK2, _block_option(num, 0, szx))],
        )
        block2 = _block(response, _OPTION_BLOCK2)
        if response.code >> 5 != 2 or block2 is None or block2[0] != num or block2[2] != szx:
            raise coap.NoAnswerError("block %d of the answer did not follow" % num)
        more = block2[1]
        body.extend(response.payload)
        if len(body) > body_bytes_max:
            raise coap.NoAnswerError("answer over %d bytes" % body_bytes_max)
    response.payload = bytes(body)
    return response
