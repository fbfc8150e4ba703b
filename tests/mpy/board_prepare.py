"""A built board's boot up to its loop: firmware.board.prepare() from the
build's lib/, against fakes of machine, network and ntptime, then the unload
main.py does. Run with the flash folder as the working directory; arguments:
the fakes' folder, then "offline" for a Wi-Fi network that does not answer."""

import gc
import sys

sys.path.insert(0, sys.argv[1])

import network  # noqa: E402

import firmware.board  # noqa: E402

if sys.argv[2:] == ["offline"]:
    network.polls_to_connect = None  # the router is not back yet

hal = firmware.board.prepare()
del firmware.board, sys.modules["firmware.board"]
gc.collect()
print(
    type(hal).__name__,
    "synced",
    hal.time_synced,
    "joined",
    network.joined,
    "unloaded",
    "firmware.board" not in sys.modules,
)
print("free", gc.mem_free())
