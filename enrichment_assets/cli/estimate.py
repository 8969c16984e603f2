"""``enrich estimate``: forecast what enriching a lead file would cost, calling no vendor."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from rich.table import Table

from enrichment_assets.cli.inputs import parse_maps, store_cipher
from enrichment_assets.cli.output import EXIT_OK, console, fail_input


def add_parser(sub: argparse._SubParsersAction) -> None:
    estimate = sub.add_parser("estimate", help="forecast what enriching a lead file would cost, calling no vendor")
    estimate.add_argument("path", help="the lead file")
    estimate.add_argument("--list", help="lead list name (partition key); default: the file's stem")
    estimate.add_argument("--map", action="append", metavar='TARGET="COLUMN"', help="as for `enrich run`")
    estimate.add_argument("--sheet", help="the Excel sheet to read (default: the first visible one)")
    estimate.set_defaults(func=cmd_estimate)


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
        cipher = store_cipher(settings)
    except (ConfigError, ValueError, LeadFileError, StoreKeyError) as exc:
        return fail_input(str(exc))
    list_id = list_id_for(Path(args.list + ".csv")) if args.list else list_id_for(path)
    conn = connect(settings.db_path, read_only=True) if settings.db_path.exists() else None
    try:
        model = HitRateModel(config)
        if conn is not None:
            with contextlib.suppress(duckdb.CatalogException):  # a database from before the cost model: priors
                model = load_model(conn, config)
        inputs = ListForecastInputs(config, model, settings.mode, load_suppression(settings.suppression_path),
                                    settings.response_store_path, cipher=cipher,
                                    state_url=settings.state_url)
        with tempfile.TemporaryDirectory(prefix="estimate-") as tmp:
            try:
                staged, _, _ = stage_lead_file(path, Path(tmp), columns, args.sheet, config.columns)
            except LeadFileError as exc:
                return fail_input(str(exc))
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
