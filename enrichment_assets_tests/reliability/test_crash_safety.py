"""Crash safety: `enrich run` SIGKILLed at random points of the whole run, each time rerun to completion.

README, "What happens when things go wrong": every request is written to the journal before it is sent and
every paid answer is stored before the run goes on, so a killed run that is rerun calls no vendor again for
an answer that arrived; a request in flight at the kill shows in the ledger as ``unknown`` with its worst
case; the next run marks the killed run failed.

The kill points (a stage: ingestion, the walk, the merge, the ledger sync, dbt; and a moment in it) come
from one seed, printed in the test header and in every failure: ``RELIABILITY_SEED=<n>`` replays them.
``RELIABILITY_KILLS`` sets how many (default 2 per run of the suite: one in the walk, one in another stage
drawn from the seed; each kill costs two `enrich run` processes); ``benchmarks/crash_soak.py`` runs many
seeds with every stage.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from enrichment_assets_tests.support import CRASH_SEED_VAR
from enrichment_assets_tests.support.cli import prepare_env
from enrichment_assets_tests.support.crash import crash_and_recover, kill_points
from enrichment_assets_tests.support.files import write_config, write_leads
from enrichment_assets_tests.support.sandbox import fast_sandbox_config

LEADS = 40


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_sigkill_anywhere_then_rerun_books_what_the_vendors_charged(cli_env: dict[str, str], tmp_path: Path,
                                                                    make_sandbox) -> None:
    seed = int(os.environ[CRASH_SEED_VAR])
    points = kill_points(seed, int(os.environ.get("RELIABILITY_KILLS", "2")))
    sandbox = make_sandbox(fast_sandbox_config())
    config = write_config(tmp_path / "enrichment.yaml")
    env = prepare_env(cli_env, sandbox, config)

    kills = []
    for i, point in enumerate(points):
        why = f"(kill {i + 1} of {len(points)}: {point}; rerun with {CRASH_SEED_VAR}={seed})"
        leads_file = tmp_path / f"crash_list_{i + 1}.csv"
        write_leads(leads_file, LEADS, seed=3 + i, prefix=f"K{i + 1}-")
        kills.append(crash_and_recover(point, leads_file, LEADS, env, config, sandbox, tmp_path / f"killed_{i}.log",
                                       why))
    print(f"{CRASH_SEED_VAR}={seed}: " + "; ".join(
        f"{k.point.stage} +{k.point.delay}s -> " + (f"killed in {','.join(k.running) or 'between steps'}, "
                                                     f"{len(k.in_flight)} requests in flight"
                                                     if k.killed else "run ended first") for k in kills))
    # The walk's kill must catch requests on the wire: that is what the journal is for.
    walk = kills[0]
    assert walk.killed and walk.in_flight, f"the walk's kill caught no request in flight ({CRASH_SEED_VAR}={seed})"
