"""``stop_when`` at every position of the waterfall and for every kind of answer a vendor gives.

The expectation table is written from the README ("Configuration", "How the best phone is chosen"), not
from the engine: ``mobile`` stops at a number libphonenumber calls MOBILE, or at a vendor's mobile claim on
a number libphonenumber cannot tell (NANP); never at an office line, a NANP number without a claim, or a
vendor calling a fixed line a mobile. ``any_phone`` stops at any valid number; ``never`` at nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from enrichment_assets.leads.model import Lead
from enrichment_assets_tests.waterfall.fakes import make_engine, run

ORDER = ["leadmagic", "pronto", "enrichlayer", "lantern", "crustdata"]

DE_MOBILE = "+4915123456789"        # libphonenumber: MOBILE
DE_OFFICE = "+493012345678"         # libphonenumber: FIXED_LINE
US_NUMBER = "+12015550123"          # libphonenumber: FIXED_LINE_OR_MOBILE (NANP)


@dataclass(frozen=True)
class Answer:
    """What one vendor returned for the lead, and whether each rule must stop there (README)."""

    provider: str
    claims: tuple[tuple[str, str | None], ...]
    stops_mobile: bool
    stops_any_phone: bool


ANSWERS = {
    # LeadMagic's endpoint returns only mobiles: its claim on a NANP number makes a mobile.
    "leadmagic-nanp-mobile": Answer("leadmagic", ((US_NUMBER, "mobile"),), True, True),
    "pronto-office-line": Answer("pronto", ((DE_OFFICE, "landline"),), False, True),
    "pronto-nanp-landline": Answer("pronto", ((US_NUMBER, "landline"),), False, True),
    "pronto-nanp-mobile-claim": Answer("pronto", ((US_NUMBER, "mobile"),), True, True),
    "pronto-de-mobile-untyped": Answer("pronto", ((DE_MOBILE, None),), True, True),
    "pronto-claims-mobile-on-fixed-line": Answer("pronto", ((DE_OFFICE, "mobile"),), False, True),
    "enrichlayer-nanp-no-claim": Answer("enrichlayer", ((US_NUMBER, None),), False, True),
    "enrichlayer-office-then-mobile": Answer("enrichlayer", ((DE_OFFICE, None), (DE_MOBILE, None)), True, True),
    "lantern-nanp-no-claim": Answer("lantern", ((US_NUMBER, None),), False, True),
    "crustdata-de-mobile": Answer("crustdata", ((DE_MOBILE, None),), True, True),
    "crustdata-nanp-no-claim": Answer("crustdata", ((US_NUMBER, None),), False, True),
    "invalid-number": Answer("lantern", (("+49123", None),), False, False),
}


def order_with(provider: str, position: int) -> list[str]:
    others = [p for p in ORDER if p != provider]
    return [*others[:position], provider, *others[position:]]


def must_stop(answer: Answer, stop_when: str) -> bool:
    return {"mobile": answer.stops_mobile, "any_phone": answer.stops_any_phone, "never": False}[stop_when]


POSITIONS = {"first": 0, "middle": 2, "last": 4}


@pytest.mark.parametrize("stop_when", ["mobile", "any_phone", "never"])
@pytest.mark.parametrize("position", list(POSITIONS))
@pytest.mark.parametrize("kind", list(ANSWERS))
def test_stop_rule(tmp_path: Path, kind: str, position: str, stop_when: str) -> None:
    answer = ANSWERS[kind]
    order = order_with(answer.provider, POSITIONS[position])
    # Two leads: the one with the answer, and one nobody knows (walks the whole waterfall whatever the rule).
    lead = Lead("l1", "hit", "Ann", "Lee", "Acme", "acme.de", None, "https://www.linkedin.com/in/hit", "DE")
    miss = Lead("l1", "miss", "Bob", "Roe", "Acme", "acme.de", None, "https://www.linkedin.com/in/miss", "DE")
    fakes = {p: {"answers": {}} for p in ORDER}
    fakes[answer.provider]["answers"] = {lead.linkedin_url: list(answer.claims)}
    config = {"waterfall": {"order": order, "stop_when": stop_when},
              "providers": {"crustdata": {"batch_wait_seconds": 0.01}}}
    engine, _, _ = make_engine(tmp_path, config, fakes)
    sink = run(engine, [lead, miss])

    reached = [r.provider for r in sink.rows if r.record_id == "hit"]
    at = order.index(answer.provider)
    expected = order[: at + 1] if must_stop(answer, stop_when) else order
    assert reached == expected, (kind, position, stop_when)
    assert [r.provider for r in sink.rows if r.record_id == "miss"] == order
    hit_row = next(r for r in sink.rows if r.record_id == "hit" and r.provider == answer.provider)
    assert hit_row.outcome == "found"
    stopped_early = must_stop(answer, stop_when) and at < len(order) - 1
    assert engine.stats.stopped_early == int(stopped_early)


@pytest.mark.parametrize(("stop_when", "stops_at"), [("mobile", "crustdata"), ("any_phone", "pronto"), ("never", None)])
def test_a_walk_past_answers_that_do_not_meet_the_rule(tmp_path: Path, stop_when: str, stops_at: str | None) -> None:
    """One lead: a Pronto office line, an Enrich Layer NANP number, nothing at Lantern, a Crustdata mobile."""
    order = ["pronto", "enrichlayer", "lantern", "crustdata", "leadmagic"]
    lead = Lead("l1", "r1", "Ann", "Lee", "Acme", "acme.de", None, "https://www.linkedin.com/in/r1", "DE")
    answers = {"pronto": [(DE_OFFICE, "office")], "enrichlayer": [(US_NUMBER, None)], "lantern": [],
               "crustdata": [(DE_MOBILE, None)], "leadmagic": [(DE_MOBILE, None)]}
    fakes = {p: {"answers": {lead.linkedin_url: a}} for p, a in answers.items()}
    config = {"waterfall": {"order": order, "stop_when": stop_when},
              "providers": {"crustdata": {"batch_wait_seconds": 0.01}}}
    engine, made, _ = make_engine(tmp_path, config, fakes)
    sink = run(engine, [lead])
    reached = [r.provider for r in sink.rows]
    assert reached == (order[: order.index(stops_at) + 1] if stops_at else order)
    assert {p: made[p].requests for p in order} == {p: int(p in reached) for p in order}
