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

from ._compat import MICROPYTHON, micropython

if not MICROPYTHON:
    from ._compat import ptr8, ptr32, uint

_MASK32 = 0xFFFFFFFF

# Round constants and initial value, as native-endian 32-bit halves (hi, lo).
_K_HEX = (
    "428a2f98d728ae227137449123ef65cdb5c0fbcfec4d3b2fe9b5dba58189dbbc"
    "3956c25bf348b53859f111f1b605d019923f82a4af194f9bab1c5ed5da6d8118"
    "d807aa98a303024212835b0145706fbe243185be4ee4b28c550c7dc3d5ffb4e2"
    "72be5d74f27b896f80deb1fe3b1696b19bdc06a725c71235c19bf174cf692694"
    "e49b69c19ef14ad2efbe4786384f25e30fc19dc68b8cd5b5240ca1cc77ac9c65"
    "2de92c6f592b02754a7484aa6ea6e4835cb0a9dcbd41fbd476f988da831153b5"
    "983e5152ee66dfaba831c66d2db43210b00327c898fb213fbf597fc7beef0ee4"
    "c6e00bf33da88fc2d5a79147930aa72506ca6351e003826f142929670a0e6e70"
    "27b70a8546d22ffc2e1b21385c26c9264d2c6dfc5ac42aed53380d139d95b3df"
    "650a73548baf63de766a0abb3c77b2a881c2c92e47edaee692722c851482353b"
    "a2bfe8a14cf10364a81a664bbc423001c24b8b70d0f89791c76c51a30654be30"
    "d192e819d6ef5218d69906245565a910f40e35855771202a106aa07032bbd1b8"
    "19a4c116b8d2d0c81e376c085141ab532748774cdf8eeb9934b0bcb5e19b48a8"
    "391c0cb3c5c95a634ed8aa4ae3418acb5b9cca4f7763e373682e6ff3d6b2b8a3"
    "748f82ee5defb2fc78a5636f43172f6084c87814a1f0ab728cc702081a6439ec"
    "90befffa23631e28a4506cebde82bde9bef9a3f7b2c67915c67178f2e372532b"
    "ca273eceea26619cd186b8c721c0c207eada7dd6cde0eb1ef57d4f7fee6ed178"
    "06f067aa72176fba0a637dc5a2c898a6113f9804bef90dae1b710b35131c471b"
    "28db77f523047d8432caab7b40c724933c9ebe0a15c9bebc431d67c49c100d4c"
    "4cc5d4becb3e42b6597f299cfc657e2a5fcb6fab3ad6faec6c44198c4a475817"
)
_IV_HEX = (
    "6a09e667f3bcc908bb67ae8584caa73b3c6ef372fe94f82ba54ff53a5f1d36f1"
    "510e527fade682d19b05688c2b3e6c1f1f83d9abfb41bd6b5be0cd19137e2179"
)


def _native_words(hex_text):
    raw = bytes.fromhex(hex_text)
    return struct.pack("<%dI" % (len(raw) // 4), *struct.unpack(">%dI" % (len(raw) // 4), raw))


_K = _native_words(_K_HEX)
_IV = _native_words(_IV_HEX)
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
