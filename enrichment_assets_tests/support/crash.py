"""SIGKILL ``enrich run`` at a chosen point of the run, rerun it, and hold the ledger to the sandbox's charges.

A kill point is a stage of the run (ingestion, the waterfall walk, the merge, the ledger sync, dbt) and a
moment in it drawn from a seeded ``random.Random``: the same seed gives the same kill points. With
``--verbose --log-level DEBUG`` the CLI prints Dagster's step events as they happen (``STEP_START`` of each
step); the killer waits for the stage's step to start (for the walk: for a number of vendor requests), waits
its random moment more, and kills the process group. The step that was running at the kill is read back from
the same output.

Used by ``reliability/test_crash_safety.py`` (a few kills per CI run) and ``benchmarks/crash_soak.py`` (many).
"""

from __future__ import annotations

import random
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from enrichment_assets.settings import PROVIDERS
from enrichment_assets_tests.support.accounting import (
    account_by_fingerprint,
    fingerprints_of,
    sandbox_request_fingerprints,
)
from enrichment_assets_tests.support.cli import run_enrich, sigkill, start_enrich
from enrichment_assets_tests.support.sandbox import RecordingSandbox, SandboxRequest
from enrichment_assets_tests.support.tables import (
    journal_rows,
    leads_from_db,
    ledger_by_provider,
    query,
)

#: Stage -> the Dagster step whose start the killer waits for.
STAGE_STEPS = {
    "ingest": "lead_ingestion",
    "walk": "waterfall",
    "merge": "merge_contacts",
    "ledger": "credit_ledger",
    "dbt": "dbt_marts",
}
STAGES = tuple(STAGE_STEPS)
#: How long after its step started a stage may be killed (a fraction of the step's usual length on a small list).
STAGE_DELAY = {"ingest": 0.3, "walk": 0.35, "merge": 0.4, "ledger": 0.15, "dbt": 4.0}

_STEP_EVENT = re.compile(r" - (\w+) - (STEP_START|STEP_SUCCESS|STEP_FAILURE) - ")


@dataclass(frozen=True)
class KillPoint:
    stage: str
    delay: float            # seconds after the stage began (for the walk: after ``after_requests`` requests)
    after_requests: int = 0


def kill_points(seed: int, kills: int) -> list[KillPoint]:
    """``kills`` kill points from ``seed``: the first in the waterfall walk (where money moves), the others in
    distinct stages drawn from all five."""
    rng = random.Random(seed)
    stages = ["walk", *rng.sample([s for s in STAGES if s != "walk"], k=min(kills - 1, len(STAGES) - 1))]
    while len(stages) < kills:
        stages.append(rng.choice(STAGES))
    return [KillPoint(stage, round(rng.uniform(0.0, STAGE_DELAY[stage]), 3),
                      rng.randint(1, 12) if stage == "walk" else 0) for stage in stages[:kills]]


def running_steps(log_text: str) -> list[str]:
    """Steps started and not finished, from Dagster's step events in the CLI's output."""
    running: list[str] = []
    for step, event in _STEP_EVENT.findall(log_text):
        if event == "STEP_START":
            running.append(step)
        elif step in running:
            running.remove(step)
    return running


@dataclass
class Kill:
    point: KillPoint
    killed: bool                                # False: the run ended before the kill point
    running: list[str] = field(default_factory=list)   # the steps running at the kill
    in_flight: list[SandboxRequest] = field(default_factory=list)  # vendor requests on the wire at the kill


def kill_at(point: KillPoint, proc: subprocess.Popen, log: Path, sandbox: RecordingSandbox,
            timeout: float = 180.0) -> Kill:
    """Wait for the kill point of ``proc`` (an ``enrich run`` started with ``start_enrich``), then SIGKILL it."""
    step = STAGE_STEPS[point.stage]
    start_requests = len(sandbox.snapshot())
    deadline = time.monotonic() + timeout

    def reached() -> bool:
        text = log.read_text(encoding="utf-8", errors="replace")
        if f" - {step} - STEP_START - " not in text:
            return False
        return point.stage != "walk" or len(sandbox.snapshot()) - start_requests >= point.after_requests

    while not reached():
        if proc.poll() is not None:
            return Kill(point, killed=False)
        if time.monotonic() > deadline:
            sigkill(proc)
            raise AssertionError(f"{point}: the run did not reach its kill point in {timeout:.0f} s")
        time.sleep(0.01)
    time.sleep(point.delay)
    if proc.poll() is not None:
        return Kill(point, killed=False)
    in_flight = sandbox.in_flight_across(lambda: sigkill(proc))
    return Kill(point, killed=True, running=running_steps(log.read_text(encoding="utf-8", errors="replace")),
                in_flight=in_flight)


#: Vendor latency (p50, p95 in seconds) while a walk is to be killed.
WALK_LATENCY = (0.2, 0.5)


def set_latency(sandbox: RecordingSandbox, latency: tuple[float, float]) -> None:
    sandbox.patch({"vendors": {p: {"latency": {"p50": latency[0], "p95": latency[1]}} for p in PROVIDERS}})


@dataclass
class Totals:
    charged: dict[str, float]
    booked: dict[str, float]
    unknown: int


def totals(db: str | Path, sandbox: RecordingSandbox) -> Totals:
    booked = ledger_by_provider(db) if Path(db).exists() else {}
    return Totals(charged=sandbox.credits_by_provider(),
                  booked={p: booked.get(p, {}).get("credits", 0.0) for p in PROVIDERS},
                  unknown=sum(b["unknown"] for b in booked.values()))


def crash_and_recover(point: KillPoint, leads_file: Path, leads: int, env: dict[str, str], config: Path,
                      sandbox: RecordingSandbox, log: Path, why: str) -> Kill:
    """Run ``leads_file``, kill the run at ``point``, rerun it to completion, and check the money.

    After the rerun: every request the journal never finished is ``unknown`` in the ledger with its worst
    case (those on the wire at the kill among them); nothing recorded as paid was bought again; per provider
    the ledger's credits are what the sandbox charged, but for the answers to requests shown as unknown (the
    process died before it could record them); a kill outside the walk changed no money at all. The list
    is finished (no lead pending) and the killed run is marked failed.
    """
    db = env["ENRICHMENT_DB"]
    before = totals(db, sandbox)
    # Vendors answer slowly only while a walk is to be killed (requests must be on the wire then); everything
    # else runs without latency, to keep the test short.
    set_latency(sandbox, WALK_LATENCY if point.stage == "walk" else (0.0, 0.0))
    # DEBUG: the CLI then prints Dagster's step events (STEP_START ...), which say where the run is.
    proc = start_enrich(["run", str(leads_file), "--verbose", "--log-level", "DEBUG"], env, log)
    kill = kill_at(point, proc, log, sandbox)
    sandbox.wait_idle()  # a dead client's requests are still answered (and charged) by the vendor

    set_latency(sandbox, (0.0, 0.0))
    final = run_enrich(["run", str(leads_file)], env)
    assert final.returncode == 0, f"rerun after {kill.point} failed {why}\n" + (final.stdout + final.stderr)[-4000:]
    sandbox.wait_idle()

    # 1. Every request the journal never finished is in the ledger as unknown, with its worst case.
    journal = journal_rows(db)
    ledger = {row[0]: row[1:] for row in query(
        db, "SELECT entry_id, outcome, credits, worst_case_credits FROM credit_ledger")}
    assert len(ledger) == len(journal), f"one ledger row per journaled request {why}"
    unfinished = [r for r in journal if r["outcome"] is None]
    for row in unfinished:
        outcome, credits, worst = ledger[row["attempt_id"]]
        assert (outcome, credits) == ("unknown", 0.0) and worst and worst > 0, (row, ledger[row["attempt_id"]], why)
    mapping = sandbox_request_fingerprints(config, leads_from_db(db))
    unknown_fps = {fp for (fps,) in query(db, "SELECT request_fingerprints FROM credit_ledger "
                                               "WHERE outcome = 'unknown'") for fp in fps}
    for entry in kill.in_flight:
        fps = fingerprints_of(entry, mapping, config)
        assert fps and set(fps) <= unknown_fps, f"in flight at the kill but not unknown in the ledger: {entry} {why}"

    # 2. Per request fingerprint: nothing whose answer was recorded was bought again.
    accounts = account_by_fingerprint(db, sandbox, config)
    for fp, acc in accounts.items():
        assert acc.ledger_paid <= 1, f"{fp} {acc}: recorded as paid twice {why}"
        assert acc.ledger_paid <= acc.sandbox_answers, f"{fp} {acc}: an answer the vendor never gave {why}"
        assert acc.sandbox_answers <= acc.ledger_paid + acc.ledger_unknown, (
            f"{fp} {acc}: the vendor answered (and charged) more often than the ledger accounts for {why}")
        if acc.sandbox_answers == acc.ledger_paid and "crustdata" not in acc.providers:
            assert acc.ledger_credits == acc.sandbox_credits, f"{fp} {acc} {why}"

    # 3. Per provider: the ledger's credits == the sandbox's charges, but for answers to requests left unknown.
    after = totals(db, sandbox)
    booked = ledger_by_provider(db)
    unrecorded = dict.fromkeys(PROVIDERS, 0.0)
    for acc in accounts.values():
        if acc.sandbox_answers > acc.ledger_paid and "crustdata" not in acc.providers:
            (provider,) = acc.providers
            unrecorded[provider] += acc.sandbox_credits - (acc.ledger_credits if acc.ledger_paid else 0.0)
    for provider in PROVIDERS:
        gap = after.charged[provider] - after.booked[provider]
        assert 0 <= gap <= booked[provider]["unknown_worst_case"] + 1e-9, (provider, after, why)
        if provider != "crustdata":
            assert gap == unrecorded[provider], (provider, gap, unrecorded, why)
    assert after.unknown == len(unfinished)
    if kill.killed and "waterfall" not in kill.running:
        # Killed outside the walk: no request was on the wire, so this kill and rerun changed no money
        # beyond what the rerun itself paid, booked exactly.
        assert not kill.in_flight, (kill, why)
        assert after.unknown == before.unknown, (kill, why)
        for provider in PROVIDERS:
            assert after.charged[provider] - before.charged[provider] == \
                after.booked[provider] - before.booked[provider], (provider, kill, before, after, why)

    # 4. The rerun finished the list, and the killed run is marked failed.
    list_id = leads_file.stem.lower()
    statuses = dict(query(db, "SELECT status, count(*) FROM contacts WHERE list_id = ? GROUP BY status", [list_id]))
    assert sum(statuses.values()) == leads and statuses.get("pending", 0) == 0, (statuses, why)
    if kill.killed:
        from dagster import DagsterInstance, DagsterRunStatus

        with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            statuses_of_runs = [r.status for r in instance.get_runs()]
        assert DagsterRunStatus.STARTED not in statuses_of_runs, (statuses_of_runs, why)
    return kill
