"""SenML records of a reading batch, resolved (RFC 8428 §4.5: base name and
base time) and checked: every resolved name must use §4.5.1's characters."""

from __future__ import annotations

from paymote.crypto import messages
from paymote.crypto.errors import FieldError

_RELATIVE_TIME_S = 2**28  # RFC 8428 §4.5.3: smaller times are relative
_NAME_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_NAME_REST = _NAME_FIRST | frozenset("-:./_")


def samples(batch: messages.ReadingBatch) -> list[tuple[str, str | None, float, float]]:
    """(name, unit, value, time) per record, resolving SenML base name and base
    time (RFC 8428 §4.5); relative times count from the batch's own time."""
    out = []
    base_name, base_time = "", 0.0
    for record in batch.records:
        base_name = record.get(messages.SENML_BASE_NAME, base_name)
        base_time = float(record.get(messages.SENML_BASE_TIME, base_time))
        time_s = base_time + float(record.get(messages.SENML_TIME, 0))
        if time_s < _RELATIVE_TIME_S:
            time_s += batch.time_s
        name = base_name + record.get(messages.SENML_NAME, "")
        out.append((name, record.get(messages.SENML_UNIT), float(record[messages.SENML_VALUE]), time_s))
    return out


def check_names(batch: messages.ReadingBatch) -> None:
    """Raise FieldError for a record whose resolved name is empty or leaves
    RFC 8428 §4.5.1's set (A-Z a-z 0-9 - : . / _, starting with a letter or digit)."""
    for name, _, _, _ in samples(batch):
        if not name or name[0] not in _NAME_FIRST or not _NAME_REST.issuperset(name):
            raise FieldError("record name", f"{name!r} is not a SenML name (RFC 8428 §4.5.1)")
