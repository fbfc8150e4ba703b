# Mounts the ROMFS image romfs.img (`paymote firmware build --romfs`) at /rom
# and puts /rom/lib first on sys.path, as a board's MicroPython does with its
# ROM partition at start-up, so every module found there is imported in place.
#
# The unix port has no ROM partition (no vfs.rom_ioctl), so the image is read
# into the heap first, at its bottom, where it stays: heap figures taken with
# it add what it takes (micropython_host.heap_bytes_holding). This text is put
# at the top of the module a run starts with, not imported: a module of its
# own, and named variables, would intern names a board's own mount does not
# (tests/test_agent.py, qstr pools), and the firmware sits near a pool's end.
# Comments, not a docstring, for the same reason.
import sys

import vfs

vfs.mount(vfs.VfsRom(open("romfs.img", "rb").read()), "/rom")
sys.path.insert(0, "/rom/lib")
