"""The ``enrich`` command line: run a lead list through the graph, forecast its cost, serve the sandbox, forget a
person or export what is held about them, re-encrypt the response store."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from dagster import DagsterInstance

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT = 0, 1, 2

console = Console(stderr=False, highlight=False)
errors = Console(stderr=True, highlight=False)


def _fail_input(message: str) -> int:
    errors.print(f"enrich: {message}", markup=False, soft_wrap=True)
    return EXIT_BAD_INPUT


def _store_cipher(settings):
    """The response store's cipher from ENRICHMENT_ENCRYPTION_KEY, checked against the store without writing to it.

    Raises StoreKeyError (exit 2) for a wrong or missing key, before any file is touched."""
    from enrichment_assets.storage.response_store import verify_store_key
    from enrichment_assets.storage.store_crypto import cipher_from_environment

    cipher = cipher_from_environment()
    verify_store_key(settings.response_store_path, cipher)
    return cipher


def get_instance():
    """The Dagster instance: $DAGSTER_HOME if set, else the repo's own (dagster.yaml, state in .dagster_home/)."""
    return instance_opener()()


def instance_opener() -> Callable[[], DagsterInstance]:
    """Prepare the instance's home (and the working directory) now; return what opens the instance.

    Split so that `enrich run` can open the instance, which waits mostly on SQLite's disk syncs, in a thread
    while it loads the definitions, which is CPU work.
    """
    from dagster import DagsterInstance

    from enrichment_assets.settings import repo_root

    if os.environ.get("DAGSTER_HOME"):
        home = Path(os.environ["DAGSTER_HOME"])
        home.mkdir(parents=True, exist_ok=True)

        def open_home() -> DagsterInstance:
            with _instance_lock(home):
                return DagsterInstance.get()
        return open_home
    root = repo_root()
    # dagster.yaml's paths are relative to the repo root, exactly as `dagster dev` sees them from there.
    os.chdir(root)
    (root / ".dagster_home").mkdir(exist_ok=True)

    def open_repo_instance() -> DagsterInstance:
        with _instance_lock(root / ".dagster_home"):
            return DagsterInstance.from_config(str(root))
    return open_repo_instance


@contextlib.contextmanager
def _instance_lock(folder: Path):
    """Serialize opening the instance: two `enrich run`s on a fresh home would race to create its storage."""
    with (folder / ".enrich-instance.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def parse_maps(pairs: list[str] | None) -> dict[str, str]:
    """``--map TARGET="Source column"`` pairs as {target: source}; raise ValueError naming a bad one."""
    from enrichment_assets.leads.headers import check_targets

    columns: dict[str, str] = {}
    for pair in pairs or []:
        target, sep, source = pair.partition("=")
        if not sep or not target.strip() or not source.strip():
            raise ValueError(f'--map {pair!r}: expected TARGET="Source column", e.g. --map record_id="Contact Key"')
        columns[target.strip()] = source.strip()
    check_targets(columns, "--map")
    return columns


def cmd_run(args: argparse.Namespace) -> int:
    from enrichment_assets.config import ConfigError, load_config
    from enrichment_assets.leads.ingest import LeadFileError, check_lead_file, list_id_for
    from enrichment_assets.settings import load_settings
    from enrichment_assets.storage.warehouse import memory_limit

    path = Path(args.path).expanduser().resolve()
    from enrichment_assets.storage.store_crypto import StoreKeyError

    try:
        columns = parse_maps(args.map)
        settings = load_settings()
        config = load_config(settings.config_path)
        memory_limit()
        _store_cipher(settings)
    except (ConfigError, ValueError, StoreKeyError) as exc:
        return _fail_input(str(exc))
    from enrichment_assets.vendors.keys import keyless, nothing_callable

    nobody = nothing_callable(config.active_order, settings.mode, str(settings.config_path))
    if nobody is not None:
        return _fail_input(nobody)
    try:
        check_lead_file(path, columns, args.sheet, config.columns)
    except LeadFileError as exc:
        return _fail_input(str(exc))
    list_id = list_id_for(Path(args.list + ".csv")) if args.list else list_id_for(path)

    console.print(f"[bold]Enriching[/bold] {path.name} as lead list [cyan]{list_id}[/cyan] "
                  f"({settings.mode} mode)")
    skipped = keyless(config.active_order, settings.mode)
    if skipped:
        console.print("Skipped for want of an API key: " + ", ".join(f"{s.name} ({s.api_key_env})" for s in skipped),
                      markup=False)
    opener = instance_opener()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="enrich-instance") as pool:
        opening = pool.submit(opener)
        from enrichment_assets.cli_progress import RunProgress
        from enrichment_assets.runner import dbt_step_key, load_definitions, run_list

        load_definitions()
        instance = opening.result()
    progress = RunProgress(console, verbose=args.verbose)
    with progress:
        outcome = run_list(instance, path, list_id, log_level=args.log_level, columns=columns, sheet=args.sheet,
                           listener=progress.listener,
                           on_wait=lambda message: progress.notice(
                               f"enrich: {message}", lambda line: errors.print(line, markup=False, soft_wrap=True)))
    progress.report_failed_dbt(instance, outcome.run_id, dbt_step_key())
    _print_summary(outcome)
    _print_skipped(outcome, skipped)
    _print_warnings(outcome)
    for failure in outcome.failures:
        errors.print(f"enrich: {failure}", markup=False, soft_wrap=True)
    if not outcome.success:
        where = "the logs above" if args.verbose else "`enrich run --verbose`"
        errors.print(f"enrich: the run failed (run id {outcome.run_id}); see {where} or the Dagster UI",
                     markup=False)
        return EXIT_RUN_FAILED
    return EXIT_OK


def _print_summary(outcome) -> None:
    summary = outcome.summary
    if summary is None:
        return
    console.print(f"\nRun [cyan]{outcome.run_id}[/cyan]: {summary.leads} leads, {summary.rejected} rejected, "
                  f"{summary.mobiles} with a mobile, {summary.phones} with any phone, {summary.pending} pending")
    if summary.providers:
        table = Table(title="Vendors this run", show_lines=False)
        for column in ("provider", "calls", "cache hits", "found", "credits", "USD", "unknown", "up to"):
            table.add_column(column, justify="right" if column != "provider" else "left")
        assumed = set(summary.usd_assumed)
        for row in summary.providers:
            table.add_row(row.provider, str(row.calls), str(row.cache_hits), str(row.found),
                          f"{row.credits:g}", f"{row.usd:.2f}" + (" *" if row.provider in assumed and row.usd else ""),
                          str(row.unknown), f"+{row.uncertain:g}" if row.uncertain else "")
        console.print(table)
        if any(row.provider in assumed and row.usd for row in summary.providers):
            console.print("* USD at an assumed price per credit (the vendor publishes none): set "
                          "providers.<name>.usd_per_credit in enrichment.yaml to your plan's price.", markup=False)
        unknown = sum(row.unknown for row in summary.providers)
        if unknown:
            console.print(f"{unknown} request(s) got no usable answer (outcome unknown): the vendor may have billed "
                          f"them, up to {sum(row.uncertain for row in summary.providers):g} more credits in all. "
                          "Their leads are pending; see credit_ledger (outcome = 'unknown') and README, "
                          "\"When an answer is lost\".", markup=False)


def cmd_estimate(args: argparse.Namespace) -> int:
    """Forecast a run of the file without calling any vendor (the clients are built, never opened)."""
    import tempfile

    import duckdb

    from enrichment_assets.config import ConfigError, load_config
    from enrichment_assets.cost_model.list_forecast import ListForecastInputs, forecast_staged_file
    from enrichment_assets.cost_model.rates import HitRateModel
    from enrichment_assets.leads.ingest import LeadFileError, check_lead_file, list_id_for, stage_lead_file
    from enrichment_assets.settings import load_settings
    from enrichment_assets.storage.segment_rates import load_model
    from enrichment_assets.storage.store_crypto import StoreKeyError
    from enrichment_assets.storage.warehouse import connect
    from enrichment_assets.waterfall.suppression import load_suppression

    path = Path(args.path).expanduser().resolve()
    try:
        columns = parse_maps(args.map)
        settings = load_settings()
        config = load_config(settings.config_path)
        check_lead_file(path, columns, args.sheet, config.columns)
        cipher = _store_cipher(settings)
    except (ConfigError, ValueError, LeadFileError, StoreKeyError) as exc:
        return _fail_input(str(exc))
    list_id = list_id_for(Path(args.list + ".csv")) if args.list else list_id_for(path)
    conn = connect(settings.db_path, read_only=True) if settings.db_path.exists() else None
    try:
        model = HitRateModel(config)
        if conn is not None:
            with contextlib.suppress(duckdb.CatalogException):  # a database from before the cost model: priors
                model = load_model(conn, config)
        inputs = ListForecastInputs(config, model, settings.mode, load_suppression(settings.suppression_path),
                                    settings.response_store_path, cipher=cipher)
        with tempfile.TemporaryDirectory(prefix="estimate-") as tmp:
            try:
                staged, _, _ = stage_lead_file(path, Path(tmp), columns, args.sheet, config.columns)
            except LeadFileError as exc:
                return _fail_input(str(exc))
            forecast = forecast_staged_file(conn, inputs, list_id, staged)
    finally:
        if conn is not None:
            conn.close()
    _print_forecast(path, list_id, forecast, config.max_usd_per_run)
    return EXIT_OK


def _print_forecast(path: Path, list_id: str, forecast, max_usd_per_run: float | None) -> None:
    console.print(f"[bold]Forecast[/bold] for {path.name} as lead list [cyan]{list_id}[/cyan] "
                  f"({forecast.order} order, no vendor called): {forecast.leads} leads, "
                  f"{forecast.free_leads} answered free from stored answers, {forecast.suppressed} suppressed")
    table = Table(title="Expected spend", show_lines=False)
    for column in ("provider", "calls", "credits", "USD", "USD low–high", "mobiles", "from store"):
        table.add_column(column, justify="right" if column != "provider" else "left")
    for p in forecast.providers.values():
        table.add_row(p.provider, f"{p.calls:,.0f}", f"{p.credits:,.1f}", f"{p.usd:,.2f}",
                      f"{p.usd_low:,.2f}–{p.usd_high:,.2f}", f"{p.mobiles:,.0f}", f"{p.from_store:,}")
    table.add_row("total", f"{forecast.calls:,.0f}", f"{forecast.credits:,.1f}", f"{forecast.usd:,.2f}",
                  f"{forecast.usd_low:,.2f}–{forecast.usd_high:,.2f}", f"{forecast.mobiles:,.0f}",
                  f"{forecast.free_leads:,} leads")
    console.print(table)
    per_mobile = forecast.usd_per_mobile
    console.print(f"Expected personal mobiles: {forecast.mobiles:,.0f}; USD per mobile: "
                  + ("–" if per_mobile is None else f"{per_mobile:,.3f}"))
    refused = forecast.over_budget(max_usd_per_run)
    if refused:
        console.print(f"[bold red]A run would be refused:[/bold red] {refused}", soft_wrap=True)


def _print_warnings(outcome) -> None:
    if outcome.summary is not None:
        for warning in outcome.summary.warnings:
            console.print(f"Warning: {warning}", markup=False, soft_wrap=True)


def _print_skipped(outcome, skipped) -> None:
    """Which providers this run did not ask for want of a key, and what that left pending."""
    if not skipped:
        return
    counts = outcome.summary.skipped_no_key if outcome.summary is not None else {}
    parts = [f"{spec.name}: {counts.get(spec.name, 0)} lead(s) it could take" for spec in skipped]
    console.print(f"Not asked (no API key): {'; '.join(parts)}. Those leads are pending: set "
                  f"{', '.join(spec.api_key_env for spec in skipped)} and run the list again to finish them.",
                  markup=False, soft_wrap=True)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from enrichment_assets.sandbox.server import serve

    serve(port=args.port, host=args.host)
    return EXIT_OK


def cmd_forget(args: argparse.Namespace) -> int:
    from enrichment_assets.config import ConfigError, load_config
    from enrichment_assets.masking import mask_email
    from enrichment_assets.settings import load_settings
    from enrichment_assets.storage.erasure import forget, rewrite_database
    from enrichment_assets.storage.personal_data_log import RequestCounts, log_request, requester
    from enrichment_assets.storage.response_store import ResponseStore
    from enrichment_assets.storage.store_crypto import StoreKeyError
    from enrichment_assets.storage.warehouse import connect
    from enrichment_assets.waterfall.suppression import load_suppression

    person = _person_identifiers(args, "say who to forget")
    if isinstance(person, int):
        return person
    email, linkedin = person
    settings = load_settings()
    if not settings.db_path.exists():
        return _fail_input(f"no database at {settings.db_path}")
    try:  # colleagues whose number is no longer shared are re-scored as the merge would: same order, same list
        order = load_config(settings.config_path).active_order
        cipher = _store_cipher(settings)
    except (ConfigError, StoreKeyError) as exc:
        return _fail_input(str(exc))
    suppression = load_suppression(settings.suppression_path)
    conn = connect(settings.db_path)
    try:
        with ResponseStore(settings.response_store_path, cipher) as store:
            report = forget(conn, store, settings.marts_dir, record_id=args.record_id, email=email,
                            linkedin_url=linkedin, out_dir=settings.out_dir, provider_order=order,
                            suppression=suppression)
        log_request(conn, "erasure", requester(args.requested_by), _identified_by(args), RequestCounts(
            records_found=len(report.record_ids), rows_deleted=sum(report.rows_deleted.values()),
            answers_deleted=report.responses_deleted, ledger_entries_scrubbed=report.ledger_rows_scrubbed))
    finally:
        conn.close()
    if report.found:
        rewrite_database(settings.db_path)
    who = args.record_id or (mask_email(email) if email else "that LinkedIn profile")
    if not report.found:
        console.print(f"Nobody matching {who} is stored; nothing to forget.")
        return EXIT_OK
    deleted = sum(report.rows_deleted.values())
    console.print(f"Forgot {len(report.record_ids)} record(s) matching {who}: {deleted} table rows and "
                  f"{report.responses_deleted} stored vendor responses deleted, {report.ledger_rows_scrubbed} "
                  "ledger rows kept with identifiers removed, marts republished."
                  + (f" Re-scored {sum(report.rescored.values())} lead(s) of colleagues whose number is no longer "
                     "shared." if report.rescored else ""))
    if report.enriched_files_deleted:
        console.print(f"Deleted the enriched file(s) holding them: {', '.join(report.enriched_files_deleted)} "
                      "(the next run of the list writes them again).")
    return EXIT_OK


def _person_identifiers(args: argparse.Namespace, ask: str) -> tuple[str | None, str | None] | int:
    """The normalized email and LinkedIn URL naming a person (forget, export-person), or the exit code of a
    bad or missing identifier, already reported."""
    from enrichment_assets.leads.normalize import InvalidField, normalize_email, normalize_linkedin

    try:
        email = normalize_email(args.email) if args.email else None
        linkedin = normalize_linkedin(args.linkedin_url) if args.linkedin_url else None
    except InvalidField as exc:
        return _fail_input(str(exc))
    if not (args.record_id or email or linkedin):
        return _fail_input(f"{ask}: --record-id, --email or --linkedin-url")
    return email, linkedin


def _identified_by(args: argparse.Namespace) -> str:
    return "+".join(name for name, value in (("record_id", args.record_id), ("email", args.email),
                                             ("linkedin_url", args.linkedin_url)) if value)


def cmd_export_person(args: argparse.Namespace) -> int:
    """Write everything held about one person to a JSON file (an access request), and log the request."""
    from datetime import UTC, datetime

    from enrichment_assets.settings import load_settings
    from enrichment_assets.storage.personal_data_log import RequestCounts, log_request, requester
    from enrichment_assets.storage.response_store import ResponseStore
    from enrichment_assets.storage.store_crypto import StoreKeyError
    from enrichment_assets.storage.subject_access import person_copy, write_copy
    from enrichment_assets.storage.warehouse import connect
    from enrichment_assets.waterfall.suppression import SuppressionError, load_suppression

    person = _person_identifiers(args, "say whose data to export")
    if isinstance(person, int):
        return person
    email, linkedin = person
    settings = load_settings()
    if not settings.db_path.exists():
        return _fail_input(f"no database at {settings.db_path}")
    try:
        cipher = _store_cipher(settings)
        suppression = load_suppression(settings.suppression_path)
    except (StoreKeyError, SuppressionError) as exc:
        return _fail_input(str(exc))
    now = datetime.now(UTC)
    out = Path(args.out).expanduser().resolve() if args.out else (
        settings.db_path.parent / "exports" / f"person-{now:%Y%m%dT%H%M%S}.json")
    conn = connect(settings.db_path)
    try:
        with ResponseStore(settings.response_store_path, cipher) as store:
            copy = person_copy(conn, store, suppression, record_id=args.record_id, email=email,
                               linkedin_url=linkedin, now=now)
        write_copy(copy, out)
        log_request(conn, "export", requester(args.requested_by), _identified_by(args), RequestCounts(
            records_found=copy.records, rows_found=copy.rows, answers_found=copy.answers,
            ledger_entries=copy.ledger_entries, suppression_entries=copy.suppression_entries), at=now)
    finally:
        conn.close()
    console.print(f"Wrote {out}: {copy.records} lead record(s), {copy.rows} table rows, {copy.answers} vendor "
                  f"answers, {copy.ledger_entries} ledger entries, {copy.suppression_entries} do-not-contact "
                  "entries." if copy.found else f"Wrote {out}: nobody matching is stored (an empty copy).",
                  soft_wrap=True)
    return EXIT_OK


def cmd_rotate_key(args: argparse.Namespace) -> int:
    """Re-encrypt the response store: from ENRICHMENT_ENCRYPTION_KEY (unset: not encrypted yet) to
    ENRICHMENT_NEW_ENCRYPTION_KEY, or to no key with --decrypt."""
    from enrichment_assets.settings import load_settings
    from enrichment_assets.storage.response_store import ResponseStore
    from enrichment_assets.storage.store_crypto import (
        KEY_ENV,
        NEW_KEY_ENV,
        PLAIN,
        StoreKeyError,
        cipher_from_environment,
    )

    settings = load_settings()
    path = settings.response_store_path
    if not path.exists():
        return _fail_input(f"no response store at {path}")
    try:
        old = _store_cipher(settings)
        new = PLAIN if args.decrypt else cipher_from_environment(NEW_KEY_ENV)
        if not args.decrypt and not new.encrypted:
            return _fail_input(f"set {NEW_KEY_ENV} to the new key (or pass --decrypt to store answers unencrypted)")
        with ResponseStore(path, old) as store:
            count = store.rekey(new)
    except StoreKeyError as exc:
        return _fail_input(str(exc))
    if args.decrypt:
        console.print(f"Decrypted {count} stored answers in {path}. Unset {KEY_ENV}.")
    else:
        console.print(f"Re-encrypted {count} stored answers in {path} with the new key. Set {KEY_ENV} to it "
                      f"(and unset {NEW_KEY_ENV}) before the next run.")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="enrich", description="Turn lead lists into reachable phone numbers.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="enrich one lead file (CSV, Parquet or Excel) through the whole asset graph")
    run.add_argument("path", help="the lead file")
    run.add_argument("--list", help="lead list name (partition key); default: the file's stem")
    run.add_argument("--map", action="append", metavar='TARGET="COLUMN"',
                     help="read lead field TARGET (record_id, first_name, last_name, full_name, company, domain, "
                          "email, linkedin_url, country) from the file's COLUMN; repeatable; overrides "
                          "enrichment.yaml's columns:")
    run.add_argument("--sheet", help="the Excel sheet to read (default: the first visible one)")
    run.add_argument("--verbose", "-v", action="store_true",
                     help="print the run's Dagster log lines and dbt's output as they come, instead of one line per "
                          "finished step (they are always kept in the run: Dagster UI)")
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                     help="level of the Dagster log lines --verbose prints (default INFO)")
    run.set_defaults(func=cmd_run)

    estimate = sub.add_parser("estimate", help="forecast what enriching a lead file would cost, calling no vendor")
    estimate.add_argument("path", help="the lead file")
    estimate.add_argument("--list", help="lead list name (partition key); default: the file's stem")
    estimate.add_argument("--map", action="append", metavar='TARGET="COLUMN"', help="as for `enrich run`")
    estimate.add_argument("--sheet", help="the Excel sheet to read (default: the first visible one)")
    estimate.set_defaults(func=cmd_estimate)

    sandbox = sub.add_parser("sandbox", help="serve the five-vendor simulator over HTTP")
    sandbox.add_argument("--port", type=int, default=8765)
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.set_defaults(func=cmd_sandbox)

    forget = sub.add_parser("forget", help="erase a person from every table, the response store and the marts")
    forget.add_argument("--record-id")
    forget.add_argument("--email")
    forget.add_argument("--linkedin-url")
    forget.add_argument("--requested-by", help="who asked, for the audit trail (default: the OS user)")
    forget.set_defaults(func=cmd_forget)

    export = sub.add_parser("export-person", help="write everything held about one person to a JSON file")
    export.add_argument("--record-id")
    export.add_argument("--email")
    export.add_argument("--linkedin-url")
    export.add_argument("--out", help="the JSON file to write (default: data/exports/person-<time>.json)")
    export.add_argument("--requested-by", help="who asked, for the audit trail (default: the OS user)")
    export.set_defaults(func=cmd_export_person)

    rotate = sub.add_parser("rotate-key", help="re-encrypt the response store with ENRICHMENT_NEW_ENCRYPTION_KEY")
    rotate.add_argument("--decrypt", action="store_true", help="store the answers unencrypted instead")
    rotate.set_defaults(func=cmd_rotate_key)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        errors.print("enrich: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
