"""Typed errors. Bad input always raises one of these; nothing returns False.

MessageError is the base of every error caused by the bytes we were given,
so a transport can catch one type and map the subclass to a response code.
"""


class MessageError(ValueError):
    """Anything wrong with a message received or about to be parsed."""


class DecodeError(MessageError):
    """The bytes are not acceptable deterministic CBOR (RFC 8949 §4.2)."""


class Truncated(DecodeError):
    """The input ends inside an item."""


class TrailingBytes(DecodeError):
    """Bytes follow the single top-level item."""


class IndefiniteLength(DecodeError):
    """An indefinite-length item: not allowed in deterministic CBOR (§4.2.1)."""


class NonCanonical(DecodeError):
    """Not the shortest encoding, or map keys out of bytewise order (§4.2.1)."""


class DuplicateKey(DecodeError):
    """A map has the same key twice (§5.6)."""


class TooDeep(DecodeError):
    """Nesting deeper than the decoder's depth limit."""


class TooLong(DecodeError):
    """A string, array or map longer than the decoder's length limit."""


class TooLarge(DecodeError):
    """The whole input is larger than its size limit; it was not parsed."""


class Unsupported(DecodeError):
    """Well-formed CBOR that the formats never use (undefined, NaN, simple values,
    reserved additional information, invalid UTF-8)."""


class FieldError(MessageError):
    """Valid CBOR, but a field has the wrong type, range or length, is missing,
    or is not part of the format. ``field`` names it."""

    def __init__(self, field, problem):
        super().__init__("%s: %s" % (field, problem))
        self.field = field
        self.problem = problem


class VerifyError(MessageError):
    """The message is well-formed but not authentic."""


class UnknownKey(VerifyError):
    """No registered key has this kid."""


class WrongAlgorithm(VerifyError):
    """The protected header names another algorithm than the registered key's."""


class BadSignature(VerifyError):
    """The signature does not verify under the registered key."""


class EncodeError(ValueError):
    """A value the deterministic encoder refuses (programmer input, not wire)."""
