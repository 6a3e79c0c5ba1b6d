"""How Tollgate API keys are made and recognised.

A key is ``tg_`` followed by 40 characters drawn by ``secrets`` from a 62-letter
alphabet: log2(62) * 40 = 238 bits of randomness. The prefix makes a leaked key easy to
spot (secret scanners, grep); letters and digits only, so a double click selects it whole.

Only a SHA-256 digest of the key is stored. A slow password hasher protects guessable
secrets; a 238-bit random key cannot be guessed, so a fast hash loses nothing and keeps
every proxied call cheap (djangorestframework-api-key learned this the hard way). The
lookup is by digest through a unique index, so no comparison of secrets happens in Python.
"""

import hashlib
import math
import re
import secrets
import string

KEY_PREFIX = "tg_"
ALPHABET = string.ascii_letters + string.digits
SECRET_LENGTH = 40
DISPLAY_LENGTH = len(KEY_PREFIX) + 8
ENTROPY_BITS = SECRET_LENGTH * math.log2(len(ALPHABET))


def generate_key() -> str:
    """A new raw key. It is shown to its owner once and never stored."""
    return KEY_PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(SECRET_LENGTH))


def digest(raw_key: str) -> str:
    """The hex SHA-256 of a raw key: what the database keeps."""
    return hashlib.sha256(raw_key.encode("utf-8", "surrogatepass")).hexdigest()


def display_prefix(raw_key: str) -> str:
    """The first characters, stored so people can tell their keys apart (``tg_AbCd1234``)."""
    return raw_key[:DISPLAY_LENGTH]


# One compiled pattern: a character-by-character check in Python cost more than the
# key's SHA-256 on every proxied call.
KEY_SHAPE = re.compile(rf"{re.escape(KEY_PREFIX)}[A-Za-z0-9]{{{SECRET_LENGTH}}}")


def looks_like_key(raw_key: str) -> bool:
    """Cheap shape check: garbage is never hashed nor looked up by digest."""
    return KEY_SHAPE.fullmatch(raw_key) is not None
