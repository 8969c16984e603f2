"""A provider's stop for the rest of a run: once it is out of credits or unavailable, nothing more is sent to it."""

from __future__ import annotations

import logging

from enrichment_assets.vendors.base import Attempt, CallStatus, VendorResult

logger = logging.getLogger("enrichment_assets.vendors")


class ProviderStop:
    """Whether, and why, a client stopped asking its provider this run (the first reason stays)."""

    __slots__ = ("_provider", "reason", "status")

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self.status: CallStatus | None = None
        self.reason: str | None = None

    def stop(self, status: CallStatus, reason: str) -> None:
        if self.status is not None:
            return
        self.status, self.reason = status, reason
        if status is CallStatus.UNAVAILABLE:
            logger.error("%s: provider unavailable for this run, no further requests: %s", self._provider, reason)
        else:
            logger.warning("%s: out of credits, no further requests this run: %s", self._provider, reason)

    def not_sent(self) -> str:
        """The error of a request not sent because of the stop."""
        assert self.status is not None
        return f"not sent: provider {self.status.value} earlier in this run ({self.reason})"

    def result(self, attempts: list[Attempt] | None = None) -> VendorResult:
        """The result of a lookup not sent because of the stop."""
        assert self.status is not None
        return VendorResult(provider=self._provider, status=self.status, error=self.not_sent(),
                            attempts=list(attempts or []))
