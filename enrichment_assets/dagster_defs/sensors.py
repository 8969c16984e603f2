"""The ``lead_inbox`` sensor: a file dropped in the inbox becomes a lead list and gets enriched."""

from __future__ import annotations

import json
import time

from dagster import (
    AddDynamicPartitionsRequest,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from enrichment_assets.dagster_defs.constants import FILE_TAG, INBOX_TRIGGER, TRIGGER_TAG
from enrichment_assets.dagster_defs.jobs import enrich_list_job
from enrichment_assets.dagster_defs.partitions import lead_lists
from enrichment_assets.dagster_defs.resources import EnrichmentSettings
from enrichment_assets.leads.inbox import load_state, scan


def now() -> float:
    """The sensor's clock (seconds); tests replace it."""
    return time.time()


@sensor(
    job=enrich_list_job,
    minimum_interval_seconds=10,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Watches the inbox folder (ENRICHMENT_INBOX, default data/inbox). A new CSV, Parquet or Excel (.xlsx) file "
        "becomes a lead list partition and is enriched once its size and modification time have stayed the same "
        "for ENRICHMENT_INBOX_SETTLE_SECONDS (default 30 s), so a file still being copied is never enriched; a "
        "file whose content changed is enriched again, and only its changed leads reach a vendor. At most one run "
        "per list at a time (dagster.yaml). Columns are read as enrichment.yaml's `columns:` says."
    ),
)
def lead_inbox(context: SensorEvaluationContext, enrichment: EnrichmentSettings) -> SensorResult:
    inbox = enrichment.settings().inbox
    settle = enrichment.settle_seconds()
    ready, settling, state = scan(inbox, load_state(context.cursor), now(), settle)
    cursor = json.dumps(state, sort_keys=True)
    if not ready:
        waiting = "; ".join(f"{s.name} ({s.seconds_left:.0f}s)" for s in settling)
        reason = (f"Waiting for file(s) to stay unchanged for {settle:g}s before enriching: {waiting}" if waiting
                  else f"No new or changed lead files in {inbox}")
        return SensorResult(skip_reason=reason, cursor=cursor)
    existing = set(context.instance.get_dynamic_partitions(lead_lists.name))
    new_keys = sorted({f.list_id for f in ready if f.list_id not in existing})
    run_requests = [
        RunRequest(
            run_key=f"{f.list_id}:{f.digest[:16]}",
            partition_key=f.list_id,
            run_config={"ops": {"lead_ingestion": {"config": {"path": str(f.path)}}}},
            tags={TRIGGER_TAG: INBOX_TRIGGER, FILE_TAG: f.path.name},
        )
        for f in ready
    ]
    for f in ready:
        context.log.info(f"{'New' if f.is_new else 'Changed'} lead file {f.path.name} -> list '{f.list_id}'")
    return SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[AddDynamicPartitionsRequest(lead_lists.name, new_keys)] if new_keys else [],
        cursor=cursor,
    )
