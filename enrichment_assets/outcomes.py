"""One vocabulary for what happened to a lookup, from the vendor call to the tables.

Three enums, one per place an outcome is written, and the one mapping between them (plus how an ``unknown``
request is settled later, :class:`UnknownSettlement`):

- :class:`CallStatus`: what one lookup came to, as the vendor client (or the budget) decided;
- :class:`RowOutcome`: the ``outcome`` column of ``<provider>_results`` (one row per lead and provider);
- :class:`LedgerOutcome`: the ``outcome`` column of ``credit_ledger`` (one row per HTTP request).

The values are the strings the tables hold, a public contract: add members, never rename them.
"""

from __future__ import annotations

from enum import StrEnum


class RowOutcome(StrEnum):
    """``<provider>_results.outcome``: what became of one lead at one provider."""

    FOUND = "found"
    NOT_FOUND = "not_found"
    #: The lead lacks what the vendor needs (no request).
    INELIGIBLE = "ineligible"
    #: The provider's ``max_credits_per_run`` could not fit this lookup's worst case (no request).
    SKIPPED_BUDGET = "skipped_budget"
    #: The provider was out of credits or unusable (bad key, endpoint gone) for this run.
    UNAVAILABLE = "provider_unavailable"
    ERROR = "error"
    #: Sent, and no usable answer came back (a timeout after sending, a dropped connection, a 5xx, a 408, a 2xx
    #: that is not JSON): the vendor may have done the work and billed it. Asked again per the provider's
    #: ``retry_unknown`` (at once where a repeat cannot bill twice, else by a later run).
    UNKNOWN = "unknown"
    #: Not asked: the run had no API key for the provider (live mode), and the lead is one it could take.
    SKIPPED_NO_KEY = "skipped_no_key"


#: Outcomes that leave a lead unfinished: a rerun may still find its number (the lead is ``pending``).
PENDING_OUTCOMES: frozenset[RowOutcome] = frozenset(
    {RowOutcome.SKIPPED_BUDGET, RowOutcome.UNAVAILABLE, RowOutcome.ERROR, RowOutcome.UNKNOWN,
     RowOutcome.SKIPPED_NO_KEY})


class LedgerOutcome(StrEnum):
    """``credit_ledger.outcome``: what became of one HTTP request to a vendor."""

    FOUND = "found"
    NOT_FOUND = "not_found"
    ERROR = "error"
    RATE_LIMITED = "rate_limited"
    OUT_OF_CREDITS = "out_of_credits"
    UNAVAILABLE = "provider_unavailable"
    #: Sent, and whether the vendor did the work (and billed it) is unknown: a timeout after sending, a dropped
    #: connection, a 5xx or 408 the vendor does not document as free, a 2xx that is not JSON or cannot be read,
    #: or the process that sent it died (its lease expired) before the answer was recorded. Its ``credits`` are
    #: the certain part (0 for one request); ``worst_case_credits`` is the most it may have cost.
    UNKNOWN = "unknown"


class UnknownSettlement(StrEnum):
    """``credit_ledger.settlement``: how a later answer settled an ``unknown`` request (empty while open)."""

    #: The same question was answered by a later request of a vendor that bills a repeated question once
    #: (Lantern, by ``record_id``): this request cost nothing beyond what that answer is booked at.
    BILLED_ONCE = "billed_once"
    #: The same question was asked again and answered; whether this request was billed as well stays unknown:
    #: at most its worst case (``uncertain_credits``).
    ASKED_AGAIN = "asked_again"
    #: Its own answer, kept as received when it could not be read, was read later (a parser fix): the request
    #: is booked with what that answer says.
    READ_LATER = "read_later"


class CallStatus(StrEnum):
    """The typed outcome of one lookup (never an exception)."""

    FOUND = "found"
    NOT_FOUND = "not_found"
    #: The record's error: 400/422, malformed 200 JSON, retries exhausted on 429/5xx/timeouts.
    ERROR = "error"
    #: 402, Crustdata 403 insufficient credits, Lantern insufficient-credit 400, Enrich Layer 403.
    #: The client remembers it: later calls return it at once, with no HTTP request.
    OUT_OF_CREDITS = "out_of_credits"
    #: 401, other 403s (and 405/410: the endpoint is gone): the provider is unusable for this run.
    UNAVAILABLE = "provider_unavailable"
    #: Not asked: the provider's budget for the run could not fit the lookup's worst case.
    SKIPPED_BUDGET = "skipped_budget"
    #: Sent, and no usable answer: the vendor may have billed it (see ``RowOutcome.UNKNOWN``).
    UNKNOWN = "unknown"

    @property
    def stops_provider(self) -> bool:
        return self in (CallStatus.OUT_OF_CREDITS, CallStatus.UNAVAILABLE)

    @property
    def answered(self) -> bool:
        """The vendor answered the question (a paid answer, stored so that it is never asked again)."""
        return self in (CallStatus.FOUND, CallStatus.NOT_FOUND)

    @property
    def row_outcome(self) -> RowOutcome:
        """The lead's ``<provider>_results.outcome`` for a lookup that ended so."""
        return _ROW_OUTCOME[self]

    @property
    def ledger_outcome(self) -> LedgerOutcome:
        """The ``credit_ledger.outcome`` of the request that ended so (``SKIPPED_BUDGET`` sends none)."""
        if self is CallStatus.SKIPPED_BUDGET:
            raise ValueError("a lookup skipped for budget sent no request: it has no ledger row")
        return LedgerOutcome(self.value)


_ROW_OUTCOME: dict[CallStatus, RowOutcome] = {
    CallStatus.FOUND: RowOutcome.FOUND,
    CallStatus.NOT_FOUND: RowOutcome.NOT_FOUND,
    CallStatus.ERROR: RowOutcome.ERROR,
    CallStatus.OUT_OF_CREDITS: RowOutcome.UNAVAILABLE,
    CallStatus.UNAVAILABLE: RowOutcome.UNAVAILABLE,
    CallStatus.SKIPPED_BUDGET: RowOutcome.SKIPPED_BUDGET,
    CallStatus.UNKNOWN: RowOutcome.UNKNOWN,
}
