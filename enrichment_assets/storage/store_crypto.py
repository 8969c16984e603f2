"""Encryption at rest of the response store's personal fields, as a layer any store backend applies.

With ``ENRICHMENT_ENCRYPTION_KEY`` set, what a stored answer says about a person (the numbers, the vendor's
body, what was asked) is sealed with AES-256-GCM before a backend writes it, and opened after it reads it; the
request fingerprint a backend looks an answer up by becomes an HMAC-SHA256 of it under the key, so the file
holds no hash anyone could recompute from an email or a LinkedIn URL. Without the key, :class:`StoreCipher`
changes nothing: the store is as it always was.

A backend (today the SQLite one, ``storage/response_store.py``) calls only :meth:`StoreCipher.lookup_key`,
``seal``/``open`` (text) and ``seal_bytes``/``open_bytes`` at the points where it writes or reads those fields,
and :func:`check_key` with one stored value when it opens. Everything else (key derivation, the key check,
rotation's row transform) lives here, so another backend gets encryption by making the same calls.

The key is never stored: the store keeps only a check value (an HMAC of a constant under a key derived from
it), enough to tell the right key from a wrong one before anything is read or written.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_ENV = "ENRICHMENT_ENCRYPTION_KEY"
NEW_KEY_ENV = "ENRICHMENT_NEW_ENCRYPTION_KEY"
#: A key is a secret string of at least this many characters, e.g. ``python -c "import secrets;
#: print(secrets.token_urlsafe(32))"`` (43 characters, 256 bits).
MIN_KEY_CHARS = 32

#: Sealed text starts with this: a value without it was written by a store without a key.
SEALED_PREFIX = "enc1:"
_SEALED_BYTES_PREFIX = b"enc1:"
_KEY_CHECK_INPUT = b"enrichment_assets response store key check v1"


class StoreKeyError(Exception):
    """The store cannot be opened with the key given (or without one): one sentence saying what to do."""


class StoreUnreachableError(StoreKeyError):
    """The state store's server cannot be reached to check the key: nothing was read or written. A commands'
    pre-flight reports it as it reports a wrong key (exit 2, one line)."""


class StoreCipher:
    """No key: every value passes through as it is. A sealed value met on read means the store is encrypted."""

    encrypted = False

    def lookup_key(self, request_fingerprint: str) -> str:
        """What the backend stores and looks an answer up by."""
        return request_fingerprint

    def seal(self, text: str | None, field: str) -> str | None:
        return text

    def open(self, text: str | None, field: str) -> str | None:
        if text is not None and text.startswith(SEALED_PREFIX):
            raise StoreKeyError(f"the response store is encrypted: set {KEY_ENV} to its key")
        return text

    def seal_bytes(self, data: bytes, field: str) -> bytes:
        return data

    def open_bytes(self, data: bytes, field: str) -> bytes:
        if data.startswith(_SEALED_BYTES_PREFIX):
            raise StoreKeyError(f"the response store is encrypted: set {KEY_ENV} to its key")
        return data

    def key_check(self) -> str | None:
        """The value a store encrypted with this key keeps (None: not encrypted)."""
        return None


class AesGcmCipher(StoreCipher):
    """AES-256-GCM for the fields, HMAC-SHA256 for lookup keys; both keys derived from the secret with HKDF."""

    encrypted = True

    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_KEY_CHARS:
            raise StoreKeyError(f"{KEY_ENV} must be at least {MIN_KEY_CHARS} characters (for example the output "
                                "of: python -c \"import secrets; print(secrets.token_urlsafe(32))\")")
        material = HKDF(algorithm=hashes.SHA256(), length=64, salt=None,
                        info=b"enrichment_assets response store v1").derive(secret.encode("utf-8"))
        self._aead = AESGCM(material[:32])
        self._mac_key = material[32:]

    def lookup_key(self, request_fingerprint: str) -> str:
        return hmac.new(self._mac_key, request_fingerprint.encode("utf-8"), hashlib.sha256).hexdigest()

    def _seal(self, data: bytes, field: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data, field.encode("utf-8"))

    def _open(self, sealed: bytes, field: str) -> bytes:
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], field.encode("utf-8"))
        except InvalidTag:
            raise StoreKeyError(f"a stored {field} does not open with {KEY_ENV}: wrong key, or the file was "
                                "altered") from None

    def seal(self, text: str | None, field: str) -> str | None:
        if text is None:
            return None
        return SEALED_PREFIX + base64.urlsafe_b64encode(self._seal(text.encode("utf-8"), field)).decode("ascii")

    def open(self, text: str | None, field: str) -> str | None:
        if text is None:
            return None
        if not text.startswith(SEALED_PREFIX):
            raise StoreKeyError(f"a stored {field} is not encrypted although the store is: the file was altered")
        return self._open(base64.urlsafe_b64decode(text[len(SEALED_PREFIX):]), field).decode("utf-8")

    def seal_bytes(self, data: bytes, field: str) -> bytes:
        return _SEALED_BYTES_PREFIX + self._seal(data, field)

    def open_bytes(self, data: bytes, field: str) -> bytes:
        if not data.startswith(_SEALED_BYTES_PREFIX):
            raise StoreKeyError(f"a stored {field} is not encrypted although the store is: the file was altered")
        return self._open(data[len(_SEALED_BYTES_PREFIX):], field)

    def key_check(self) -> str:
        return hmac.new(self._mac_key, _KEY_CHECK_INPUT, hashlib.sha256).hexdigest()


PLAIN = StoreCipher()


def cipher_for(secret: str | None) -> StoreCipher:
    """The cipher for a key (None or empty: none)."""
    return AesGcmCipher(secret) if secret else PLAIN


def cipher_from_environment(var: str = KEY_ENV) -> StoreCipher:
    return cipher_for(os.environ.get(var, "").strip() or None)


@dataclass(frozen=True)
class StoreState:
    """What a backend knows about its store when it opens it: the key check it keeps, and whether it already holds
    personal fields written without a key."""

    key_check: str | None
    holds_plain_answers: bool


def check_key(cipher: StoreCipher, state: StoreState, where: str) -> bool:
    """Raise :class:`StoreKeyError` unless ``cipher`` may use the store; True when the backend must record
    ``cipher.key_check()`` (a store without answers that a key now encrypts)."""
    if state.key_check is not None:
        if not cipher.encrypted:
            raise StoreKeyError(f"the response store {where} is encrypted: set {KEY_ENV} to its key")
        if not hmac.compare_digest(state.key_check, cipher.key_check() or ""):
            raise StoreKeyError(f"{KEY_ENV} is not the key the response store {where} was encrypted with")
        return False
    if cipher.encrypted:
        if state.holds_plain_answers:
            raise StoreKeyError(
                f"the response store {where} holds unencrypted answers: encrypt it first with `enrich rotate-key` "
                f"({NEW_KEY_ENV} set to the key, {KEY_ENV} unset), then set {KEY_ENV}")
        return True
    return False
