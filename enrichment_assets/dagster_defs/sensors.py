"""The ``lead_inbox`` sensor: a file dropped in the inbox becomes a lead list and gets enriched."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from dagster import (
    AddDynamicPartitionsRequest,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from enrichment_assets.dagster_defs.jobs import enrich_list_job
from enrichment_assets.dagster_defs.partitions import lead_lists
from enrichment_assets.leads.ingest import SUPPORTED_SUFFIXES, list_id_for
from enrichment_assets.settings import load_settings


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scan_inbox(inbox: Path, cursor: dict[str, str]) -> tuple[list[tuple[Path, str, str, bool]], dict[str, str]]:
    """Files that are new or changed since ``cursor``: (path, list_id, digest, is_new), and the next cursor."""
    changes: list[tuple[Path, str, str, bool]] = []
    next_cursor = dict(cursor)
    if not inbox.is_dir():
        return changes, next_cursor
    for path in sorted(inbox.iterdir()):
        # "~$name.xlsx" is the lock file Excel keeps beside a workbook it has open, not a lead list.
        if (not path.is_file() or path.name.startswith((".", "~$"))
                or path.suffix.lower() not in SUPPORTED_SUFFIXES):
            continue
        try:
            digest = file_digest(path)
        except OSError:
            continue  # still being written or unreadable: look again next tick
        list_id = list_id_for(path)
        previous = cursor.get(path.name)
        if previous != digest:
            changes.append((path, list_id, digest, previous is None))
            next_cursor[path.name] = digest
    return changes, next_cursor


@sensor(
    job=enrich_list_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Watches the inbox folder (ENRICHMENT_INBOX, default data/inbox). A new CSV, Parquet or Excel (.xlsx) file "
        "becomes a lead list partition and is enriched; a file whose content changed is enriched again, and only "
        "its changed leads reach a vendor. Columns are read as enrichment.yaml's `columns:` says."
    ),
)
def lead_inbox(context: SensorEvaluationContext) -> SensorResult | SkipReason:
    inbox = load_settings().inbox
    cursor = json.loads(context.cursor) if context.cursor else {}
    changes, next_cursor = scan_inbox(inbox, cursor)
    if not changes:
        return SkipReason(f"No new or changed lead files in {inbox}")
    existing = set(context.instance.get_dynamic_partitions(lead_lists.name))
    new_keys = sorted({list_id for _, list_id, _, _ in changes if list_id not in existing})
    run_requests = [
        RunRequest(
            run_key=f"{list_id}:{digest[:16]}",
            partition_key=list_id,
            run_config={"ops": {"lead_ingestion": {"config": {"path": str(path)}}}},
            tags={"enrichment/trigger": "inbox", "enrichment/file": path.name},
        )
        for path, list_id, digest, _ in changes
    ]
    for path, list_id, _, is_new in changes:
        context.log.info(f"{'New' if is_new else 'Changed'} lead file {path.name} -> list '{list_id}'")
    return SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[AddDynamicPartitionsRequest(lead_lists.name, new_keys)] if new_keys else [],
        cursor=json.dumps(next_cursor, sort_keys=True),
    )
