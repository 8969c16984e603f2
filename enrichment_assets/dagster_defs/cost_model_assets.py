"""The cost model's table, ``provider_segment_rates``, with the learned order per segment and a cost chart."""

from base64 import b64encode

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset
from dagster_duckdb import DuckDBResource

from enrichment_assets.cost_model.order import AdaptiveOrder
from enrichment_assets.cost_model.segments import Segment
from enrichment_assets.dagster_defs.constants import CONTACTS_GROUP, DUCKDB_KIND, DUCKDB_POOL, OWNERS, PYTHON_KIND
from enrichment_assets.dagster_defs.previews import markdown_table
from enrichment_assets.dagster_defs.resources import EnrichmentSettings, warehouse
from enrichment_assets.dagster_defs.table_schemas import table_metadata
from enrichment_assets.reporting.cost_chart import CostPoint, render_cost_png
from enrichment_assets.storage.segment_rates import rebuild_segment_rates


@asset(
    deps=["contacts", "credit_ledger"], group_name=CONTACTS_GROUP, kinds={DUCKDB_KIND, PYTHON_KIND}, owners=OWNERS,
    pool=DUCKDB_POOL,
    metadata=table_metadata("provider_segment_rates"),
)
def provider_segment_rates(context: AssetExecutionContext, enrichment: EnrichmentSettings, duckdb: DuckDBResource
                           ) -> MaterializeResult:
    """What each vendor finds, and at what price, per kind of lead (country and which identifiers it has), learned
    from every list enriched so far and shrunk toward the provider's overall figures and the configured priors
    where there is little data. `enrich estimate` and the raw_leads forecast read it, and `waterfall.order:
    adaptive` orders each lead's vendors by its expected USD per personal mobile. Rebuilt only when a list's
    results, the prices or the cost-model settings changed."""
    config = enrichment.config()
    chart_path = enrichment.settings().marts_dir / "cost_per_mobile.png"
    with warehouse(duckdb) as conn:
        model, rebuilt = rebuild_segment_rates(conn, config)
        segments = [Segment(c, i) for c, i, _ in conn.execute(
            "SELECT country, identifiers, sum(leads) FROM provider_segment_rates WHERE level = 'segment' "
            "GROUP BY ALL ORDER BY 3 DESC, 1, 2 LIMIT 25").fetchall()]
        points = [CostPoint(p, c, u, (cr / m) if m else None) for p, c, u, cr, m in conn.execute(
            "SELECT provider, country, usd_per_mobile, credits_per_call, mobile_rate FROM provider_segment_rates "
            "WHERE level = 'country'").fetchall()]
        rows = conn.execute("SELECT count(*) FROM provider_segment_rates").fetchone()[0]
    providers = config.active_order
    order = AdaptiveOrder(model, config, providers)
    order_md = markdown_table(["segment (most leads first)", "learned order", "cheapest USD / mobile"], [
        (s, " → ".join(order.segment_order(s)) or "(every provider over max_usd_per_mobile)",
         f"{model.estimate(order.segment_order(s)[0], s).usd_per_mobile:.3f}" if order.segment_order(s) else None)
        for s in segments])
    if rebuilt or not chart_path.exists():
        chart = render_cost_png(points, providers)
        chart_path.parent.mkdir(parents=True, exist_ok=True)
        chart_path.write_bytes(chart)
    else:
        chart = chart_path.read_bytes()
    context.log.info(f"Cost model {'rebuilt' if rebuilt else 'unchanged'}: {rows} rows; learned order per segment:\n"
                     + order_md)
    return MaterializeResult(metadata={
        "dagster/row_count": rows, "rebuilt": rebuilt,
        "waterfall_order": "adaptive" if config.waterfall.adaptive else "fixed: " + " → ".join(providers),
        "order_by_segment": MetadataValue.md(order_md),
        "cost_per_mobile_chart": MetadataValue.md(
            f"![cost per mobile by provider and country](data:image/png;base64,{b64encode(chart).decode()})"),
        "cost_per_mobile_chart_path": MetadataValue.path(str(chart_path)),
    })
