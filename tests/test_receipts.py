"""gateway/receipts.py: the receipt payload by byte position is
crypto.inbound.receipt_payload's, for every value either accepts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paymote.crypto import inbound
from paymote.crypto.errors import MessageError
from paymote.gateway import authenticate, keys, receipts

_EDGES = [0, 1, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1, -1]
_TIME_EDGES = [1577836799, 1577836800, 1577836801, 1764000000, 2**32 - 1, 2**32, 2**40]
_INTS = st.one_of(st.sampled_from(_EDGES), st.integers(min_value=-10, max_value=2**66))


def _reference(*fields):
    """inbound.receipt_payload's bytes, or the type of error it raises."""
    device_id, seq, entry_hash, time_s, kind = fields
    try:
        return inbound.receipt_payload(
            device_id=device_id, seq=seq, entry_hash=entry_hash, time_s=time_s, kind=kind
        )
    except (MessageError, ValueError, TypeError) as error:
        return type(error)


def _positional(*fields):
    try:
        return receipts.payload(*fields)
    except (MessageError, ValueError, TypeError) as error:
        return type(error)


@settings(max_examples=600, deadline=None)
@given(
    st.one_of(st.binary(min_size=8, max_size=8), st.binary(max_size=12)),
    _INTS,
    st.one_of(st.binary(min_size=32, max_size=32), st.binary(max_size=40)),
    st.one_of(st.sampled_from(_TIME_EDGES), _INTS),
    st.one_of(st.sampled_from([1, 2, 3]), _INTS),
)
def test_the_positional_payload_is_the_reference_encoders(device_id, seq, entry_hash, time_s, kind):
    assert _positional(device_id, seq, entry_hash, time_s, kind) == _reference(
        device_id, seq, entry_hash, time_s, kind
    )


@pytest.mark.parametrize("time_s", _TIME_EDGES)
@pytest.mark.parametrize("seq", _EDGES)
def test_every_head_size_at_its_boundary(seq, time_s):
    fields = (bytes(range(8)), seq, bytes(32), time_s, inbound.KIND_INTENT)
    assert _positional(*fields) == _reference(*fields)


def test_an_issued_receipt_opens_with_the_gateway_key_and_names_its_entry():
    key = keys.GatewayKey(bytes(range(32)))
    receipt = receipts.issue(key, b"\x07" * 8, 300, b"\x11" * 32, 1764000000, inbound.KIND_READING_BATCH)
    _, opened = inbound.open_receipt(receipt, {key.kid: authenticate.Ed25519Key(key.public)})
    assert (opened.device_id, opened.seq, opened.entry_hash, opened.time_s, opened.kind) == (
        b"\x07" * 8,
        300,
        b"\x11" * 32,
        1764000000,
        inbound.KIND_READING_BATCH,
    )
