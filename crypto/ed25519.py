"""Ed25519 (RFC 8032 §5.1) in pure Python for boards; same results everywhere.

Speed on MicroPython comes from:
- a fixed-base comb (5 teeth, 51 columns) over a 2,976-byte table of base-point
  multiples built at build time (``_ed25519_table``), read straight from the
  bytes object so it can stay in flash: [r]B costs 51 doublings and 51 mixed
  additions instead of ~253 + ~127;
- extended twisted Edwards coordinates (X:Y:Z:T), so no inversion until the end;
- reduction modulo p = 2**255 - 19 by folding (2**255 = 19 mod p: low + 19*high)
  instead of ``%``, because MicroPython's big-integer division is slow;
- an addition chain for inversion and square roots (no 3-argument pow).

Not constant-time: Python big integers take time and allocate memory that
depend on their values, so an attacker who can time or probe a board's power
while it signs may learn about the key. docs/protocol.md §8 says what
that means and how to move to a native module or secure element.
"""

from . import _ed25519_table
from ._compat import micropython, sha512
from .errors import BadSignature, FieldError

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # group order
_MASK255 = (1 << 255) - 1
_P4 = 4 * P  # added before subtracting, so values stay non-negative
D = 37095705934669439343138083508754565189542113879843219016388785533085940283555
D2 = 2 * D % P
SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752
_COMB_TEETH = 5
_COMB_COLUMNS = 51  # 5 * 51 = 255 bits cover every scalar below L
_TABLE = memoryview(_ed25519_table.TABLE)

SEED_BYTES = 32
SIGNATURE_BYTES = 64


@micropython.native
def _mul(a, b):
    t = a * b
    t = (t & _MASK255) + 19 * (t >> 255)
    return (t & _MASK255) + 19 * (t >> 255)


@micropython.native
def _sq_n(a, n):
    """a ** (2 ** n), folded after each squaring."""
    m = _MASK255
    for _ in range(n):
        t = a * a
        t = (t & m) + 19 * (t >> 255)
        a = (t & m) + 19 * (t >> 255)
    return a


def _pow_2_250_1(z):
    """(z ** (2**250 - 1), z ** 11): the shared prefix of the addition chains."""
    z2 = _mul(z, z)
    z9 = _mul(_sq_n(z2, 2), z)
    z11 = _mul(z9, z2)
    z_5 = _mul(_mul(z11, z11), z9)  # 2**5 - 1
    z_10 = _mul(_sq_n(z_5, 5), z_5)
    z_20 = _mul(_sq_n(z_10, 10), z_10)
    z_40 = _mul(_sq_n(z_20, 20), z_20)
    z_50 = _mul(_sq_n(z_40, 10), z_10)
    z_100 = _mul(_sq_n(z_50, 50), z_50)
    z_200 = _mul(_sq_n(z_100, 100), z_100)
    return _mul(_sq_n(z_200, 50), z_50), z11


def _invert(z):
    """z ** (p - 2) = 1/z mod p (Fermat), by an addition chain of 265 steps."""
    z_250, z11 = _pow_2_250_1(z)
    return _mul(_sq_n(z_250, 5), z11)


def _pow_p58(z):
    """z ** ((p - 5) / 8), for square roots."""
    z_250, _ = _pow_2_250_1(z)
    return _mul(_sq_n(z_250, 2), z)


# ------------------------------------------------------------ point arithmetic
# Points are tuples (X, Y, Z, T) with x = X/Z, y = Y/Z, x*y = T/Z. The formulas
# are those of Hisil-Wong-Carter-Dawson 2008 (as in ref10), for a = -1.

_IDENTITY = (0, 1, 1, 0)


def _double(p):
    X, Y, Z, _ = p
    xx = _mul(X, X)
    yy = _mul(Y, Y)
    b = 2 * _mul(Z, Z)
    aa = _mul(X + Y, X + Y)
    y3 = yy + xx
    z3 = yy - xx + _P4
    x3 = aa - y3 + _P4
    t3 = b - z3 + _P4
    return (_mul(x3, t3), _mul(y3, z3), _mul(z3, t3), _mul(x3, y3))


def _add(p, q):
    """Unified addition: p + q for any two points (add-2008-hwcd-3)."""
    X1, Y1, Z1, T1 = p
    X2, Y2, Z2, T2 = q
    a = _mul(Y1 - X1 + _P4, Y2 - X2 + _P4)
    b = _mul(Y1 + X1, Y2 + X2)
    c = _mul(_mul(T1, D2), T2)
    d = 2 * _mul(Z1, Z2)
    x3 = b - a + _P4
    y3 = b + a
    z3 = d + c
    t3 = d - c + _P4
    return (_mul(x3, t3), _mul(y3, z3), _mul(z3, t3), _mul(x3, y3))


@micropython.native
def _base_multiple(k):
    """[k]B for 0 <= k < 2**255 with the fixed-base comb.

    Column c collects bit c of each of the five 51-bit slices of k; table
    entry j (1..31) holds sum(2**(51*i) B for each bit i set in j) as
    (y+x, y-x, 2dxy), so each column costs one doubling and one mixed addition.
    """
    m = _MASK255
    p4 = _P4
    table = _TABLE
    slices = [(k >> (_COMB_COLUMNS * i)) & ((1 << _COMB_COLUMNS) - 1) for i in range(5)]
    X, Y, Z, T = _IDENTITY
    for c in range(_COMB_COLUMNS - 1, -1, -1):
        # Doubling (ref10 ge_p2_dbl), folding inline: this loop is the hot path.
        t = X * X
        t = (t & m) + 19 * (t >> 255)
        xx = (t & m) + 19 * (t >> 255)
        t = Y * Y
        t = (t & m) + 19 * (t >> 255)
        yy = (t & m) + 19 * (t >> 255)
        t = Z * Z
        t = (t & m) + 19 * (t >> 255)
        b = 2 * ((t & m) + 19 * (t >> 255))
        t = (X + Y) * (X + Y)
        t = (t & m) + 19 * (t >> 255)
        aa = (t & m) + 19 * (t >> 255)
        y3 = yy + xx
        z3 = yy - xx + p4
        x3 = aa - y3 + p4
        t3 = b - z3 + p4
        X, Y, Z, T = _mul(x3, t3), _mul(y3, z3), _mul(z3, t3), _mul(x3, y3)
        j = (
            ((slices[0] >> c) & 1)
            | (((slices[1] >> c) & 1) << 1)
            | (((slices[2] >> c) & 1) << 2)
            | (((slices[3] >> c) & 1) << 3)
            | (((slices[4] >> c) & 1) << 4)
        )
        if j:
            # Mixed addition with a table entry (ref10 ge_madd).
            off = (j - 1) * 96
            ypx = int.from_bytes(table[off : off + 32], "little")
            ymx = int.from_bytes(table[off + 32 : off + 64], "little")
            xy2d = int.from_bytes(table[off + 64 : off + 96], "little")
            a = _mul(Y + X, ypx)
            b = _mul(Y - X + p4, ymx)
            c2 = _mul(xy2d, T)
            d = 2 * Z
            x3 = a - b + p4
            y3 = a + b
            z3 = d + c2
            t3 = d - c2 + p4
            X, Y, Z, T = _mul(x3, t3), _mul(y3, z3), _mul(z3, t3), _mul(x3, y3)
    return (X, Y, Z, T)


def _scalar_multiple(k, p):
    """[k]p for any point p, with a 4-bit fixed window (verification only)."""
    window = [_IDENTITY, p]
    for _ in range(14):
        window.append(_add(window[-1], p))
    q = _IDENTITY
    for shift in range(252, -1, -4):
        q = _double(_double(_double(_double(q))))
        digit = (k >> shift) & 15
        if digit:
            q = _add(q, window[digit])
    return q


def _encode_point(p):
    X, Y, Z, _ = p
    zi = _invert(Z)
    x = _mul(X, zi) % P
    y = _mul(Y, zi) % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _decode_point(s):
    """RFC 8032 §5.1.3; raises FieldError for a string that is not a point."""
    if len(s) != 32:
        raise FieldError("point", "must be 32 bytes")
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= _MASK255
    if y >= P:
        raise FieldError("point", "y not reduced")
    yy = _mul(y, y)
    u = (yy - 1) % P
    v = (_mul(D, yy) + 1) % P
    v3 = _mul(_mul(v, v), v)
    x = _mul(_mul(u, v3), _pow_p58(_mul(_mul(u, v3), _mul(v3, v))))
    vxx = _mul(v, _mul(x, x)) % P
    if vxx == u:
        pass
    elif vxx == (P - u) % P:
        x = _mul(x, SQRT_M1)
    else:
        raise FieldError("point", "not on the curve")
    x %= P
    if x == 0 and sign:
        raise FieldError("point", "x is zero but its sign bit is set")
    if (x & 1) != sign:
        x = P - x
    return (x, y, 1, _mul(x, y) % P)


def _clamp(h):
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    return a | (1 << 254)


class SigningKey:
    """An Ed25519 key from its 32-byte seed (RFC 8032 §5.1.5).

    Holds the expanded secret; never printed (``repr`` shows the public key).
    """

    __slots__ = ("_scalar", "_prefix", "public")

    def __init__(self, seed):
        if len(seed) != SEED_BYTES:
            raise ValueError("an Ed25519 seed is 32 bytes")
        h = sha512(bytes(seed))
        self._scalar = _clamp(h)
        self._prefix = h[32:]
        self.public = _encode_point(_base_multiple(self._scalar))

    def sign(self, message):
        """The 64-byte signature R || S of message (RFC 8032 §5.1.6)."""
        r = int.from_bytes(sha512(self._prefix + message), "little") % L
        R = _encode_point(_base_multiple(r))
        k = int.from_bytes(sha512(R + self.public + message), "little") % L
        s = (r + k * self._scalar) % L
        return R + s.to_bytes(32, "little")

    def __repr__(self):
        return "SigningKey(public=%s)" % self.public.hex()


def verify(public, message, signature):
    """Check signature on message under public (RFC 8032 §5.1.7, cofactorless,
    as ref10 and OpenSSL do). Raises BadSignature; returns None when valid."""
    if len(signature) != SIGNATURE_BYTES:
        raise BadSignature("signature must be 64 bytes")
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        raise BadSignature("S is not reduced")
    try:
        a = _decode_point(public)
    except FieldError:
        raise BadSignature("public key is not a point") from None
    R = bytes(signature[:32])
    k = int.from_bytes(sha512(R + bytes(public) + bytes(message)), "little") % L
    neg_a = (P - a[0], a[1], a[2], P - a[3])
    check = _add(_base_multiple(s), _scalar_multiple(k, neg_a))
    if _encode_point(check) != R:
        raise BadSignature("signature does not verify")


def check_public_key(public):
    """Refuse keys no honest board makes: not 32 bytes, not a canonical point,
    or of small order (those verify forged signatures). For registration."""
    point = _decode_point(public)
    eight = _double(_double(_double(point)))
    if eight[0] % P == 0:
        raise FieldError("public key", "small-order point")
