"""Every difference between MicroPython and CPython, in one place.

Nothing else in ``crypto/`` may test which interpreter it runs on.
"""

import sys

MICROPYTHON = sys.implementation.name == "micropython"

if MICROPYTHON:
    # The compiler recognises the decorators @micropython.native and
    # @micropython.viper by name, so modules write them literally.
    import micropython
    from micropython import const
else:

    def const(value):
        return value

    class micropython:  # noqa: N801  (stands in for the module's decorators)
        @staticmethod
        def native(fn):
            return fn

        @staticmethod
        def viper(fn):
            return fn

    # Viper's pointer casts, as CPython views of the same buffer: 32-bit
    # native-endian words (what ptr32 is on every MicroPython port).
    def ptr32(buf):
        return memoryview(buf).cast("I")

    def ptr8(buf):
        return memoryview(buf).cast("B")

    def uint(value):
        return value & 0xFFFFFFFF


if MICROPYTHON:
    # After a burst of short-lived objects (signing makes ~900 KB of them), a
    # collection lets the next long-lived ones go low in the heap instead of
    # between the gaps, so later buffers still find contiguous room.
    from gc import collect as collect_after_burst
else:

    def collect_after_burst():
        pass  # CPython's own collector does better; a fleet of thousands must not pay a full pass each


def heap_bytes():
    """The size of MicroPython's heap, free and in use; None on CPython, whose
    heap has no fixed size."""
    if not MICROPYTHON:
        return None
    import gc

    return gc.mem_free() + gc.mem_alloc()


try:
    from os import urandom
except ImportError:  # a MicroPython port built without os.urandom
    urandom = None


def random_bytes(n):
    """n bytes from the OS's cryptographic source. Raises if there is none:
    keys and nonces must never come from ``random``."""
    if urandom is None:
        raise OSError("no os.urandom on this port: refusing to make keys")
    return urandom(n)


import hashlib  # noqa: E402

sha256 = hashlib.sha256

try:
    _sha512 = hashlib.sha512
except AttributeError:  # MicroPython's hashlib has no SHA-512
    _sha512 = None


def sha512(data):
    """SHA-512 digest of data: hashlib's where it exists, ours elsewhere."""
    if _sha512 is not None:
        return _sha512(data).digest()
    from .sha512 import digest

    return digest(data)


def sha256_digest(data):
    return sha256(data).digest()


if hasattr(0, "bit_length"):

    def bit_length(n):
        return n.bit_length()

else:  # MicroPython's int has no bit_length

    def bit_length(n):
        """Bits needed for abs(n), as int.bit_length does on CPython."""
        if n < 0:
            n = -n
        if n == 0:
            return 0
        digits = "%x" % n
        return 4 * (len(digits) - 1) + len(f"{int(digits[0], 16):b}")
