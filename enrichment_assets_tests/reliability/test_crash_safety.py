"""Crash safety: `enrich run` SIGKILLed at random moments, then rerun to completion.

README, "What happens when things go wrong": a response a vendor charged for is recorded
durably as soon as it arrives, so a killed run that is rerun calls no vendor
again for it; a request still in flight when the process died shows in the
ledger as ``outcome = unknown`` with its worst case.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from enrichment_assets.settings import PROVIDERS
from enrichment_assets_tests.support.accounting import (
    account_by_fingerprint,
    fingerprints_of,
    sandbox_request_fingerprints,
)
from enrichment_assets_tests.support.cli import prepare_env, run_enrich, sigkill, start_enrich
from enrichment_assets_tests.support.files import write_config, write_leads
from enrichment_assets_tests.support.sandbox import fast_sandbox_config
from enrichment_assets_tests.support.tables import journal_rows, leads_from_db, ledger_by_provider, query

KILLS = 3
LEADS = 60


def _kill_mid_waterfall(proc, sandbox, rng: random.Random, after_requests: int, timeout: float = 90.0):  # noqa: ANN001, ANN202
    """Wait until the run has sent ``after_requests`` vendor requests, wait a random moment more, SIGKILL it.

    Returns the sandbox requests that were in flight at the kill (None if the run ended by itself).
    """
    start = len(sandbox.snapshot())
    deadline = time.monotonic() + timeout
    while len(sandbox.snapshot()) - start < after_requests:
        if proc.poll() is not None:
            return None
        if time.monotonic() > deadline:
            sigkill(proc)
            raise AssertionError("the run sent no vendor request in time")
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.35))
    in_flight = [r for r in sandbox.snapshot() if not r.done]
    sigkill(proc)
    return in_flight


@pytest.mark.e2e
def test_sigkill_at_random_moments_never_pays_twice(cli_env: dict[str, str], tmp_path: Path, make_sandbox) -> None:
    seed = int(os.environ.get("RELIABILITY_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    why = f"(seed {seed}; rerun with RELIABILITY_SEED={seed})"

    sandbox = make_sandbox(fast_sandbox_config(p50=0.2, p95=0.5))
    config = write_config(tmp_path / "enrichment.yaml")
    leads_file = tmp_path / "crash_list.csv"
    write_leads(leads_file, LEADS, seed=3)
    env = prepare_env(cli_env, sandbox, config)
    db = env["ENRICHMENT_DB"]

    in_flight_at_kills = []
    for i in range(KILLS):
        proc = start_enrich(["run", str(leads_file)], env, tmp_path / f"killed_{i}.log")
        in_flight = _kill_mid_waterfall(proc, sandbox, rng, after_requests=rng.randint(1, 12))
        if in_flight is None:
            break  # the run finished before the chosen moment: nothing left to kill
        in_flight_at_kills.extend(in_flight)
        sandbox.wait_idle()  # the dead client's requests still get answered (and charged) by the vendor

    final = run_enrich(["run", str(leads_file)], env)
    assert final.returncode == 0, final.stdout[-2000:] + final.stderr[-3000:]
    sandbox.wait_idle()

    # The kills really landed while requests were on the wire.
    assert len(in_flight_at_kills) >= 1, f"no kill caught a request in flight {why}"

    # 1. Every attempt the journal never finished is in the ledger as unknown, with its worst case.
    unfinished = [r for r in journal_rows(db) if r["outcome"] is None]
    ledger = {row[0]: row[1:] for row in query(
        db, "SELECT entry_id, outcome, credits, worst_case_credits, provider FROM credit_ledger")}
    assert len(ledger) == len(journal_rows(db)), "one ledger row per journaled request"
    for row in unfinished:
        outcome, credits, worst, provider = ledger[row["attempt_id"]]
        assert (outcome, credits) == ("unknown", 0.0), (row, ledger[row["attempt_id"]])
        assert worst is not None and worst > 0, row
    mapping = sandbox_request_fingerprints(config, leads_from_db(db))
    unknown_fps = {fp for (fps,) in query(db, "SELECT request_fingerprints FROM credit_ledger "
                                               "WHERE outcome = 'unknown'") for fp in fps}
    for entry in in_flight_at_kills:
        fps = fingerprints_of(entry, mapping, config)
        assert fps and set(fps) <= unknown_fps, f"in flight at a kill but not unknown in the ledger: {entry} {why}"
    assert len(unfinished) >= len(in_flight_at_kills)

    # 2. Per request fingerprint: nothing whose answer was recorded was bought again.
    accounts = account_by_fingerprint(db, sandbox, config)
    assert accounts, "the sandbox charged nothing: the test did not exercise anything"
    for fp, acc in accounts.items():
        assert acc.ledger_paid <= 1, f"{fp} {acc}: recorded as paid twice {why}"
        assert acc.ledger_paid <= acc.sandbox_answers, f"{fp} {acc}: ledger has an answer the vendor never gave"
        assert acc.sandbox_answers <= acc.ledger_paid + acc.ledger_unknown, (
            f"{fp} {acc}: the vendor answered (and charged) more often than the ledger accounts for {why}")
        if acc.sandbox_answers == acc.ledger_paid and "crustdata" not in acc.providers:
            assert acc.ledger_credits == acc.sandbox_credits, f"{fp} {acc} {why}"

    # 3. Per provider: ledger credits == vendor charges, except answers to requests that are `unknown`.
    charged = sandbox.credits_by_provider()
    booked = ledger_by_provider(db)
    unrecorded = {p: 0.0 for p in PROVIDERS}
    for acc in accounts.values():
        if acc.sandbox_answers > acc.ledger_paid and "crustdata" not in acc.providers:
            (provider,) = acc.providers
            unrecorded[provider] += acc.sandbox_credits - (acc.ledger_credits if acc.ledger_paid else 0.0)
    for provider in PROVIDERS:
        gap = charged[provider] - booked[provider]["credits"]
        assert 0 <= gap <= booked[provider]["unknown_worst_case"], (provider, charged, booked, why)
        if provider != "crustdata":
            assert gap == unrecorded[provider], (provider, gap, unrecorded, why)
    assert sum(b["unknown"] for b in booked.values()) == len(unfinished)

    print(f"{why}: {len(in_flight_at_kills)} requests in flight at the kills, {len(unfinished)} unknown in the "
          f"ledger; charged {charged}; booked {({p: b['credits'] for p, b in booked.items()})}")

    # 4. The rerun finished the list: every lead has a final status.
    statuses = dict(query(db, "SELECT status, count(*) FROM contacts GROUP BY status"))
    leads = query(db, "SELECT count(*) FROM raw_leads")[0][0]
    assert leads == LEADS
    assert sum(statuses.values()) == LEADS and statuses.get("pending", 0) == 0, statuses
