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
is written to ``dbt.log`` in the invocation's target folder.

The DuckDB file: dbt-duckdb keeps it open from the build's first query to its end (its default ``keep_open``),
as the ``dbt build`` process did until it exited, so that no other process takes the file's lock between two
models (with ``keep_open: false`` it closed the file whenever no model was running, and a concurrent run's
reader took the lock in such a gap: the next model failed). After the build, ``release_duckdb`` closes it:
this process, and the next writer in the pool, open it right after.
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
from dbt_common.events.functions import msg_to_dict

from enrichment_assets.storage.dbt_state import project_digest

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
    #: Whether the build used a manifest parsed ahead (``parse_ahead``) instead of parsing the project.
    parsed_ahead: bool = False

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


def _setup(dbt: DbtCliResource, project: DbtProject) -> list[str]:
    """Which project, profile and target: no working-directory change (it is the whole process's), every path
    dbt needs is given absolute."""
    profile = ["--profile", dbt.profile] if dbt.profile else []
    target = ["--target", dbt.target] if dbt.target else []
    return [*profile, *target, "--project-dir", str(Path(project.project_dir).resolve()),
            "--profiles-dir", str(profiles_dir(dbt, project).resolve())]


def _output(target_path: Path) -> list[str]:
    """Artifacts and dbt.log in ``target_path``; stdout left to ``run_dbt`` (it prints what dbt's CLI would)."""
    return ["--target-path", str(target_path), "--log-path", str(target_path), "--log-level", "none",
            "--log-level-file", "debug", "--no-use-colors", "--no-send-anonymous-usage-stats"]


def dbt_command(dbt: DbtCliResource, project: DbtProject, args: Sequence[str], selection_args: Sequence[str],
                indirect_selection: str | None, target_path: Path) -> list[str]:
    """The dbt arguments ``DbtCliResource.cli`` would pass, with the folders and logging it sets by environment."""
    indirect = ["--indirect-selection", indirect_selection] if indirect_selection else []
    return [*dbt.global_config_flags, *args, *selection_args, *indirect, *_setup(dbt, project),
            *_output(target_path)]


#: Manifests parsed ahead of their build (``parse_ahead``), by everything the parse depended on.
_parsed_ahead: dict[tuple, Any] = {}


def _manifest_key(dbt: DbtCliResource, project: DbtProject, dbt_vars: str) -> tuple:
    """What a parsed manifest depends on: the flags, vars, profile and target, the ``DBT_*`` environment (dbt
    reads its flags from it) and the content of the project's files."""
    env = tuple(sorted((k, v) for k, v in os.environ.items()
                       if k.startswith("DBT_") and k not in ("DBT_TARGET_PATH", "DBT_LOG_PATH")))
    return (tuple(dbt.global_config_flags), dbt_vars, tuple(_setup(dbt, project)), env,
            project_digest(Path(project.project_dir), profiles_dir(dbt, project)))


def _vars_of(args: Sequence[str]) -> str:
    return args[list(args).index("--vars") + 1] if "--vars" in args else ""


def parse_ahead(dbt: DbtCliResource, project: DbtProject, dbt_vars: str, target_path: Path) -> bool:
    """Parse the project now, for a build with these vars later in this process, which then skips its parse.

    Meant for a thread with time on its hands (``enrich run`` calls it while the waterfall waits on the
    vendors). The build uses the result only if nothing it depends on changed meanwhile (``_manifest_key``).
    """
    from dbt.cli.main import dbtRunner  # dbt-core's runner: about 1 CPU-s to import, only when dbt is to run

    key = _manifest_key(dbt, project, dbt_vars)
    command = [*dbt.global_config_flags, "parse", "--vars", dbt_vars, *_setup(dbt, project), *_output(target_path)]
    target_path.mkdir(parents=True, exist_ok=True)
    with _DBT_LOCK:
        outcome = dbtRunner().invoke(command)
        if outcome.success and outcome.result is not None:
            _parsed_ahead[key] = outcome.result
    return bool(outcome.success)


def run_dbt(command: list[str], target_path: Path, *, manifest: Any = None) -> DbtBuildResult:
    """Run dbt in this process; every info, warning and error line is printed to stdout as dbt's CLI would.

    ``manifest``: a parsed project (``parse_ahead``), so that dbt does not parse it again.
    """
    from dbt.cli.main import dbtRunner

    result = DbtBuildResult(command=command, target_path=target_path)
    printing = threading.Lock()

    def on_event(msg: Any) -> None:  # called from dbt's worker threads too
        level, name = msg.info.level, msg.info.name
        if level == "debug" and name not in RESULT_EVENTS:
            return
        raw = msg_to_dict(msg)
        with printing:
            result.events.append(raw)
            if level != "debug":
                sys.stdout.write(raw["info"]["msg"] + "\n")
                sys.stdout.flush()

    target_path.mkdir(parents=True, exist_ok=True)
    try:
        outcome = dbtRunner(manifest=manifest, callbacks=[on_event]).invoke(command)
    finally:
        release_duckdb()
    result.success, result.exception = bool(outcome.success), outcome.exception
    if outcome.exception is not None:
        sys.stdout.write(f"{outcome.exception}\n")
        sys.stdout.flush()
    return result


def release_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb opened in this process (it keeps it open for the next invocation)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    try:
        environment = DuckDBConnectionManager.env()
    except Exception:  # noqa: BLE001 - dbt-duckdb raises a bare Exception when no database was opened
        return
    environment.close()
    DuckDBConnectionManager.close_all_connections()


def build_in_process(context: AssetExecutionContext, dbt: DbtCliResource, project: DbtProject,
                     manifest: Mapping[str, Any], translator: DagsterDbtTranslator, args: Sequence[str],
                     target_path: Path) -> tuple[DbtBuildResult, list]:
    """Build the step's selection; return dbt's outcome and the Dagster events of its results, in dbt's order."""
    cleaned, selects, excludes = extract_runtime_selection_from_args(list(args))
    params = get_updated_cli_invocation_params_for_context(
        context=context, manifest=manifest, dagster_dbt_translator=translator,
        runtime_selects=selects, runtime_excludes=excludes)
    project = params.dbt_project or project
    command = dbt_command(dbt, project, cleaned, params.selection_args, params.indirect_selection, target_path)
    with _DBT_LOCK:  # waits for a parse ahead still going, then takes its manifest if it fits this build
        # The key hashes the project's files: only worth computing when a parse ahead left a manifest.
        parsed = _parsed_ahead.pop(_manifest_key(dbt, project, _vars_of(cleaned)), None) if _parsed_ahead else None
        _parsed_ahead.clear()
        result = run_dbt(command, target_path, manifest=parsed)
    result.parsed_ahead = parsed is not None
    return result, list(dagster_events(result, context, params.manifest, params.dagster_dbt_translator, project))


def dagster_events(result: DbtBuildResult, context: AssetExecutionContext, manifest: Mapping[str, Any],
                   translator: DagsterDbtTranslator, project: DbtProject) -> Iterator:
    """dagster-dbt's events for each node result dbt reported."""
    for raw in result.events:
        if raw["info"].get("name") in RESULT_EVENTS:
            yield from DbtCoreCliEventMessage(raw_event=raw, event_history_metadata={}).to_default_asset_events(
                manifest=manifest, dagster_dbt_translator=translator, context=context,
                target_path=result.target_path, project=project)
