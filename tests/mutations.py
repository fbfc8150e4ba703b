"""Hypothesis-driven damage to valid messages, shared by the fuzz tests."""

from __future__ import annotations

from hypothesis import strategies as st

# Bytes that mean something structural in CBOR: zero, 1-byte head, indefinite
# byte string / array / map, undefined, double float, break.
_STRUCTURAL = [0x00, 0x18, 0x5F, 0x9F, 0xBF, 0xF7, 0xFB, 0xFF]


def mutate(data: st.DataObject, message: bytes, steps_max: int = 3) -> bytes:
    """message with 1..steps_max flips, insertions, deletions, truncations or
    structural bytes, drawn from hypothesis so that failures shrink and replay."""
    damaged = bytearray(message)
    for _ in range(data.draw(st.integers(1, steps_max))):
        if not damaged:
            break
        i = data.draw(st.integers(0, len(damaged) - 1))
        action = data.draw(st.sampled_from(["flip", "insert", "drop", "truncate", "structural"]))
        if action == "flip":
            damaged[i] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "insert":
            damaged.insert(i, data.draw(st.integers(0, 255)))
        elif action == "drop":
            del damaged[i]
        elif action == "truncate":
            del damaged[i:]
        else:
            damaged[i] = data.draw(st.sampled_from(_STRUCTURAL))
    return bytes(damaged)
