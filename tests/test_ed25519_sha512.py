"""Pure-Python Ed25519 (RFC 8032) and SHA-512 (FIPS 180-4) on CPython."""

from __future__ import annotations

import hashlib
import math

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from paymote.crypto import _ed25519_tablegen, ed25519, sha512
from paymote.crypto.errors import BadSignature, FieldError
from tests import vectors


@pytest.mark.parametrize(("secret", "public", "message", "signature"), vectors.RFC8032)
def test_rfc8032_vectors(secret, public, message, signature):
    """RFC 8032 §7.1 test vectors: public key and signature byte for byte, and verification."""
    key = ed25519.SigningKey(bytes.fromhex(secret))
    assert key.public.hex() == public
    assert key.sign(bytes.fromhex(message)).hex() == signature
    ed25519.verify(key.public, bytes.fromhex(message), bytes.fromhex(signature))


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(max_size=300))
def test_matches_openssl(seed, message):
    """Same keys and signatures as `cryptography` (OpenSSL) for any seed and message."""
    ref = Ed25519PrivateKey.from_private_bytes(seed)
    key = ed25519.SigningKey(seed)
    assert key.public == ref.public_key().public_bytes_raw()
    assert key.sign(message) == ref.sign(message)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=100), st.integers(0, 63), st.integers(0, 7))
def test_any_flipped_signature_bit_is_refused(message, byte, bit):
    """Verification refuses a signature with any single bit changed."""
    key = ed25519.SigningKey(bytes(32))
    signature = bytearray(key.sign(message))
    signature[byte] ^= 1 << bit
    with pytest.raises(BadSignature):
        ed25519.verify(key.public, message, bytes(signature))


def test_malleable_s_is_refused():
    """S + L verifies mathematically but RFC 8032 §5.1.7 requires S < L."""
    key = ed25519.SigningKey(bytes(range(32)))
    signature = key.sign(b"m")
    s = int.from_bytes(signature[32:], "little") + ed25519.L
    with pytest.raises(BadSignature):
        ed25519.verify(key.public, b"m", signature[:32] + s.to_bytes(32, "little"))


def test_public_key_checks_refuse_small_order_and_non_canonical_keys():
    """Registration refuses keys that verify forgeries or are not canonical points."""
    identity = (1).to_bytes(32, "little")
    with pytest.raises(FieldError):
        ed25519.check_public_key(identity)
    with pytest.raises(FieldError):
        ed25519.check_public_key((ed25519.P + 1).to_bytes(32, "little"))  # y >= p
    with pytest.raises(FieldError):
        ed25519.check_public_key(((1 << 255) | 1).to_bytes(32, "little"))  # x = 0, sign bit set
    ed25519.check_public_key(ed25519.SigningKey(bytes(32)).public)


def test_comb_table_is_what_the_generator_builds():
    """The committed fixed-base table is exactly the generator's output, and fits 4 KB."""
    from paymote.crypto import _ed25519_table

    assert _ed25519_table.TABLE == _ed25519_tablegen.table_bytes()
    assert len(_ed25519_table.TABLE) == 31 * 96 <= 4096


@settings(max_examples=30, deadline=None)
@given(st.integers(0, ed25519.L - 1))
def test_comb_equals_double_and_add(k):
    """[k]B by the comb equals [k]B by the generic windowed multiplication."""
    base = _ed25519_tablegen.base_point()
    assert ed25519._encode_point(ed25519._base_multiple(k)) == ed25519._encode_point(
        ed25519._scalar_multiple(k, base)
    )


@pytest.mark.parametrize(("message", "digest"), vectors.SHA512)
def test_sha512_fips_vectors(message, digest):
    """The portable SHA-512 gives the FIPS 180-4 example digests."""
    assert sha512.digest(message).hex() == digest


@settings(max_examples=200)
@given(st.binary(max_size=600))
def test_sha512_matches_hashlib(data):
    """Every length, padding case included, matches hashlib."""
    assert sha512.digest(data) == hashlib.sha512(data).digest()


def _cube_root_floor(n: int) -> int:
    root = int(round(n ** (1 / 3)))
    while root**3 > n:
        root -= 1
    while (root + 1) ** 3 <= n:
        root += 1
    return root


def test_sha512_constants_are_the_fractional_parts_of_cube_roots():
    """K[t] is the first 64 bits of the fractional part of the cube root of prime t (FIPS 180-4 §4.2.3)."""
    primes = [p for p in range(2, 410) if all(p % q for q in range(2, math.isqrt(p) + 1))][:80]
    expected = b"".join((_cube_root_floor(p << 192) & (2**64 - 1)).to_bytes(8, "big") for p in primes)
    assert _as_big_endian_words(sha512._K) == expected
    iv = b"".join((math.isqrt(p << 128) & (2**64 - 1)).to_bytes(8, "big") for p in primes[:8])
    assert _as_big_endian_words(sha512._IV) == iv


def _as_big_endian_words(table: bytes) -> bytes:
    """The tables hold each 64-bit word as little-endian 32-bit halves, high half first."""
    import struct

    return struct.pack(f">{len(table) // 4}I", *struct.unpack(f"<{len(table) // 4}I", table))


def test_keys_come_only_from_os_urandom(monkeypatch):
    """random_bytes gives OS randomness, and raises rather than fall back when there is none."""
    from paymote.crypto import _compat

    first, second = _compat.random_bytes(32), _compat.random_bytes(32)
    assert len(first) == 32 and first != second
    monkeypatch.setattr(_compat, "urandom", None)
    with pytest.raises(OSError, match="urandom"):
        _compat.random_bytes(32)
