"""COSE_Sign1 (RFC 9052): structure, verification errors, interop with python-cwt."""

from __future__ import annotations

import cbor2
import pytest
from cwt import COSE, COSEKey

from paymote.crypto import cbor, cose, ed25519
from paymote.crypto.errors import (
    BadSignature,
    DuplicateKey,
    FieldError,
    NonCanonical,
    TooLarge,
    TrailingBytes,
    Truncated,
    UnknownKey,
    WrongAlgorithm,
)

SEED = bytes(range(32))
KEY = ed25519.SigningKey(SEED)
KID = cose.key_id(KEY.public)
KEYS = {KID: cose.Ed25519Key(KEY.public)}
PAYLOAD = cbor.encode({1: 17, 6: 42, 7: "EUR"})


def _cwt_keys():
    params = {1: 1, 3: -8, -1: 6, -2: KEY.public, 2: KID}  # OKP, EdDSA, Ed25519
    return COSEKey.new({**params, -4: SEED}), COSEKey.new(params)


def _resign(parts):
    """A COSE_Sign1 from explicit parts, validly signed over whatever protected holds."""
    protected, unprotected, payload = parts
    signature = KEY.sign(cose.sig_structure(protected, payload))
    return cbor.encode(cbor.Tag(18, [protected, unprotected, payload, signature]))


def test_sign1_layout_and_kid():
    """The envelope is 18([<<{1:-8}>>, {4: kid}, payload, sig]) and kid = SHA-256(key)[:8]."""
    message = cose.sign1(PAYLOAD, KEY, KID)
    value = cbor2.loads(message)
    assert value.tag == 18
    protected, unprotected, payload, signature = value.value
    assert protected == b"\xa1\x01\x27" and cbor2.loads(protected) == {1: -8}
    assert dict(unprotected) == {4: KID} and len(KID) == 8
    assert payload == PAYLOAD and len(signature) == 64
    assert len(message) == 85 + len(PAYLOAD) - 1  # 85 bytes of envelope, 1-byte payload head


def test_our_message_verifies_with_cwt_and_is_byte_identical():
    """python-cwt verifies our COSE_Sign1, and signing the same payload gives the same bytes."""
    signing, verifying = _cwt_keys()
    ours = cose.sign1(PAYLOAD, KEY, KID)
    assert COSE.new().decode(ours, verifying) == PAYLOAD
    theirs = COSE.new().encode_and_sign(PAYLOAD, signing, protected={1: -8}, unprotected={4: KID})
    assert theirs == ours


def test_cwt_message_verifies_with_ours():
    """A COSE_Sign1 made by python-cwt verifies with crypto.cose.verify1."""
    signing, _ = _cwt_keys()
    theirs = COSE.new().encode_and_sign(b"\xa1\x01\x02", signing, protected={1: -8}, unprotected={4: KID})
    assert cose.verify1(theirs, KEYS).payload == b"\xa1\x01\x02"


def test_verify_errors_are_typed():
    """Unknown kid, wrong algorithm and a bad signature each raise their own VerifyError."""
    message = cose.sign1(PAYLOAD, KEY, KID)
    with pytest.raises(UnknownKey):
        cose.verify1(message, {})
    with pytest.raises(WrongAlgorithm):  # ES256 in a validly signed header: refused by the key
        cose.verify1(_resign([cbor.encode({1: -7}), {4: KID}, PAYLOAD]), KEYS)
    tampered = bytearray(message)
    tampered[-70] ^= 1  # inside the payload
    with pytest.raises(BadSignature):
        cose.verify1(bytes(tampered), KEYS)
    other = cose.sign1(PAYLOAD, ed25519.SigningKey(bytes(32)), KID)  # right kid, wrong key
    with pytest.raises(BadSignature):
        cose.verify1(other, KEYS)


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda m: m[:-1], Truncated),
        (lambda m: m + b"\x00", TrailingBytes),
        (lambda m: m + bytes(1300), TooLarge),
        (lambda m: b"\xd1" + m[1:], FieldError),  # tag 17 (COSE_Mac0)
        (lambda m: m[1:], FieldError),  # untagged
        (lambda m: _resign([b"\xa1\x01\x27", {4: KID, 1: -8}, PAYLOAD]), FieldError),  # alg unprotected
        (lambda m: _resign([b"\xa2\x01\x27\x02\x80", {4: KID}, PAYLOAD]), FieldError),  # crit added
        (lambda m: _resign([b"\xa1\x01\x38\x22", {4: KID}, PAYLOAD]), WrongAlgorithm),  # ES384
        (lambda m: _resign([b"\xa2\x01\x27\x01\x27", {4: KID}, PAYLOAD]), FieldError),  # duplicate alg
        (lambda m: _resign([b"\xa1\x01\x38\x07", {4: KID}, PAYLOAD]), FieldError),  # non-shortest -8
        (lambda m: _resign([b"\xa1\x01\x27", {4: KID[:4]}, PAYLOAD]), FieldError),  # short kid
        (lambda m: cbor.encode(cbor.Tag(18, [b"\xa1\x01\x27", {4: KID}, None, bytes(64)])), FieldError),
        (lambda m: cbor.encode(cbor.Tag(18, [b"\xa1\x01\x27", {4: KID}, PAYLOAD, bytes(63)])), FieldError),
        (lambda m: m.replace(b"\xa1\x04\x48", b"\xa2\x04\x48", 1), Truncated),
    ],
)
def test_malformed_envelopes_raise_specific_errors(build, error):
    """Truncated, oversized, wrong tag, misplaced or unknown headers: each its own error."""
    with pytest.raises(error):
        cose.verify1(build(cose.sign1(PAYLOAD, KEY, KID)), KEYS)


def test_non_canonical_and_duplicate_keys_in_the_envelope():
    """A non-shortest head or a duplicated unprotected key in the envelope is refused as such."""
    message = cose.sign1(PAYLOAD, KEY, KID)
    with pytest.raises(NonCanonical):
        cose.verify1(message.replace(b"\x58\x40", b"\x59\x00\x40", 1), KEYS)
    with pytest.raises(DuplicateKey):
        cose.verify1(message.replace(b"\xa1\x04\x48" + KID, b"\xa2\x04\x48" + KID + b"\x04\x48" + KID), KEYS)
