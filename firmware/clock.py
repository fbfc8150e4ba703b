"""The clock from the gateway's GET /t, for a board whose NTP did not answer.
Loaded only on such a board (Agent.period), so the others do not pay its heap."""

try:  # CPython, installed: one copy of each module
    from paymote.crypto import cbor
    from paymote.crypto._compat import const
    from paymote.firmware import coap
except ImportError:  # on a board
    from crypto import cbor
    from crypto._compat import const
    from firmware import coap

_TIME_BYTES_MAX = const(9)  # a CBOR uint of up to 64 bits


def from_gateway(client, hal, floor_s):
    """Set the HAL's RTC from GET /t and return the correction in seconds,
    or None (offline, a bad answer, or a time before floor_s: the last
    signed intent's, which a board never stamps below)."""
    try:
        answer = client.request(coap.GET, "t")
    except coap.NoAnswerError:
        return None
    if answer.code != coap.code(2, 5):
        return None
    try:
        unix_s = cbor.decode(answer.payload, size_max=_TIME_BYTES_MAX)
    except ValueError:  # crypto.errors.DecodeError
        return None
    if not isinstance(unix_s, int) or unix_s < floor_s:
        return None
    correction_s = unix_s - hal.time_s()
    hal.set_time_s(unix_s)
    return correction_s
