"""``enrich run``: one lead file through the whole asset graph, with a live progress display and a summary."""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.table import Table

from enrichment_assets.cli.inputs import parse_maps, store_cipher
from enrichment_assets.cli.instance import instance_opener
from enrichment_assets.cli.output import EXIT_OK, EXIT_RUN_FAILED, console, errors, fail_input


def add_parser(sub: argparse._SubParsersAction) -> None:
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
        store_cipher(settings)
    except (ConfigError, ValueError, StoreKeyError) as exc:
        return fail_input(str(exc))
    from enrichment_assets.vendors.keys import keyless, nothing_callable

    nobody = nothing_callable(config.active_order, settings.mode, str(settings.config_path))
    if nobody is not None:
        return fail_input(nobody)
    try:
        check_lead_file(path, columns, args.sheet, config.columns)
    except LeadFileError as exc:
        return fail_input(str(exc))
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
        from enrichment_assets.cli.progress import RunProgress
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
