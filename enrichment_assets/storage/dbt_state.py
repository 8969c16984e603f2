"""When ``dbt build`` can be skipped: what the last successful build read, and whether that changed since.

A dbt build is a pure function of the tables it reads (the project's dbt sources), of the project's files
(models, tests, macros, ``dbt_project.yml``, ``profiles.yml``), of the vars and CLI arguments it is given,
of the selected models and tests, and of the dbt version. After a successful build the dbt step records a
digest of all of these (``step_state``, step ``dbt_build``, scope ``*``); the next run computes them again
and, when nothing differs and every model it would build is still in the database, keeps the models as
they are instead of running dbt (1–3 s even when nothing changed).

Before a build runs, the record is deleted: a failed or interrupted build may leave some models rebuilt
from the new inputs and others not, and must never look like a build of either.

No Dagster here: the Dagster step (``dagster_defs/dbt_assets.py``) passes in what it knows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb

from enrichment_assets.storage.step_state import ALL_LISTS, read_digest, stable_digest, table_digest, write_digest
from enrichment_assets.storage.warehouse import transaction

#: ``step_state.step`` of the dbt build.
STEP = "dbt_build"

#: Folders of a dbt project whose files dbt reads (``target/``, ``logs/`` are its output).
PROJECT_FOLDERS = ("models", "tests", "macros", "seeds", "snapshots", "analyses")
#: Files at the top of a dbt project that change what it builds (those missing are ignored).
PROJECT_FILES = ("dbt_project.yml", "packages.yml", "dependencies.yml", "package-lock.yml", "selectors.yml")

Table = tuple[str, str]  # (schema, name)


def quote_identifier(name: str) -> str:
    """``name`` as a DuckDB identifier: names come from the dbt manifest, not from this package."""
    return '"' + name.replace('"', '""') + '"'


def qualified(table: Table) -> str:
    return f"{quote_identifier(table[0])}.{quote_identifier(table[1])}"


def source_tables(manifest: Mapping[str, Any]) -> list[Table]:
    """Every table the dbt project reads: the manifest's sources, as (schema, identifier).

    The database part is left out: DuckDB names it after the file, which is the one the build is given
    (``--vars``), not necessarily the one the manifest was parsed against.
    """
    return sorted({(source["schema"], source.get("identifier") or source["name"])
                   for source in manifest.get("sources", {}).values()})


def project_files(project_dir: Path, profiles_dir: Path | None = None) -> list[Path]:
    """The files dbt reads to build the project: ``profiles.yml``, the top-level config, and every file
    under models/, tests/, macros/, seeds/, snapshots/ and analyses/."""
    files = [project_dir / name for name in PROJECT_FILES]
    files.append((profiles_dir or project_dir) / "profiles.yml")
    for folder in PROJECT_FOLDERS:
        if (project_dir / folder).is_dir():
            files.extend(p for p in sorted((project_dir / folder).rglob("*")) if p.is_file())
    return [p for p in files if p.is_file()]


def project_digest(project_dir: Path, profiles_dir: Path | None = None) -> str:
    """Content hash of :func:`project_files` with their paths: an edit changes it, a ``touch`` does not."""
    entries = []
    for path in project_files(project_dir, profiles_dir):
        label = path.relative_to(project_dir).as_posix() if path.is_relative_to(project_dir) else \
            f"profiles/{path.name}"
        entries.append((label, hashlib.sha256(path.read_bytes()).hexdigest()))
    return stable_digest(sorted(entries))


def tool_versions() -> dict[str, str | None]:
    """Versions of dbt and its DuckDB adapter: an upgrade may compile the same models differently."""
    versions: dict[str, str | None] = {}
    for package in ("dbt-core", "dbt-duckdb"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def missing_tables(conn: duckdb.DuckDBPyConnection, tables: Iterable[Table]) -> list[Table]:
    """Those of ``tables`` (tables or views) that are not in the open database."""
    present = {(schema.casefold(), name.casefold()) for schema, name in conn.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = current_database()"
    ).fetchall()}
    return [t for t in tables if (t[0].casefold(), t[1].casefold()) not in present]


def source_digests(conn: duckdb.DuckDBPyConnection, tables: Iterable[Table]) -> dict[str, str]:
    """``schema.name`` -> content digest (row count and sum of row hashes) of each table."""
    return {f"{schema}.{name}": table_digest(conn, qualified((schema, name))) for schema, name in tables}


@dataclass(frozen=True)
class BuildInputs:
    """Everything a dbt build depends on, as digests and plain values."""

    sources: dict[str, str]
    project: str
    invocation: dict[str, Any]  # CLI arguments, vars (the DuckDB path), profile and target
    selection: list[str]  # selected models and tests, sorted
    versions: dict[str, str | None] = field(default_factory=tool_versions)

    @property
    def digest(self) -> str:
        return stable_digest(self.sources, self.project, self.invocation, self.selection, self.versions)


@dataclass(frozen=True)
class BuildRecord:
    """A successful build: the digest of its inputs, the inputs themselves (to say what changed), its run."""

    digest: str
    run_id: str
    built_at: str
    sources: dict[str, str]
    project: str
    invocation: dict[str, Any]
    selection: list[str]
    versions: dict[str, str | None]


def read_build(conn: duckdb.DuckDBPyConnection) -> BuildRecord | None:
    """The last successful build, or None (none yet, forgotten, or written by an incompatible version)."""
    raw = read_digest(conn, STEP, ALL_LISTS)
    if raw is None:
        return None
    try:
        return BuildRecord(**json.loads(raw))
    except (TypeError, ValueError):
        return None


def record_build(conn: duckdb.DuckDBPyConnection, inputs: BuildInputs, run_id: str) -> None:
    """Record a successful build of ``inputs``; call it only after dbt exited without error."""
    record = BuildRecord(digest=inputs.digest, run_id=run_id, built_at=datetime.now(UTC).isoformat(timespec="seconds"),
                         sources=inputs.sources, project=inputs.project, invocation=inputs.invocation,
                         selection=inputs.selection, versions=inputs.versions)
    with transaction(conn):
        write_digest(conn, STEP, ALL_LISTS, json.dumps(asdict(record), sort_keys=True))


def forget_build(conn: duckdb.DuckDBPyConnection) -> None:
    """Make the next run build: called before dbt runs, since a failed build leaves the models half-updated."""
    conn.execute("DELETE FROM step_state WHERE step = ? AND scope = ?", [STEP, ALL_LISTS])


@dataclass(frozen=True)
class BuildPlan:
    """Whether to run dbt, and why (``reasons`` is empty exactly when the build can be skipped)."""

    reasons: list[str]
    previous: BuildRecord | None
    inputs: BuildInputs | None  # None when a source table is missing: such a build is never recorded

    @property
    def skip(self) -> bool:
        return not self.reasons


def plan_build(conn: duckdb.DuckDBPyConnection, *, sources: Sequence[Table], models: Sequence[Table],
               project: str, invocation: Mapping[str, Any], selection: Iterable[str]) -> BuildPlan:
    """Compare what a build would read now with the last successful build.

    ``sources`` are the tables the project reads, ``models`` the relations the selected models build (a
    model dropped by hand since is rebuilt), ``project`` the :func:`project_digest`.
    """
    previous = read_build(conn)
    missing_sources = missing_tables(conn, sources)
    if missing_sources:
        names = ", ".join(f"{s}.{n}" for s, n in missing_sources)
        return BuildPlan([f"source table(s) {names} missing"], previous, None)
    inputs = BuildInputs(sources=source_digests(conn, sources), project=project, invocation=dict(invocation),
                         selection=sorted(selection))
    # Round-trip through JSON so the comparison below sees what read_build() would (lists, not tuples).
    inputs = BuildInputs(**json.loads(json.dumps(asdict(inputs))))
    if previous is None:
        return BuildPlan(["no successful dbt build recorded in this database"], previous, inputs)
    reasons = []
    changed = sorted(k for k in inputs.sources.keys() | previous.sources.keys()
                     if inputs.sources.get(k) != previous.sources.get(k))
    if changed:
        reasons.append(f"source table(s) {', '.join(changed)} changed")
    if inputs.project != previous.project:
        reasons.append("dbt project files changed")
    if inputs.invocation != previous.invocation:
        reasons.append("dbt arguments or vars changed")
    if inputs.selection != previous.selection:
        reasons.append("a different selection of models and tests")
    if inputs.versions != previous.versions:
        reasons.append("dbt version changed")
    if not reasons and inputs.digest != previous.digest:  # e.g. a record written by an older digest scheme
        reasons.append("build inputs changed")
    missing_models = missing_tables(conn, models)
    if missing_models:
        reasons.append(f"model relation(s) {', '.join(f'{s}.{n}' for s, n in missing_models)} missing")
    return BuildPlan(reasons, previous, inputs)


def describe_sources(sources: Mapping[str, str]) -> str:
    """``main.contacts (6 rows), ...`` from source digests (``count:hash``)."""
    return ", ".join(f"{name} ({digest.split(':', 1)[0]} rows)" for name, digest in sorted(sources.items()))
