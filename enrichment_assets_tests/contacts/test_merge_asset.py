"""The merge step in Dagster: what it tells about the switchboard evidence, and lists merged by an older version."""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterInstance, materialize

from enrichment_assets.contacts.merge import merge_list_if_changed
from enrichment_assets.dagster_defs.contact_assets import merge_contacts
from enrichment_assets.definitions import build_resources
from enrichment_assets.storage.warehouse import connect
from enrichment_assets.waterfall.suppression import Suppression

from .helpers import BOARD, ORDER, two_lists


def test_merge_step_reports_the_other_lists_it_rescored(isolated_env: dict[str, str]) -> None:
    with connect(Path(isolated_env["ENRICHMENT_DB"])) as conn:
        two_lists(conn)
        merge_list_if_changed(conn, "l1", ORDER, Suppression())
        # As after an upgrade: l1 was merged by a version that kept no evidence.
        conn.execute("DELETE FROM number_evidence")
        conn.execute("DELETE FROM step_state WHERE step = 'number_evidence'")
    with DagsterInstance.ephemeral() as instance:
        result = materialize([merge_contacts], instance=instance, resources=build_resources(),
                             tags={"dagster/partition": "l2"})
    assert result.success
    metadata = {m.asset_key.path[-1]: {k: v.value for k, v in m.materialization.metadata.items()}
                for m in result.get_asset_materialization_events()}
    contacts = metadata["contacts"]
    assert contacts["lists_merged_for_evidence"] == "l1"  # its numbers count again
    assert contacts["contacts_this_run"] == 1  # l2's one lead
    assert (contacts["rescored_other_lists"], contacts["rescored_leads"], contacts["newly_shared_numbers"]) == (
        "l1", 1, 1)
    assert metadata["contact_phones"]["rescored_leads"] == 1
    with connect(Path(isolated_env["ENRICHMENT_DB"])) as conn:
        assert conn.execute("SELECT record_id, shared_with_others FROM contact_phones WHERE e164 = ? ORDER BY 1",
                            [BOARD]).fetchall() == [("ann", True), ("bob", True)]
