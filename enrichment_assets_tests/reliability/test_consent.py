"""Consent: Pronto personal-email enrichment only with ``providers.pronto.personal_email_consent: true``.

Without consent the client drops ``personal_email`` from ``enrichment_type``
(README, "Configuration"). With consent in the config but not on the vendor
account, Pronto answers 422 with its consent message: that is the record's
error (README, "What happens when things go wrong": 400/422), never a crash, never charged, and the
provider stays in use for the other leads.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from enrichment_assets.config import load_config
from enrichment_assets.sandbox.app import PRONTO_CONSENT_MESSAGE
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


def test_consent_refused_by_vendor_is_a_record_error_not_charged(make_sandbox, make_pipeline, tmp_path: Path) -> None:
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
    assert result.success and "Traceback" not in pipeline.log_text(result)
    db = pipeline.db

    # One request per lead, each a 422 with the consent message, none retried, none charged.
    stats = sandbox.stats()["vendors"]
    pronto = [r for r in sandbox.snapshot() if r.provider == "pronto"]
    assert stats["pronto"]["requests"] == leads and stats["pronto"]["by_status"] == {"422": leads}
    assert all(r.body["enrichment_type"] == ["phone", "personal_email"] for r in pronto)
    assert len({r.body["custom"]["record_id"] for r in pronto}) == leads
    assert stats["pronto"]["credits_charged"] == 0
    booked = ledger_by_provider(db)["pronto"]
    assert booked == {"rows": leads, "credits": 0.0, "unknown": 0, "unknown_worst_case": 0.0}
    assert query(db, "SELECT DISTINCT http_status, outcome FROM credit_ledger WHERE provider = 'pronto'") == [
        (422, "error")]

    # Recorded as each lead's error, with the vendor's reason; the provider was not stopped.
    rows = query(db, "SELECT outcome, error, credits FROM pronto_results")
    assert len(rows) == leads
    assert all(o == "error" and c == 0 and "consent" in (e or "") for o, e, c in rows), rows
    assert PRONTO_CONSENT_MESSAGE[:40] in rows[0][1]
    # The waterfall went on to LeadMagic for every lead; leads without its mobile wait for Pronto (pending).
    assert stats["leadmagic"]["requests"] == leads
    lm_found = query(db, "SELECT count(*) FROM leadmagic_results WHERE outcome = 'found'")[0][0]
    statuses = dict(query(db, "SELECT status, count(*) FROM contacts GROUP BY 1"))
    assert statuses == {k: v for k, v in {"mobile_found": lm_found, "pending": leads - lm_found}.items() if v}


class _ListSink:
    def __init__(self) -> None:
        self.rows = []

    def add(self, row) -> None:  # noqa: ANN001
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
