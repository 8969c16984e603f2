"""The dbt project in ``dbt/`` (RevOps models on the pipeline's tables) as Dagster assets.

Each dbt source is the pipeline asset of the same name (``contacts``, ``credit_ledger``, ...), so the models
sit downstream of them in the asset graph (group ``marts``), and the source tests show as asset checks on
those assets. dbt writes the same DuckDB file as the pipeline and DuckDB allows one writing process, so the
dbt step runs in the ``duckdb_writers`` pool with the other writers. dbt runs inside the step's process
(``dagster_defs/dbt_build.py``: no dbt subprocess), and the step opens the file only after dbt's build ended
and dbt-duckdb closed it.

The manifest: ``dbt/target/`` is not in git. Loading this module runs ``dbt parse`` (a few seconds, no
database access) when ``dbt/target/manifest.json`` is missing or older than a file of the dbt project, so a
fresh clone, ``enrich run``, ``dagster dev`` and ``dagster definitions validate`` need no manual step, and an
edited model is picked up at the next load. Concurrent loads wait on a file lock.

Unchanged reruns: ``dbt build`` costs 1–3 s even when nothing changed. The step skips it when the
tables dbt reads (the project's sources), the project's files, the vars and the selection are the same as
at the last successful build recorded in the DuckDB file (``storage/dbt_state.py``), and says so in the
run's log. A skipped step yields no materializations and no check results: Dagster keeps showing those of
the build that made the models, which are still current.
"""

import hashlib
import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
from dagster import AssetCheckSpec, AssetExecutionContext, AssetKey, Output
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    DbtProjectPreparer,
    dbt_assets,
)
from filelock import FileLock

from enrichment_assets.dagster_defs.constants import DUCKDB_POOL, MARTS_GROUP, OWNERS
from enrichment_assets.dagster_defs.dbt_build import build_in_process, parse_ahead, profiles_dir
from enrichment_assets.dagster_defs.resources import EnrichmentSettings
from enrichment_assets.settings import repo_root
from enrichment_assets.storage.dbt_state import (
    BuildPlan,
    Table,
    describe_sources,
    forget_build,
    plan_build,
    project_digest,
    project_files,
    qualified,
    record_build,
    source_tables,
)
from enrichment_assets.storage.warehouse import connect


def dbt_project_dir() -> Path:
    """``dbt/`` of the source checkout (editable install), else of the repo root (the working directory)."""
    for candidate in (Path(__file__).resolve().parents[2] / "dbt", repo_root() / "dbt"):
        if (candidate / "dbt_project.yml").exists():
            return candidate
    raise FileNotFoundError("dbt project not found: expected dbt/dbt_project.yml in the repo root")


def manifest_is_stale(project: DbtProject) -> bool:
    """True when the manifest is missing or older than any file dbt reads to build it."""
    if not project.manifest_path.exists():
        return True
    built = project.manifest_path.stat().st_mtime
    return any(p.stat().st_mtime > built for p in project_files(project.project_dir, project.profiles_dir))


def dbt_executable() -> str:
    """The ``dbt`` installed beside this Python (``.venv/bin/enrich`` works without activating the venv)."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


class StaleManifestPreparer(DbtProjectPreparer):
    """dagster-dbt's preparer interface, run at every load of the definitions: ``dbt parse`` when the manifest
    is missing or older than a file of the project, under a file lock, with the ``dbt`` beside this Python.

    Not dagster-dbt's own ``DagsterDbtProjectPreparer`` (the one ``DbtProject`` carries), for two reasons read in
    and checked against the installed dagster-dbt 0.29:
    - its ``prepare_if_dev`` parses only under ``dagster dev`` (``DAGSTER_IS_DEV_CLI``), so ``enrich run``,
      ``dagster definitions validate`` and a fresh clone would find no manifest; its ``prepare`` parses at every
      call, stale or not, which every ``enrich run`` would pay (``dbt parse --quiet`` of this project, measured:
      5.2 s CPU from scratch, 3.3 s with its partial-parse state);
    - it runs the ``dbt`` found on PATH: with the virtualenv not activated (``.venv/bin/enrich run``) dagster-dbt
      refuses with "The dbt executable 'dbt' was not found on PATH" (checked with ``PATH=/usr/bin:/bin``).
    """

    def prepare_if_dev(self, project: DbtProject) -> None:
        if manifest_is_stale(project):
            self.prepare(project)

    def prepare(self, project: DbtProject) -> None:
        project.manifest_path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(project.manifest_path.with_suffix(".lock")), timeout=300):
            if manifest_is_stale(project):  # another process may have parsed while this one waited
                DbtCliResource(project_dir=project, dbt_executable=dbt_executable()).cli(
                    ["parse", "--quiet"], target_path=project.target_path).wait()


def prepare_dbt_project(project: DbtProject) -> DbtProject:
    """Make ``project.manifest_path`` loadable and current: ``dbt parse`` when it is missing or stale."""
    StaleManifestPreparer().prepare_if_dev(project)
    return project


dbt_project = prepare_dbt_project(DbtProject(project_dir=dbt_project_dir()))
#: Loaded once: the assets are defined from it, and the step reads its sources (the tables dbt reads).
dbt_manifest: dict[str, Any] = json.loads(dbt_project.manifest_path.read_text(encoding="utf-8"))


class EnrichmentDbtTranslator(DagsterDbtTranslator):
    """dbt sources are the pipeline's own assets (``source('enrichment', 'contacts')`` is ``contacts``);
    models go in the ``marts`` group, owned by RevOps data."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey(dbt_resource_props["name"])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return MARTS_GROUP

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return list(OWNERS)

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project) -> AssetCheckSpec | None:
        """dbt tests as asset checks; those on the pipeline's tables (source tests) are not blocking.

        A blocking check on ``contacts`` would hold back ``provider_performance`` until the dbt step ran,
        while ``provider_funnel`` (in that step) needs ``provider_performance`` first: Dagster would then
        split the dbt step in two and run dbt twice per run. dbt itself still skips the models downstream
        of a failing source test, and the failure fails the run.
        """
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or not spec.blocking or not unique_id.startswith("test.") or not any(
                parent.startswith("source.") for parent in manifest["parent_map"].get(unique_id, [])):
            return spec
        return AssetCheckSpec(name=spec.name, asset=spec.asset_key, description=spec.description,
                              additional_deps=spec.additional_deps, metadata=spec.metadata, blocking=False)


translator = EnrichmentDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True))


def model_tables(manifest: Mapping[str, Any]) -> dict[AssetKey, Table]:
    """Each model's asset key and its relation ``(schema, alias)`` in the DuckDB file."""
    tables = {}
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] in ("model", "seed", "snapshot"):
            key = translator.get_asset_spec(manifest, unique_id, dbt_project).key
            tables[key] = (node["schema"], node.get("alias") or node["name"])
    return tables


def model_relations(manifest: Mapping[str, Any]) -> dict[AssetKey, str]:
    """Each model's asset key and its quoted relation (``"schema"."alias"``) in the DuckDB file."""
    return {key: qualified(table) for key, table in model_tables(manifest).items()}


def row_counts(conn: duckdb.DuckDBPyConnection, relations: Mapping[AssetKey, str],
               keys: set[AssetKey]) -> dict[AssetKey, int]:
    """Row count of each built model."""
    return {key: conn.execute(f"SELECT count(*) FROM {relations[key]}").fetchall()[0][0]  # noqa: S608
            for key in keys if key in relations}


def plan_dbt_build(context: AssetExecutionContext, dbt: DbtCliResource, db_path: Path,
                   args: list[str]) -> BuildPlan:
    """Whether this step's ``dbt build`` would read the same as the last successful one.

    Opens the DuckDB file and closes it again before returning: dbt needs the write lock. When dbt is to
    run, the record of the last build is deleted first (a failed build leaves the models half-updated).
    """
    models = model_tables(dbt_manifest)
    conn = connect(db_path)
    try:
        plan = plan_build(
            conn,
            sources=source_tables(dbt_manifest),
            models=[models[k] for k in context.selected_asset_keys if k in models],
            project=project_digest(dbt_project.project_dir, profiles_dir(dbt, dbt_project)),
            invocation={"args": args, "profile": dbt.profile, "target": dbt.target,
                        "global_config_flags": list(dbt.global_config_flags)},
            selection=[k.to_user_string() for k in context.selected_asset_keys]
            + [k.to_user_string() for k in context.selected_asset_check_keys],
        )
        if not plan.skip:
            forget_build(conn)
        return plan
    finally:
        conn.close()


@dbt_assets(
    manifest=dbt_manifest,
    project=dbt_project,
    dagster_dbt_translator=translator,
    name="dbt_marts",
    pool=DUCKDB_POOL,
)
def dbt_marts(context: AssetExecutionContext, dbt: DbtCliResource, enrichment: EnrichmentSettings) -> Iterator:
    """``dbt build`` of the selected models and their tests, on the pipeline's DuckDB file.

    Skipped (no materializations, no check results) when the dbt sources, the dbt project, the vars and
    the selection are all the same as at the last successful build; the run's log says so.
    """
    db_path = enrichment.settings().db_path
    args = ["build", "--vars", build_vars(db_path)]
    plan = plan_dbt_build(context, dbt, db_path, args)
    if plan.skip:
        context.log.info(
            f"dbt build skipped: dbt sources and project unchanged since the build of run {plan.previous.run_id} "
            f"at {plan.previous.built_at}; same project files, vars and selection "
            f"({len(context.selected_asset_keys)} models, {len(context.selected_asset_check_keys)} tests). "
            f"Sources: {describe_sources(plan.inputs.sources)}. The models and test results of that build are "
            "current, so this step materializes nothing.")
        return
    context.log.info(f"Running dbt build: {'; '.join(plan.reasons)}.")
    op_name = context.op_execution_context.op.name
    target = dbt_target_dir() / f"{op_name}-{context.run.run_id[:7]}-{uuid.uuid4().hex[:7]}"  # as dagster-dbt names it
    seed_parse_state(target, db_path)
    # dbt holds the DuckDB file until its build ends: collect its events, then count rows.
    build, events = build_in_process(context, dbt, dbt_project, dbt_manifest, translator, args, target)
    error = build.error()
    context.log.debug("dbt build used the project parsed during the walk" if build.parsed_ahead
                      else "dbt build parsed the project")
    built = {context.asset_key_for_output(e.output_name): e for e in events if isinstance(e, Output)}
    conn = connect(db_path)
    try:
        counts = row_counts(conn, model_relations(dbt_manifest), set(built))
        if error is None and plan.inputs is not None:
            # The inputs were read before dbt ran: a table written meanwhile only makes the next run build.
            record_build(conn, plan.inputs, context.run.run_id)
    finally:
        conn.close()
    for event in events:
        if isinstance(event, Output):
            key = context.asset_key_for_output(event.output_name)
            if key in counts:
                event = event.with_metadata({**event.metadata, "dagster/row_count": counts[key]})
        yield event
    if error is not None:
        raise error  # its message points at the dbt.log kept in the invocation's target folder
    keep_parse_state(target, db_path)
    # Every build gets its own dbt/target/<op>-<run>-<id>/ (about 2 MB): dropped once done, kept when it failed.
    shutil.rmtree(target, ignore_errors=True)


def build_vars(db_path: Path) -> str:
    """The ``--vars`` of the build of this database (its path: the profile reads it)."""
    return json.dumps({"enrichment_db": str(db_path)})


def parse_ahead_of_build(dbt: DbtCliResource, db_path: Path) -> bool:
    """Parse the project for the next build of this database, in this thread: the build, later in this process,
    then starts without parsing (``dbt_build.parse_ahead``). Starts from, and keeps, the database's parse state."""
    target = dbt_target_dir() / f"parse-ahead-{uuid.uuid4().hex[:7]}"
    seed_parse_state(target, db_path)
    try:
        parsed = parse_ahead(dbt, dbt_project, build_vars(db_path), target)
        if parsed:
            keep_parse_state(target, db_path)
        return parsed
    finally:
        shutil.rmtree(target, ignore_errors=True)


#: How many databases' dbt partial-parse states ``dbt/target/`` keeps.
PARSE_STATES_KEPT = 8


def dbt_target_dir() -> Path:
    """dbt's target folder as dagster-dbt resolves it: ``$DBT_TARGET_PATH``, else ``target/`` in the project."""
    target = Path(os.environ.get("DBT_TARGET_PATH", "target"))
    return target if target.is_absolute() else Path(dbt_project.project_dir) / target


def parse_state_path(db_path: Path) -> Path:
    """Where dbt's partial-parse state for builds of this database is kept (the target folder, a cache)."""
    digest = hashlib.sha256(str(db_path.resolve()).encode()).hexdigest()[:16]
    return dbt_target_dir() / f"partial_parse-{digest}.msgpack"


def seed_parse_state(target: Path, db_path: Path) -> None:
    """Start this build from the state the last successful build of the same database left.

    Every build passes the DuckDB path as a var, and dbt throws away a partial-parse state made with other vars
    or another profile: the one ``dbt parse`` writes above (no vars), which dagster-dbt copies into each new
    target folder by default, made every build parse the whole project again (measured: ``dbt parse`` takes
    3.5 s CPU from scratch, 2.0 s with a usable state). Kept per database, so that lists enriched into other
    databases (tests, benchmarks) do not spoil each other's. dbt checks the state itself (vars, profile, file
    hashes) and parses from scratch when it does not fit; dagster-dbt copies its default only where none is.
    """
    state = parse_state_path(db_path)
    if state.exists():
        target.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(state, target / "partial_parse.msgpack")
        except OSError:  # pruned meanwhile by another build: dagster-dbt copies its default instead
            (target / "partial_parse.msgpack").unlink(missing_ok=True)


def keep_parse_state(invocation_target: Path, db_path: Path) -> None:
    """Keep a successful build's partial-parse state for the next build of the same database."""
    state = invocation_target / "partial_parse.msgpack"
    if not state.exists():
        return
    kept = parse_state_path(db_path)
    partial = kept.with_name(f"{kept.name}.{os.getpid()}.tmp")
    shutil.copyfile(state, partial)
    os.replace(partial, kept)  # atomic: a concurrent build reads the old state or this one, never half of it
    # One state per database (600 KB each): the most recently built databases keep theirs.
    states = sorted(kept.parent.glob("partial_parse-*.msgpack"), key=_mtime, reverse=True)
    for stale in states[PARSE_STATES_KEPT:]:
        stale.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # deleted by a concurrent build
        return 0.0
