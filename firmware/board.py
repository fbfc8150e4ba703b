"""A real board's start: main.py at the root of the filesystem (written by
`paymote firmware build`) calls prepare(), which imports the firmware one
module at a time with a collection in between (import_staged), joins the
network if it can and sets the clock; then main.py unloads this module (1.4 KB of a
96 KB heap, measured) and runs firmware.main with the board's HAL.

The simulator's boot (simulator/board_main.py) and the tests' harness use
import_staged the same way, so a board and its emulation load alike.
"""

import gc
import json

# The modules every board loads, in an order that leaves each one's bytecode
# low in the heap: importing the whole tree at once fragments a 96 KB heap
# past use (docs/performance.md).
STAGED = (
    "crypto.cbor",
    "crypto.ed25519",
    "crypto.cose",
    "crypto.messages",
    "firmware.coap",
    "firmware.storage",
    "firmware.outbox",
    "firmware.agent",
    "firmware.main",
)


def import_staged(extra=()):
    """Import STAGED and then extra, collecting after each."""
    for name in STAGED + tuple(extra):
        __import__(name)
        gc.collect()


def prepare():
    """Everything before the firmware's loop; returns the board's HAL."""
    import_staged(("firmware.hal",))
    from firmware import hal as board_hal

    with open("board.json") as f:
        board = json.loads(f.read())
    with open("config.json") as f:
        config = json.loads(f.read())
    hal = board_hal.BoardHal(board, config)
    board = config = None  # main reads them again; a board's heap is small
    gc.collect()
    if hal.connect():  # a board that boots offline still meters: it signs and keeps
        hal.sync_time()
    return hal
