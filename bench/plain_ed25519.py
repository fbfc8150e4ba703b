"""The baseline for bench/device_sign.py: textbook Ed25519 signing.

Double-and-add over the scalar's bits in extended coordinates, reduction with
`%`, inversion with pow(z, p - 2, p): what crypto/ed25519.py would be without
the comb table, folding and addition chains. Same SHA-512 as the tuned code,
so the ratio measures the curve arithmetic. Portable: runs on MicroPython.
"""

try:
    from paymote.crypto import ed25519
    from paymote.crypto._compat import sha512
except ImportError:
    from crypto import ed25519
    from crypto._compat import sha512

P = ed25519.P
L = ed25519.L
D2 = ed25519.D2
BASE = (
    15112221349535400772501151409588531511454012693041857206046113283949847762202,
    46316835694926478169428394003475163141307993866256225615783033603165251855960,
    1,
    46827403850823179245072216630277197565144205554125654976674165829533817101731,
)


def _add(p, q):
    X1, Y1, Z1, T1 = p
    X2, Y2, Z2, T2 = q
    a = (Y1 - X1) * (Y2 - X2) % P
    b = (Y1 + X1) * (Y2 + X2) % P
    c = T1 * D2 * T2 % P
    d = 2 * Z1 * Z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _double(p):
    X, Y, Z, _ = p
    a = X * X % P
    b = Y * Y % P
    c = 2 * Z * Z % P
    h = a + b
    e = h - (X + Y) * (X + Y) % P
    g = a - b
    f = c + g
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _multiply(k):
    q = (0, 1, 1, 0)
    for i in range(254, -1, -1):
        q = _double(q)
        if (k >> i) & 1:
            q = _add(q, BASE)
    return q


def _encode(p):
    zi = pow(p[2], P - 2, P)
    x = p[0] * zi % P
    y = p[1] * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


class PlainSigningKey:
    def __init__(self, seed):
        h = sha512(bytes(seed))
        a = int.from_bytes(h[:32], "little")
        self._scalar = (a & ((1 << 254) - 8)) | (1 << 254)
        self._prefix = h[32:]
        self.public = _encode(_multiply(self._scalar))

    def sign(self, message):
        r = int.from_bytes(sha512(self._prefix + message), "little") % L
        R = _encode(_multiply(r))
        k = int.from_bytes(sha512(R + self.public + message), "little") % L
        return R + ((r + k * self._scalar) % L).to_bytes(32, "little")
