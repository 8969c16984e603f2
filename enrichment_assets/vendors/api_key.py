"""A vendor's API key as a client holds it: never in a ``repr``, a log line, an error or a kept answer."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from enrichment_assets.masking import mask_sensitive, scrub_secrets
from enrichment_assets.vendors.log_masking import register_secret

#: The longest error message a client writes (results, journal, logs).
MAX_MESSAGE = 300


class ApiKey:
    """The key, and the masking of everything a client writes that could carry it.

    Building one registers the key with the HTTP libraries' log filter (:mod:`.log_masking`), so that their
    request lines never show it either.
    """

    __slots__ = ("_secret",)

    def __init__(self, key: str) -> None:
        self._secret = SecretStr(key)
        register_secret(key)

    def get_secret_value(self) -> str:
        """The key itself, for the request's auth header only."""
        return self._secret.get_secret_value()

    def __repr__(self) -> str:
        return f"ApiKey({self._secret!r})"

    __str__ = __repr__

    def mask(self, text: str) -> str:
        """``text`` with the key and personal data masked (:func:`~enrichment_assets.masking.mask_sensitive`), at
        most ``MAX_MESSAGE`` characters."""
        masked = mask_sensitive(text, (self.get_secret_value(),))
        return masked if len(masked) <= MAX_MESSAGE else masked[: MAX_MESSAGE - 1] + "…"

    def scrub(self, value: Any) -> Any:
        """A parsed JSON value with the key removed wherever it appears (a vendor that echoes it)."""
        return scrub_secrets(value, (self.get_secret_value(),))

    def redact(self, content: bytes) -> bytes:
        """Raw bytes (a body as received) with the key removed."""
        return content.replace(self.get_secret_value().encode(), b"[redacted]")
