"""``dbt build`` run inside the step's own process (dbt-core's ``dbtRunner``), its results as Dagster events.

Why not ``DbtCliResource.cli``: it starts three Python programs for one build — ``dbt --version`` in a
subprocess, a dbt adapter built in this process, then ``dbt build`` in another subprocess that imports dbt-core
again and parses the project again. Measured on the sample list (quiet machine, dagster-dbt 0.29, dbt-core
1.11): ``dbt --version`` 2.5 CPU-s, importing dbt-core 2.0 CPU-s, ``dbt build`` 3.9–5.6 CPU-s, an 11 s step in
all; this process has imported dbt-core already (dagster-dbt does, to define the assets), so in process the
same build takes 1–2.5 s. What stays dagster-dbt's: the selection (which models and tests the step's
selection means, ``get_updated_cli_invocation_params_for_context``) and the translation of each dbt result
into an ``Output`` or ``AssetCheckResult`` (``DbtCoreCliEventMessage.to_default_asset_events``), fed the
same structured events the CLI prints as JSON lines.

What the CLI printed to stdout (dbt's info, warning and error lines) is printed here too, so the run's
compute logs hold dbt's output as before (``enrich run`` shows it when the build failed). dbt's debug log
is written to ``dbt.log`` in the invocation's target folder. The profile sets ``keep_open: false`` so that
dbt-duckdb closes the DuckDB file when the build ends: this process (and the next writer in the pool) opens
it right after.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtCliRuntimeError, DagsterDbtTranslator, DbtCliResource, DbtProject
from dagster_dbt.asset_utils import extract_runtime_selection_from_args, get_updated_cli_invocation_params_for_context
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage
from dbt.cli.main import dbtRunner
from dbt_common.events.functions import msg_to_dict

#: dbt events that carry a node's result: the ones dagster-dbt turns into Dagster events.
RESULT_EVENTS = frozenset({"LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"})

#: One dbt invocation at a time per process: dbt keeps its flags, adapters and event manager in globals.
_DBT_LOCK = threading.Lock()


@dataclass
class DbtBuildResult:
    """One in-process dbt invocation: its structured events (as dbt's JSON log lines hold them) and outcome."""

    command: list[str]
    target_path: Path
    success: bool = False
    exception: BaseException | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def error_messages(self) -> list[str]:
        return [e["info"]["msg"] for e in self.events if e["info"].get("level") == "error"]

    def error(self) -> DagsterDbtCliRuntimeError | None:
        """The step's error when dbt failed (its message names the debug log and dbt's error lines)."""
        if self.success:
            return None
        log = self.target_path / "dbt.log"
        where = f", or view the dbt debug log: {log}" if log.exists() else ""
        errors = self.error_messages or ([str(self.exception)] if self.exception is not None else [])
        listed = "\n\n".join(["", "Errors parsed from dbt logs:", *errors]) if errors else ""
        return DagsterDbtCliRuntimeError(
            description=f"dbt (in process) with command\n\n`dbt {' '.join(self.command)}`\n\nfailed. Check the stdout "
                        f"in the Dagster compute logs for the full information about the error{where}.{listed}")


def profiles_dir(dbt: DbtCliResource, project: DbtProject) -> Path:
    """Where dbt finds ``profiles.yml``: the resource's setting, else ``$DBT_PROFILES_DIR``, else the project's
    folder (the dbt CLI, run from the project's folder, looks there in the same order)."""
    chosen = dbt.profiles_dir or os.environ.get("DBT_PROFILES_DIR") or project.profiles_dir
    return Path(chosen)


def dbt_command(dbt: DbtCliResource, project: DbtProject, args: Sequence[str], selection_args: Sequence[str],
                indirect_selection: str | None, target_path: Path) -> list[str]:
    """The dbt arguments ``DbtCliResource.cli`` would pass, with the folders and logging it sets by environment.

    No working-directory change (it is the whole process's): every path dbt needs is given absolute.
    """
    profile = ["--profile", dbt.profile] if dbt.profile else []
    target = ["--target", dbt.target] if dbt.target else []
    indirect = ["--indirect-selection", indirect_selection] if indirect_selection else []
    return [*dbt.global_config_flags, *args, *profile, *target, *selection_args, *indirect,
            "--project-dir", str(Path(project.project_dir).resolve()),
            "--profiles-dir", str(profiles_dir(dbt, project).resolve()),
            "--target-path", str(target_path), "--log-path", str(target_path),
            # stdout: printed by on_event below, as dagster-dbt re-prints the CLI's; the file keeps everything.
            "--log-level", "none", "--log-level-file", "debug", "--no-use-colors",
            "--no-send-anonymous-usage-stats"]


def run_dbt(command: list[str], target_path: Path, *, echo: bool = True) -> DbtBuildResult:
    """Run dbt in this process; every info, warning and error line is printed to stdout as dbt's CLI would."""
    result = DbtBuildResult(command=command, target_path=target_path)
    printing = threading.Lock()

    def on_event(msg: Any) -> None:  # called from dbt's worker threads too
        level, name = msg.info.level, msg.info.name
        if level == "debug" and name not in RESULT_EVENTS:
            return
        raw = msg_to_dict(msg)
        with printing:
            result.events.append(raw)
            if echo and level != "debug":
                sys.stdout.write(raw["info"]["msg"] + "\n")
                sys.stdout.flush()

    target_path.mkdir(parents=True, exist_ok=True)
    with _DBT_LOCK:
        outcome = dbtRunner(callbacks=[on_event]).invoke(command)
    result.success, result.exception = bool(outcome.success), outcome.exception
    if outcome.exception is not None and echo:
        sys.stdout.write(f"{outcome.exception}\n")
        sys.stdout.flush()
    return result


def build_in_process(context: AssetExecutionContext, dbt: DbtCliResource, project: DbtProject,
                     manifest: Mapping[str, Any], translator: DagsterDbtTranslator, args: Sequence[str],
                     target_path: Path) -> tuple[DbtBuildResult, list]:
    """Build the step's selection; return dbt's outcome and the Dagster events of its results, in dbt's order."""
    cleaned, selects, excludes = extract_runtime_selection_from_args(list(args))
    params = get_updated_cli_invocation_params_for_context(
        context=context, manifest=manifest, dagster_dbt_translator=translator,
        runtime_selects=selects, runtime_excludes=excludes)
    command = dbt_command(dbt, params.dbt_project or project, cleaned, params.selection_args,
                          params.indirect_selection, target_path)
    result = run_dbt(command, target_path)
    return result, list(dagster_events(result, context, params.manifest, params.dagster_dbt_translator,
                                       params.dbt_project or project))


def dagster_events(result: DbtBuildResult, context: AssetExecutionContext, manifest: Mapping[str, Any],
                   translator: DagsterDbtTranslator, project: DbtProject) -> Iterator:
    """dagster-dbt's events for each node result dbt reported."""
    for raw in result.events:
        if raw["info"].get("name") in RESULT_EVENTS:
            yield from DbtCoreCliEventMessage(raw_event=raw, event_history_metadata={}).to_default_asset_events(
                manifest=manifest, dagster_dbt_translator=translator, context=context,
                target_path=result.target_path, project=project)
