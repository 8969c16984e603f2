"""PII in logs: the run's output and Dagster's event log show phone numbers and emails only masked.

The numbers found and the leads' emails live in the tables (that is their job);
what a run prints, and what Dagster keeps in its event log (messages, asset
metadata, previews, compute logs), must not hold a full phone number or email.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import phonenumbers
import pytest
from dagster import DagsterInstance, serialize_value

from enrichment_assets.settings import PROVIDERS
from enrichment_assets_tests.support.live_run import LiveRun
from enrichment_assets_tests.support.tables import query

_DIGIT_RUN = re.compile(r"\+?\d[\d\s().\-/]{5,}\d")


def result_phones(db: Path) -> set[str]:
    phones = {n for row in query(db, "SELECT e164, raw FROM contact_phones") for n in row if n}
    for provider in PROVIDERS:
        phones |= {n for (ns,) in query(db, f"SELECT phones FROM {provider}_results") for n in ns or []}
    return phones


def national_digits(number: str) -> str | None:
    try:
        parsed = phonenumbers.parse(number if number.startswith("+") else "+" + number, None)
    except phonenumbers.NumberParseException:
        return None
    digits = str(parsed.national_number)
    return digits if len(digits) >= 7 else None


def leaked(text: str, phones: set[str], emails: set[str]) -> list[str]:
    found = [f"email {e}" for e in emails if e.lower() in text.lower()]
    found += [f"phone {p}" for p in phones if p in text]
    runs = {re.sub(r"\D", "", m.group(0)) for m in _DIGIT_RUN.finditer(text)}
    for phone in phones:
        national = national_digits(phone)
        if national and any(national in run for run in runs):
            found.append(f"phone {phone} (digits)")
    return sorted(set(found))


def event_log_text(live_run: LiveRun) -> str:
    """Every event of every run in the instance: messages, serialized events (metadata), plus compute logs."""
    parts: list[str] = []
    with DagsterInstance.from_config(live_run.env["DAGSTER_HOME"]) as instance:
        runs = instance.get_runs()
        assert runs, "the run is in the instance"
        for run in runs:
            for record in instance.all_logs(run.run_id):
                parts.append(record.user_message or "")
                if record.dagster_event is not None:
                    parts.append(json.dumps(json.loads(serialize_value(record.dagster_event)), ensure_ascii=False))
    for path in Path(live_run.env["DAGSTER_HOME"]).rglob("compute_logs/*"):
        if path.is_file():
            parts.append(path.read_text("utf-8", "replace"))
    return "\n".join(parts)


@pytest.mark.e2e
def test_run_output_and_event_log_hold_no_full_phone_or_email(live_run: LiveRun) -> None:
    phones = result_phones(live_run.db)
    emails = {e for (e,) in query(live_run.db, "SELECT email FROM raw_leads WHERE email IS NOT NULL")}
    emails |= {p.work_email for p in live_run.people}
    assert len(phones) >= 10 and len(emails) >= 20, (len(phones), len(emails))

    events = event_log_text(live_run)
    # The previews are there, masked: proof that we are looking at the right text.
    assert "•••" in events and re.search(r"•{4,}\d\d", events), "masked phone previews in the metadata"
    assert re.search(r"\w•••@[\w.-]+", events), "masked email previews in the metadata"

    assert leaked(live_run.output, phones, emails) == []
    assert leaked(events, phones, emails) == []


def test_the_detector_finds_full_numbers_and_emails_but_not_masked_ones() -> None:
    phones, emails = {"+4915123835827", "+1-201-303-1949"}, {"jane.doe@acme.io"}
    assert leaked("found +49 1512 3835827 for Jane.Doe@ACME.io", phones, emails) == [
        "email jane.doe@acme.io", "phone +4915123835827 (digits)"]
    assert leaked("dial (201) 303-1949", phones, emails) == ["phone +1-201-303-1949 (digits)"]
    assert leaked("best •••••••••••27, •••••••••49, j•••@acme.io, run 2026-11-23 11:52:08", phones, emails) == []
