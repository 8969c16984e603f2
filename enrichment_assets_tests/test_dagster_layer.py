"""The thin Dagster layer: column schemas from the DDL, the DuckDB memory cap, one list of definitions."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from dagster import AssetsDefinition

from enrichment_assets.dagster_defs.python_definitions import ASSET_CHECKS, PYTHON_ASSETS
from enrichment_assets.dagster_defs.resources import warehouse, warehouse_resource
from enrichment_assets.dagster_defs.table_schemas import COLUMN_DESCRIPTIONS, ddl_columns
from enrichment_assets.storage.warehouse import ensure_schema

#: The tables an asset of the pipeline is stored in (README, "The tables"): each shows its columns in the UI.
TABLES_WITH_A_SCHEMA = {"raw_leads", "rejected_leads", "contact_phones", "contacts", "credit_ledger",
                        "provider_performance", "provider_segment_rates"}


@pytest.fixture(scope="module")
def catalog() -> dict[str, list[tuple[str, str]]]:
    """Each table's columns and types as DuckDB reports them after running the DDL."""
    with duckdb.connect(":memory:") as conn:
        ensure_schema(conn)
        rows = conn.execute("SELECT table_name, column_name, data_type FROM information_schema.columns "
                            "ORDER BY table_name, ordinal_position").fetchall()
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        tables.setdefault(table, []).append((column, data_type))
    return tables


def _duckdb_type(type_text: str) -> str:
    with duckdb.connect(":memory:") as conn:
        return conn.execute(f"SELECT typeof(NULL::{type_text})").fetchone()[0]


def _shown_schemas() -> dict[str, list[tuple[str, str, str | None]]]:
    """Table name -> the columns the pipeline's assets show in Dagster (``dagster/column_schema``)."""
    shown = {}
    for assets_def in PYTHON_ASSETS:
        assert isinstance(assets_def, AssetsDefinition)
        for spec in assets_def.specs:
            schema = spec.metadata.get("dagster/column_schema")
            if schema is None:
                continue
            table = str(spec.metadata["dagster/table_name"]).removeprefix("main.")
            shown[table] = [(c.name, c.type, c.description) for c in schema.columns]
    return shown


def test_the_ddl_is_read_as_duckdb_creates_it(catalog: dict[str, list[tuple[str, str]]]) -> None:
    parsed = ddl_columns()
    assert sorted(parsed) == sorted(catalog)
    for table, columns in parsed.items():
        assert [name for name, _ in columns] == [name for name, _ in catalog[table]], table
        assert [_duckdb_type(t) for _, t in columns] == [t for _, t in catalog[table]], table


def test_every_table_asset_shows_exactly_the_columns_of_its_table(catalog: dict[str, list[tuple[str, str]]]
                                                                  ) -> None:
    """A column the DDL has and the UI does not show fails, and so does one the UI shows that the table lacks
    (today's code once showed raw_leads without row_number)."""
    shown = _shown_schemas()
    results_tables = {t for t in catalog if t.endswith("_results")}
    assert set(shown) == TABLES_WITH_A_SCHEMA | results_tables
    for table, columns in shown.items():
        assert [name for name, _, _ in columns] == [name for name, _ in catalog[table]], table
        assert [_duckdb_type(t) for _, t, _ in columns] == [t for _, t in catalog[table]], table
    assert ("row_number", "bigint", "Row in the file (header = 1)") in shown["raw_leads"]


def test_no_description_of_a_column_the_table_lacks(catalog: dict[str, list[tuple[str, str]]]) -> None:
    for table, described in COLUMN_DESCRIPTIONS.items():
        assert table in catalog, table
        assert set(described) <= {name for name, _ in catalog[table]}, (table, set(described) - {
            name for name, _ in catalog[table]})


def test_the_duckdb_resource_carries_the_memory_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENRICHMENT_DUCKDB_MEMORY_LIMIT", "200MB")
    with warehouse(warehouse_resource(tmp_path / "w.duckdb")) as conn:
        limit = conn.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        assert conn.execute("SELECT count(*) FROM raw_leads").fetchone() == (0,)  # the schema is in place
    assert limit == "190.7 MiB"  # 200 MB as DuckDB reports it
    monkeypatch.setenv("ENRICHMENT_DUCKDB_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="ENRICHMENT_DUCKDB_MEMORY_LIMIT"):
        warehouse_resource(tmp_path / "w.duckdb")


def test_the_code_location_holds_the_python_definitions_and_the_dbt_models() -> None:
    from enrichment_assets.dagster_defs.dbt_assets import dbt_marts
    from enrichment_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    python_keys = {key for assets_def in PYTHON_ASSETS for key in assets_def.keys}
    assert graph.get_all_asset_keys() == python_keys | set(dbt_marts.keys)
    python_checks = {key for check in ASSET_CHECKS for key in check.check_keys}
    assert python_checks <= graph.asset_check_keys
    assert graph.asset_check_keys - python_checks == set(dbt_marts.check_keys)


def test_previews_mask_what_their_columns_hold() -> None:
    from enrichment_assets.dagster_defs.previews import Column, email, identifier, markdown_table, phone, phones

    table = markdown_table(
        [Column("record_id", identifier), Column("email", email), Column("best phone", phone),
         Column("phones", phones), "note"],
        [("jane.doe@acme.io", "jane.doe@acme.io", "+49 1512 3456789", ["+4915123456789", "+1 415 555 0134"],
          "a | b\nc"),
         ("crm-1", None, None, None, None)])
    assert table.splitlines() == [
        "| record_id | email | best phone | phones | note |",
        "|---|---|---|---|---|",
        "| j•••@acme.io | j•••@acme.io | •••••••••••89 | •••••••••••89, •••••••••34 | a \\| b c |",
        "| crm-1 |  |  |  |  |",
    ]
    with pytest.raises(ValueError, match="zip"):  # a row with a cell too few is an error, not a shifted table
        markdown_table(["one", "two"], [("only one",)])
