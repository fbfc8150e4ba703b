"""Runs SHA-512's compression function under micropython.heap_lock(): any
allocation raises MemoryError. Prints the digest state so the test can check
the work was really done."""

import struct

import micropython

from crypto import sha512

state = bytearray(sha512._IV)
block = bytearray(128)
block[0] = 0x80  # the padded empty message
w = sha512._W
k = sha512._K
mask = sha512._MASK32
micropython.heap_lock()
try:
    sha512._compress(state, block, w, k, mask)
finally:
    micropython.heap_unlock()
# The state holds native-endian 32-bit halves, high half first.
print(struct.pack(">2I", *struct.unpack("<2I", state[:8])).hex())
