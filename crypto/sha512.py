"""SHA-512 (FIPS 180-4) for ports whose hashlib lacks it (MicroPython).

Each 64-bit word is a pair of 32-bit halves (hi, lo), so the compression
function runs as viper machine code on 32-bit MCUs (ESP32, RP2040) and on the
64-bit unix port alike: every result is masked to 32 bits with ``m`` (a no-op
on 32-bit ports) and carries are computed without comparisons. Under CPython
the same body runs as plain Python over memoryview casts, which is how the
tests check it against hashlib.

Buffers are allocated once at import; ``_compress`` allocates nothing (a test
runs it under micropython.heap_lock()). Not re-entrant: one hash at a time.
"""

import struct
import sys

from ._compat import MICROPYTHON, micropython

if not MICROPYTHON:
    from ._compat import ptr8, ptr32, uint

_MASK32 = 0xFFFFFFFF

# Round constants and initial value (FIPS 180-4 §4.2.3, §5.3.5) as little-endian
# 32-bit halves (hi, lo) of each 64-bit word: the layout _compress reads through
# ptr32, stored as bytes so loading the module converts nothing. Every MicroPython
# target is little-endian; a test derives both tables from their definition.
if sys.byteorder != "little":
    raise ImportError("crypto.sha512 stores its tables for little-endian ports")

_K = (  # 80 words: first 64 bits of the cube roots of the first 80 primes
    b"\x98\x2f\x8a\x42\x22\xae\x28\xd7\x91\x44\x37\x71\xcd\x65\xef\x23\xcf\xfb\xc0\xb5\x2f\x3b\x4d\xec\xa5\xdb\xb5\xe9\xbc\xdb\x89\x81"
    b"\x5b\xc2\x56\x39\x38\xb5\x48\xf3\xf1\x11\xf1\x59\x19\xd0\x05\xb6\xa4\x82\x3f\x92\x9b\x4f\x19\xaf\xd5\x5e\x1c\xab\x18\x81\x6d\xda"
    b"\x98\xaa\x07\xd8\x42\x02\x03\xa3\x01\x5b\x83\x12\xbe\x6f\x70\x45\xbe\x85\x31\x24\x8c\xb2\xe4\x4e\xc3\x7d\x0c\x55\xe2\xb4\xff\xd5"
    b"\x74\x5d\xbe\x72\x6f\x89\x7b\xf2\xfe\xb1\xde\x80\xb1\x96\x16\x3b\xa7\x06\xdc\x9b\x35\x12\xc7\x25\x74\xf1\x9b\xc1\x94\x26\x69\xcf"
    b"\xc1\x69\x9b\xe4\xd2\x4a\xf1\x9e\x86\x47\xbe\xef\xe3\x25\x4f\x38\xc6\x9d\xc1\x0f\xb5\xd5\x8c\x8b\xcc\xa1\x0c\x24\x65\x9c\xac\x77"
    b"\x6f\x2c\xe9\x2d\x75\x02\x2b\x59\xaa\x84\x74\x4a\x83\xe4\xa6\x6e\xdc\xa9\xb0\x5c\xd4\xfb\x41\xbd\xda\x88\xf9\x76\xb5\x53\x11\x83"
    b"\x52\x51\x3e\x98\xab\xdf\x66\xee\x6d\xc6\x31\xa8\x10\x32\xb4\x2d\xc8\x27\x03\xb0\x3f\x21\xfb\x98\xc7\x7f\x59\xbf\xe4\x0e\xef\xbe"
    b"\xf3\x0b\xe0\xc6\xc2\x8f\xa8\x3d\x47\x91\xa7\xd5\x25\xa7\x0a\x93\x51\x63\xca\x06\x6f\x82\x03\xe0\x67\x29\x29\x14\x70\x6e\x0e\x0a"
    b"\x85\x0a\xb7\x27\xfc\x2f\xd2\x46\x38\x21\x1b\x2e\x26\xc9\x26\x5c\xfc\x6d\x2c\x4d\xed\x2a\xc4\x5a\x13\x0d\x38\x53\xdf\xb3\x95\x9d"
    b"\x54\x73\x0a\x65\xde\x63\xaf\x8b\xbb\x0a\x6a\x76\xa8\xb2\x77\x3c\x2e\xc9\xc2\x81\xe6\xae\xed\x47\x85\x2c\x72\x92\x3b\x35\x82\x14"
    b"\xa1\xe8\xbf\xa2\x64\x03\xf1\x4c\x4b\x66\x1a\xa8\x01\x30\x42\xbc\x70\x8b\x4b\xc2\x91\x97\xf8\xd0\xa3\x51\x6c\xc7\x30\xbe\x54\x06"
    b"\x19\xe8\x92\xd1\x18\x52\xef\xd6\x24\x06\x99\xd6\x10\xa9\x65\x55\x85\x35\x0e\xf4\x2a\x20\x71\x57\x70\xa0\x6a\x10\xb8\xd1\xbb\x32"
    b"\x16\xc1\xa4\x19\xc8\xd0\xd2\xb8\x08\x6c\x37\x1e\x53\xab\x41\x51\x4c\x77\x48\x27\x99\xeb\x8e\xdf\xb5\xbc\xb0\x34\xa8\x48\x9b\xe1"
    b"\xb3\x0c\x1c\x39\x63\x5a\xc9\xc5\x4a\xaa\xd8\x4e\xcb\x8a\x41\xe3\x4f\xca\x9c\x5b\x73\xe3\x63\x77\xf3\x6f\x2e\x68\xa3\xb8\xb2\xd6"
    b"\xee\x82\x8f\x74\xfc\xb2\xef\x5d\x6f\x63\xa5\x78\x60\x2f\x17\x43\x14\x78\xc8\x84\x72\xab\xf0\xa1\x08\x02\xc7\x8c\xec\x39\x64\x1a"
    b"\xfa\xff\xbe\x90\x28\x1e\x63\x23\xeb\x6c\x50\xa4\xe9\xbd\x82\xde\xf7\xa3\xf9\xbe\x15\x79\xc6\xb2\xf2\x78\x71\xc6\x2b\x53\x72\xe3"
    b"\xce\x3e\x27\xca\x9c\x61\x26\xea\xc7\xb8\x86\xd1\x07\xc2\xc0\x21\xd6\x7d\xda\xea\x1e\xeb\xe0\xcd\x7f\x4f\x7d\xf5\x78\xd1\x6e\xee"
    b"\xaa\x67\xf0\x06\xba\x6f\x17\x72\xc5\x7d\x63\x0a\xa6\x98\xc8\xa2\x04\x98\x3f\x11\xae\x0d\xf9\xbe\x35\x0b\x71\x1b\x1b\x47\x1c\x13"
    b"\xf5\x77\xdb\x28\x84\x7d\x04\x23\x7b\xab\xca\x32\x93\x24\xc7\x40\x0a\xbe\x9e\x3c\xbc\xbe\xc9\x15\xc4\x67\x1d\x43\x4c\x0d\x10\x9c"
    b"\xbe\xd4\xc5\x4c\xb6\x42\x3e\xcb\x9c\x29\x7f\x59\x2a\x7e\x65\xfc\xab\x6f\xcb\x5f\xec\xfa\xd6\x3a\x8c\x19\x44\x6c\x17\x58\x47\x4a"
)
_IV = (  # 8 words: first 64 bits of the square roots of the first 8 primes
    b"\x67\xe6\x09\x6a\x08\xc9\xbc\xf3\x85\xae\x67\xbb\x3b\xa7\xca\x84\x72\xf3\x6e\x3c\x2b\xf8\x94\xfe\x3a\xf5\x4f\xa5\xf1\x36\x1d\x5f"
    b"\x7f\x52\x0e\x51\xd1\x82\xe6\xad\x8c\x68\x05\x9b\x1f\x6c\x3e\x2b\xab\xd9\x83\x1f\x6b\xbd\x41\xfb\x19\xcd\xe0\x5b\x79\x21\x7e\x13"
)
_STATE = bytearray(64)
_W = bytearray(640)
_BLOCK = bytearray(128)


@micropython.viper
def _compress(state, block, w, k, m: uint):
    s = ptr32(state)
    b = ptr8(block)
    W = ptr32(w)
    K = ptr32(k)
    i = 0
    while i < 32:
        j = i * 4
        W[i] = (b[j] << 24) | (b[j + 1] << 16) | (b[j + 2] << 8) | b[j + 3]
        i += 1
    while i < 160:
        # sigma0(W[t-15]) = rotr1 ^ rotr8 ^ shr7
        xh = uint(W[i - 30])
        xl = uint(W[i - 29])
        sh = (((xh >> 1) | (xl << 31)) ^ ((xh >> 8) | (xl << 24)) ^ (xh >> 7)) & m
        sl = (((xl >> 1) | (xh << 31)) ^ ((xl >> 8) | (xh << 24)) ^ ((xl >> 7) | (xh << 25))) & m
        # sigma1(W[t-2]) = rotr19 ^ rotr61 (swap, rotr29) ^ shr6
        xh = uint(W[i - 4])
        xl = uint(W[i - 3])
        ah = (((xh >> 19) | (xl << 13)) ^ ((xl >> 29) | (xh << 3)) ^ (xh >> 6)) & m
        al = (((xl >> 19) | (xh << 13)) ^ ((xh >> 29) | (xl << 3)) ^ ((xl >> 6) | (xh << 26))) & m
        # W[t] = sigma1 + W[t-7] + sigma0 + W[t-16]
        t = (al + sl) & m
        ah = (ah + sh + (((al & sl) | ((al | sl) & ~t)) >> 31 & 1)) & m
        al = t
        xh = uint(W[i - 14])
        xl = uint(W[i - 13])
        t = (al + xl) & m
        ah = (ah + xh + (((al & xl) | ((al | xl) & ~t)) >> 31 & 1)) & m
        al = t
        xh = uint(W[i - 32])
        xl = uint(W[i - 31])
        t = (al + xl) & m
        ah = (ah + xh + (((al & xl) | ((al | xl) & ~t)) >> 31 & 1)) & m
        al = t
        W[i] = ah
        W[i + 1] = al
        i += 2
    ah = uint(s[0])
    al = uint(s[1])
    bh = uint(s[2])
    bl = uint(s[3])
    ch = uint(s[4])
    cl = uint(s[5])
    dh = uint(s[6])
    dl = uint(s[7])
    eh = uint(s[8])
    el = uint(s[9])
    fh = uint(s[10])
    fl = uint(s[11])
    gh = uint(s[12])
    gl = uint(s[13])
    hh = uint(s[14])
    hl = uint(s[15])
    i = 0
    while i < 160:
        # T1 = h + Sigma1(e) + Ch(e, f, g) + K[t] + W[t]; Sigma1 = rotr14 ^ rotr18 ^ rotr41
        xh = (((eh >> 14) | (el << 18)) ^ ((eh >> 18) | (el << 14)) ^ ((el >> 9) | (eh << 23))) & m
        xl = (((el >> 14) | (eh << 18)) ^ ((el >> 18) | (eh << 14)) ^ ((eh >> 9) | (el << 23))) & m
        th = hh
        tl = hl
        t = (tl + xl) & m
        th = (th + xh + (((tl & xl) | ((tl | xl) & ~t)) >> 31 & 1)) & m
        tl = t
        xh = ((eh & fh) ^ (~eh & gh)) & m
        xl = ((el & fl) ^ (~el & gl)) & m
        t = (tl + xl) & m
        th = (th + xh + (((tl & xl) | ((tl | xl) & ~t)) >> 31 & 1)) & m
        tl = t
        xh = uint(K[i])
        xl = uint(K[i + 1])
        t = (tl + xl) & m
        th = (th + xh + (((tl & xl) | ((tl | xl) & ~t)) >> 31 & 1)) & m
        tl = t
        xh = uint(W[i])
        xl = uint(W[i + 1])
        t = (tl + xl) & m
        th = (th + xh + (((tl & xl) | ((tl | xl) & ~t)) >> 31 & 1)) & m
        tl = t
        # T2 = Sigma0(a) + Maj(a, b, c); Sigma0 = rotr28 ^ rotr34 ^ rotr39
        uh = (((ah >> 28) | (al << 4)) ^ ((al >> 2) | (ah << 30)) ^ ((al >> 7) | (ah << 25))) & m
        ul = (((al >> 28) | (ah << 4)) ^ ((ah >> 2) | (al << 30)) ^ ((ah >> 7) | (al << 25))) & m
        xh = (ah & bh) ^ (ah & ch) ^ (bh & ch)
        xl = (al & bl) ^ (al & cl) ^ (bl & cl)
        t = (ul + xl) & m
        uh = (uh + xh + (((ul & xl) | ((ul | xl) & ~t)) >> 31 & 1)) & m
        ul = t
        hh = gh
        hl = gl
        gh = fh
        gl = fl
        fh = eh
        fl = el
        eh = dh
        el = dl
        t = (el + tl) & m
        eh = (eh + th + (((el & tl) | ((el | tl) & ~t)) >> 31 & 1)) & m
        el = t
        dh = ch
        dl = cl
        ch = bh
        cl = bl
        bh = ah
        bl = al
        ah = th
        al = tl
        t = (al + ul) & m
        ah = (ah + uh + (((al & ul) | ((al | ul) & ~t)) >> 31 & 1)) & m
        al = t
        i += 2
    # H += working variables
    xh = uint(s[0])
    xl = uint(s[1])
    t = (xl + al) & m
    xh = (xh + ah + (((xl & al) | ((xl | al) & ~t)) >> 31 & 1)) & m
    xl = t
    s[0] = xh
    s[1] = xl
    xh = uint(s[2])
    xl = uint(s[3])
    t = (xl + bl) & m
    xh = (xh + bh + (((xl & bl) | ((xl | bl) & ~t)) >> 31 & 1)) & m
    xl = t
    s[2] = xh
    s[3] = xl
    xh = uint(s[4])
    xl = uint(s[5])
    t = (xl + cl) & m
    xh = (xh + ch + (((xl & cl) | ((xl | cl) & ~t)) >> 31 & 1)) & m
    xl = t
    s[4] = xh
    s[5] = xl
    xh = uint(s[6])
    xl = uint(s[7])
    t = (xl + dl) & m
    xh = (xh + dh + (((xl & dl) | ((xl | dl) & ~t)) >> 31 & 1)) & m
    xl = t
    s[6] = xh
    s[7] = xl
    xh = uint(s[8])
    xl = uint(s[9])
    t = (xl + el) & m
    xh = (xh + eh + (((xl & el) | ((xl | el) & ~t)) >> 31 & 1)) & m
    xl = t
    s[8] = xh
    s[9] = xl
    xh = uint(s[10])
    xl = uint(s[11])
    t = (xl + fl) & m
    xh = (xh + fh + (((xl & fl) | ((xl | fl) & ~t)) >> 31 & 1)) & m
    xl = t
    s[10] = xh
    s[11] = xl
    xh = uint(s[12])
    xl = uint(s[13])
    t = (xl + gl) & m
    xh = (xh + gh + (((xl & gl) | ((xl | gl) & ~t)) >> 31 & 1)) & m
    xl = t
    s[12] = xh
    s[13] = xl
    xh = uint(s[14])
    xl = uint(s[15])
    t = (xl + hl) & m
    xh = (xh + hh + (((xl & hl) | ((xl | hl) & ~t)) >> 31 & 1)) & m
    xl = t
    s[14] = xh
    s[15] = xl


def digest(data):
    """The 64-byte SHA-512 digest of data."""
    state = _STATE
    block = _BLOCK
    state[:] = _IV
    n = len(data)
    full = n - n % 128
    view = memoryview(data)
    for start in range(0, full, 128):
        block[:] = view[start : start + 128]
        _compress(state, block, _W, _K, _MASK32)
    # Padding (FIPS 180-4 §5.1.2): 0x80, zeros, 128-bit big-endian bit length.
    rest = n - full
    block[:rest] = view[full:]
    block[rest] = 0x80
    for i in range(rest + 1, 128):
        block[i] = 0
    if rest >= 112:
        _compress(state, block, _W, _K, _MASK32)
        for i in range(112):
            block[i] = 0
    block[112:128] = (n * 8).to_bytes(16, "big")
    _compress(state, block, _W, _K, _MASK32)
    return struct.pack(">16I", *struct.unpack("<16I", state))
