"""COSE_Sign1 (RFC 9052 §4.2) with EdDSA over Ed25519 (RFC 9053 §2.2).

Every paymote message is ``18([protected, unprotected, payload, signature])``
with protected ``<< {1: -8} >>``, unprotected ``{4: kid}`` and an attached
payload. The signature covers the Sig_structure of §4.4 with empty external
AAD, so any RFC 9052 implementation can verify a message with the device key.

The algorithm comes from the registered key, never from the header alone: a
header naming another algorithm is refused before any signature check.
"""

from . import cbor, ed25519
from ._compat import const, sha256_digest
from .errors import DecodeError, FieldError, UnknownKey, WrongAlgorithm

TAG_SIGN1 = const(18)  # RFC 9052 §4.2
_HEADER_ALG = const(1)  # RFC 9052 §3.1
HEADER_KID = const(4)
ALG_EDDSA = const(-8)  # RFC 9053 §2.2
KID_BYTES = const(8)
_SIGN1_BYTES_MAX = const(1280)
CONTENT_FORMAT_SIGN1 = const(18)  # application/cose; cose-type="cose-sign1"
PROTECTED_EDDSA = b"\xa1\x01\x27"  # the deterministic encoding of {1: -8}


def key_id(public):
    """A device's id and COSE kid: the first 8 bytes of SHA-256(public key)."""
    return sha256_digest(bytes(public))[:KID_BYTES]


def sig_structure(protected, payload):
    """The bytes that are signed (RFC 9052 §4.4): Signature1 context, the
    protected header as received, empty external AAD, the payload."""
    return cbor.encode(["Signature1", protected, b"", payload])


def sign1(payload, key, kid):
    """A tagged COSE_Sign1 of payload (bytes) signed by key (SigningKey)."""
    if len(kid) != KID_BYTES:
        raise ValueError("kid is %d bytes" % KID_BYTES)
    signature = key.sign(sig_structure(PROTECTED_EDDSA, payload))
    return cbor.encode(cbor.Tag(TAG_SIGN1, [PROTECTED_EDDSA, {HEADER_KID: kid}, payload, signature]))


class Sign1:
    """A structurally valid COSE_Sign1, not yet verified."""

    __slots__ = ("protected", "alg", "kid", "payload", "signature")

    def __init__(self, protected, alg, kid, payload, signature):
        self.protected = protected
        self.alg = alg
        self.kid = kid
        self.payload = payload
        self.signature = signature


def envelope_from_value(value):
    """Check a decoded COSE_Sign1 (tag 18 and its four fields) and return it as
    a Sign1. Raises FieldError naming the part that is wrong."""
    if not isinstance(value, cbor.Tag) or value.number != TAG_SIGN1:
        raise FieldError("envelope", "not a tagged COSE_Sign1 (tag 18)")
    parts = value.value
    if not isinstance(parts, list) or len(parts) != 4:
        raise FieldError("envelope", "COSE_Sign1 is an array of 4")
    protected, unprotected, payload, signature = parts
    if not isinstance(protected, bytes):
        raise FieldError("protected", "must be a byte string")
    try:
        header = cbor.decode(protected, size_max=32, depth_max=1, length_max=8)
    except DecodeError as e:
        raise FieldError("protected", "not deterministic CBOR: %s" % e) from None
    if not isinstance(header, dict) or list(header) != [_HEADER_ALG]:
        raise FieldError("protected", "must hold exactly the alg parameter")
    alg = header[_HEADER_ALG]
    if not isinstance(alg, int):
        raise FieldError("protected", "alg must be an integer")
    if not isinstance(unprotected, dict) or list(unprotected) != [HEADER_KID]:
        raise FieldError("unprotected", "must hold exactly the kid parameter")
    kid = unprotected[HEADER_KID]
    if not isinstance(kid, bytes) or len(kid) != KID_BYTES:
        raise FieldError("kid", "must be %d bytes" % KID_BYTES)
    if not isinstance(payload, bytes):
        raise FieldError("payload", "must be an attached byte string")
    if not isinstance(signature, bytes) or len(signature) != ed25519.SIGNATURE_BYTES:
        raise FieldError("signature", "must be 64 bytes")
    return Sign1(protected, alg, kid, payload, signature)


def parse_sign1(message, size_max=_SIGN1_BYTES_MAX):
    """Decode and check the envelope of a COSE_Sign1 (no signature check)."""
    return envelope_from_value(cbor.decode(message, size_max=size_max, depth_max=3))


class Ed25519Key:
    """A registered Ed25519 public key, verified in pure Python."""

    alg = ALG_EDDSA

    def __init__(self, public):
        self.public = bytes(public)

    def verify(self, data, signature):
        ed25519.verify(self.public, data, signature)


def check_signature(envelope, keys):
    """Verify envelope with the key registered for its kid. keys maps kid to
    a key object with ``alg`` and ``verify(data, signature)``, which raises
    BadSignature (any other exception is a bug and propagates). Returns the key."""
    key = keys.get(envelope.kid)
    if key is None:
        raise UnknownKey("kid %s is not registered" % envelope.kid.hex())
    if envelope.alg != key.alg:
        raise WrongAlgorithm("alg %d is not the key's %d" % (envelope.alg, key.alg))
    key.verify(sig_structure(envelope.protected, envelope.payload), envelope.signature)
    return key


def verify1(message, keys, size_max=_SIGN1_BYTES_MAX):
    """Parse and verify a COSE_Sign1. Returns the checked Sign1; raises a
    DecodeError, FieldError or VerifyError subclass, never returns False."""
    envelope = parse_sign1(message, size_max)
    check_signature(envelope, keys)
    return envelope
