"""Consent: Pronto personal-email enrichment only with ``providers.pronto.personal_email_consent: true``.

Without consent the client drops ``personal_email`` from ``enrichment_type``
(README, "Configuration"). With consent in the config but not on the vendor
account, Pronto answers 422 with its consent message for the whole request (its phone part too): the first
such answer turns personal-email enrichment off for the rest of the run (one log line), and the lead is asked
again without it. Never a crash, never charged, and the provider stays in use for every lead.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from enrichment_assets.config import load_config
from enrichment_assets.sandbox.pronto_api import PRONTO_CONSENT_MESSAGE
from enrichment_assets.vendors import CLIENTS
from enrichment_assets_tests.support.files import write_config, write_leads
from enrichment_assets_tests.support.live_run import LiveRun
from enrichment_assets_tests.support.sandbox import fast_sandbox_config
from enrichment_assets_tests.support.tables import ledger_by_provider, query


def pronto_types(config_path: Path) -> list[str]:
    config = load_config(config_path)
    return CLIENTS["pronto"](config.provider("pronto"), "test-key-0000", "http://127.0.0.1:9").enrichment_types


def test_personal_email_needs_consent_in_config(tmp_path: Path) -> None:
    asked = ["phone", "personal_email", "email"]
    assert pronto_types(write_config(tmp_path / "a.yaml", pronto={"enrichment_type": asked})) == ["phone", "email"]
    assert pronto_types(write_config(tmp_path / "b.yaml", pronto={"enrichment_type": asked,
                                                                   "personal_email_consent": False})) == [
        "phone", "email"]
    assert pronto_types(write_config(tmp_path / "c.yaml", pronto={"enrichment_type": asked,
                                                                   "personal_email_consent": True})) == asked
    assert pronto_types(write_config(tmp_path / "d.yaml")) == ["phone"]


@pytest.mark.e2e
def test_without_consent_pronto_is_never_asked_for_personal_emails(live_run: LiveRun) -> None:
    config = yaml.safe_load(live_run.config.read_text())
    assert "personal_email" in config["providers"]["pronto"]["enrichment_type"]
    assert "personal_email_consent" not in config["providers"]["pronto"]
    pronto = [r for r in live_run.sandbox.snapshot() if r.provider == "pronto"]
    assert len(pronto) >= 5
    assert [r.body["enrichment_type"] for r in pronto] == [["phone"]] * len(pronto)
    assert all(r.status == 200 for r in pronto)
    assert live_run.sandbox.stats()["vendors"]["pronto"]["by_status"] == {"200": len(pronto)}


def test_consent_refused_by_vendor_turns_personal_email_off_and_asks_again(make_sandbox, make_pipeline,
                                                                          tmp_path: Path) -> None:
    sandbox = make_sandbox(fast_sandbox_config())  # the vendor account has not consented (sandbox default)
    off = {"enabled": False}
    config = write_config(tmp_path / "enrichment.yaml", waterfall={"order": ["pronto", "leadmagic"]},
                          pronto={"enrichment_type": ["phone", "personal_email"], "personal_email_consent": True},
                          enrichlayer=off, lantern=off, crustdata=off)
    leads_file = tmp_path / "consent.csv"
    leads = 12
    write_leads(leads_file, leads, seed=31)
    pipeline = make_pipeline(sandbox)

    result = pipeline.run(leads_file, config)
    output = pipeline.log_text(result)
    assert result.success and "Traceback" not in output
    db = pipeline.db

    # One request with personal_email goes first and alone; its 422 turns personal_email off for the run, and
    # every lead (that one again) is asked for its phone only. Nothing charged for the refusal.
    stats = sandbox.stats()["vendors"]
    pronto = [r for r in sandbox.snapshot() if r.provider == "pronto"]
    assert stats["pronto"]["by_status"] == {"422": 1, "200": leads}
    assert pronto[0].status == 422 and pronto[0].body["enrichment_type"] == ["phone", "personal_email"]
    assert all(r.body["enrichment_type"] == ["phone"] for r in pronto[1:])
    assert len({r.body["custom"]["record_id"] for r in pronto[1:]}) == leads
    booked = ledger_by_provider(db)["pronto"]
    assert booked["credits"] == stats["pronto"]["credits_charged"]
    assert booked["rows"] == leads + 1 and booked["unknown"] == 0
    assert query(db, "SELECT outcome, credits FROM credit_ledger WHERE provider = 'pronto' AND http_status = 422"
                 ) == [("error", 0.0)]
    assert output.count("has not consented to personal-email enrichment") == 1

    # Every lead got Pronto's answer; none is left with the consent error.
    rows = query(db, "SELECT outcome, error FROM pronto_results")
    assert len(rows) == leads
    assert {o for o, _ in rows} <= {"found", "not_found"}, rows
    assert PRONTO_CONSENT_MESSAGE not in output  # the log line says it in our words, once


class _ListSink:
    def __init__(self) -> None:
        self.rows = []

    def add(self, row) -> None:
        self.rows.append(row)


def test_consented_personal_email_charges_reach_the_ledger(tmp_path: Path, make_sandbox) -> None:
    import asyncio

    from enrichment_assets.leads.model import Lead
    from enrichment_assets.storage.response_store import ResponseStore
    from enrichment_assets.waterfall.engine import WaterfallEngine
    from enrichment_assets_tests.support.sandbox import WORLD

    sandbox = make_sandbox(fast_sandbox_config(pronto={"personal_email_consent": True}))
    off = {"enabled": False}
    config = load_config(write_config(
        tmp_path / "enrichment.yaml", waterfall={"order": ["pronto"]}, leadmagic=off, enrichlayer=off, lantern=off,
        crustdata=off, pronto={"enrichment_type": ["phone", "personal_email"], "personal_email_consent": True}))
    people = WORLD.people[100:130]
    leads = [Lead("consent", f"C{i}", p.first_name, p.last_name, p.company, p.domain, p.work_email, p.linkedin_url,
                  p.country) for i, p in enumerate(people)]
    with ResponseStore(tmp_path / "store.sqlite") as store:
        engine = WaterfallEngine(config, lambda p, journal: CLIENTS[p](config.provider(p), "test-key-0000",
                                                                       sandbox.base_url, journal),
                                 store, run_id="r1", list_id="consent")
        asyncio.run(engine.run(leads, _ListSink()))
        booked = sum(a.credits or 0 for a in store.attempts())
    pronto = [r for r in sandbox.snapshot() if r.provider == "pronto"]
    assert len(pronto) == len(leads) and all("personal_email" in r.body["enrichment_type"] for r in pronto)
    charged = sandbox.stats()["vendors"]["pronto"]["credits_charged"]
    assert charged > 0
    assert booked == charged
