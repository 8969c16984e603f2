"""The marts are rewritten only when a table changed or a file is not as the last publication left it."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from enrichment_assets.storage.marts import publish_marts_if_changed
from enrichment_assets.storage.warehouse import connect


def test_marts_are_republished_only_when_something_changed(tmp_path: Path) -> None:
    conn = connect(tmp_path / "m.duckdb")
    marts = tmp_path / "marts"
    conn.execute("INSERT INTO contacts (record_id, list_id, status) VALUES ('a', 'l1', 'not_found')")
    assert publish_marts_if_changed(conn, marts)[1]
    counts, written = publish_marts_if_changed(conn, marts)
    assert not written and counts["contacts"] == 1

    conn.execute("INSERT INTO contacts (record_id, list_id, status) VALUES ('b', 'l1', 'not_found')")
    counts, written = publish_marts_if_changed(conn, marts)
    assert written and counts["contacts"] == 2
    assert pq.read_table(marts / "contacts.parquet").num_rows == 2

    (marts / "credit_ledger.parquet").unlink()
    assert publish_marts_if_changed(conn, marts)[1]
    assert (marts / "credit_ledger.parquet").exists()
    conn.close()


def test_funnel_chart_is_drawn_again_only_when_its_figures_or_file_change(tmp_path: Path, monkeypatch) -> None:
    from enrichment_assets.reporting import funnel_chart
    from enrichment_assets.reporting.funnel_chart import FunnelRow, funnel_png_file

    drawn = []
    real = funnel_chart.render_funnel_png
    monkeypatch.setattr(funnel_chart, "render_funnel_png", lambda rows: drawn.append(rows) or real(rows))
    conn = connect(tmp_path / "f.duckdb")
    path = tmp_path / "marts" / "provider_funnel.png"
    rows = [FunnelRow("leadmagic", 10, 5, 4, 20.0, 0.4)]
    first = funnel_png_file(conn, rows, path)
    assert funnel_png_file(conn, rows, path) == first and len(drawn) == 1
    funnel_png_file(conn, [FunnelRow("leadmagic", 10, 6, 4, 20.0, 0.4)], path)
    assert len(drawn) == 2
    path.unlink()
    funnel_png_file(conn, [FunnelRow("leadmagic", 10, 6, 4, 20.0, 0.4)], path)
    assert len(drawn) == 3 and path.exists()
    conn.close()
