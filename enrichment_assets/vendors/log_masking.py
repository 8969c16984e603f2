"""Masking of what the HTTP libraries log about our requests.

httpx and its transports log request lines (Enrich Layer's carry the LinkedIn URL in the query string) and,
at debug level, more. One filter, installed once on their loggers, masks every record with
:func:`enrichment_assets.masking.mask_sensitive` and the API keys registered so far: a client registers its
key when it is built, and the filter reads the registry at each record.
"""

from __future__ import annotations

import logging
import threading

from enrichment_assets.masking import mask_sensitive

#: The loggers the HTTP stack writes request details to.
HTTP_LOGGERS = ("httpx", "httpcore", "httpx_aiohttp", "aiohttp.client")


class _SecretRegistry:
    """The API keys of every client built in this process (keys are few; they stay for the process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()

    def add(self, secret: str) -> None:
        with self._lock:
            if secret and secret not in self._secrets:
                self._secrets = (*self._secrets, secret)

    def snapshot(self) -> tuple[str, ...]:
        return self._secrets


class _MaskingFilter(logging.Filter):
    def __init__(self, secrets: _SecretRegistry) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is the logging module's business
            return True
        masked = mask_sensitive(message, self._secrets.snapshot())
        if masked != message:
            record.msg, record.args = masked, None
        return True


_SECRETS = _SecretRegistry()
_FILTER = _MaskingFilter(_SECRETS)


def register_secret(secret: str) -> None:
    """Mask ``secret`` in the HTTP libraries' log records from now on.

    Also makes sure the one filter is on each HTTP logger: checked at every registration rather than once,
    because a logging reconfiguration (``dictConfig``) may have cleared a logger's filters meanwhile.
    """
    _SECRETS.add(secret)
    for name in HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
