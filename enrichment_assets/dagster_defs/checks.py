"""Asset checks: the promises the tables make to the people who dial the numbers and pay the bills."""

import phonenumbers
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, asset_check
from dagster_duckdb import DuckDBResource

from enrichment_assets.dagster_defs.resources import EnrichmentSettings, warehouse
from enrichment_assets.reconciliation import reconcile
from enrichment_assets.storage.balances import run_balances
from enrichment_assets.storage.step_state import ALL_LISTS, read_digest, stable_digest, table_digest, write_digest
from enrichment_assets.storage.warehouse import results_union, transaction

_E164_STEP = "check_best_phone_is_valid_e164"

_RESULTS_UNION = results_union("list_id, record_id, run_id, credits, from_cache")


def _is_e164(value: str) -> bool:
    if not value.startswith("+"):
        return False
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number) and phonenumbers.format_number(
        number, phonenumbers.PhoneNumberFormat.E164) == value


_BEST_PHONES = "(SELECT best_phone FROM contacts WHERE best_phone IS NOT NULL)"


@asset_check(asset="contacts", blocking=False,
             description=("Every best_phone is a valid number in E.164 form (dialable as is). The numbers are "
                          "parsed again only when they changed since they last passed."))
def best_phone_is_valid_e164(duckdb: DuckDBResource) -> AssetCheckResult:
    with warehouse(duckdb) as conn:
        # Parsing 100k numbers takes ~2 s; the same numbers under the same phonenumbers release give the same
        # answer, so a passing set is remembered by its digest.
        digest = stable_digest(phonenumbers.__version__, table_digest(conn, _BEST_PHONES))
        count = conn.execute(f"SELECT count(*) FROM {_BEST_PHONES}").fetchall()[0][0]  # noqa: S608
        if read_digest(conn, _E164_STEP, ALL_LISTS) == digest:
            return AssetCheckResult(passed=True, metadata={"checked": count, "invalid": 0,
                                                           "unchanged_since_last_pass": True})
        phones = [r[0] for r in conn.execute(f"SELECT * FROM {_BEST_PHONES}").fetchall()]  # noqa: S608
        bad = sum(1 for p in phones if not _is_e164(p))
        if bad == 0:
            with transaction(conn):
                write_digest(conn, _E164_STEP, ALL_LISTS, digest)
    return AssetCheckResult(passed=bad == 0, metadata={"checked": len(phones), "invalid": bad,
                                                       "unchanged_since_last_pass": False})


@asset_check(asset="contacts", blocking=False, description="contacts has exactly one row per record_id.")
def one_row_per_record(duckdb: DuckDBResource) -> AssetCheckResult:
    with warehouse(duckdb) as conn:
        dupes = conn.execute("SELECT count(*) FROM (SELECT record_id FROM contacts GROUP BY record_id "
                             "HAVING count(*) > 1)").fetchone()[0]
    return AssetCheckResult(passed=dupes == 0, metadata={"duplicated_record_ids": dupes})


@asset_check(asset="credit_ledger", blocking=False,
             description=("The ledger reconciles with the provider results: for every list, run and provider, the "
                          "credits in the results tables equal the credits in the ledger."))
def ledger_reconciles(duckdb: DuckDBResource) -> AssetCheckResult:
    with warehouse(duckdb) as conn:
        mismatches = conn.execute(f"""
            WITH results AS (
                SELECT provider, list_id, run_id, sum(credits) AS credits FROM ({_RESULTS_UNION})
                WHERE NOT from_cache GROUP BY ALL),
            ledger AS (
                SELECT provider, list_id, run_id, sum(credits) AS credits FROM credit_ledger GROUP BY ALL)
            SELECT r.provider, r.list_id, r.run_id, r.credits, coalesce(l.credits, 0)
            FROM results r LEFT JOIN ledger l USING (provider, list_id, run_id)
            WHERE abs(r.credits - coalesce(l.credits, 0)) > 1e-6
        """).fetchall()  # noqa: S608 - names from code, values bound
        unknown = conn.execute("SELECT count(*), coalesce(sum(worst_case_credits), 0) FROM credit_ledger "
                               "WHERE outcome = 'unknown'").fetchone()
    detail = "; ".join(f"{p} {lst} run {run[:8]}: results {a:g} vs ledger {b:g}" for p, lst, run, a, b in mismatches)
    return AssetCheckResult(passed=not mismatches, metadata={
        "mismatches": len(mismatches), "detail": detail or "none",
        "unknown_requests": unknown[0], "unknown_worst_case_credits": float(unknown[1])})


@asset_check(asset="contacts", blocking=False,
             description="No suppressed lead was sent to a vendor (no paid results or ledger entries for it).")
def no_suppressed_lead_called(duckdb: DuckDBResource) -> AssetCheckResult:
    with warehouse(duckdb) as conn:
        called = conn.execute(f"""
            SELECT count(DISTINCT c.record_id) FROM contacts c
            JOIN ({_RESULTS_UNION}) r ON r.record_id = c.record_id AND r.list_id = c.list_id
            WHERE c.status = 'suppressed'
        """).fetchone()[0]  # noqa: S608 - names from code, values bound
    return AssetCheckResult(passed=called == 0, severity=AssetCheckSeverity.ERROR,
                            metadata={"suppressed_leads_with_vendor_results": called})


@asset_check(asset="credit_ledger", blocking=False,
             description=("Warns when a provider's spend in this run crossed budget_warn_share (default 80%) of its "
                          "max_credits_per_run: raise the cap or expect leads left pending next time."))
def spend_below_budget_warning(context: AssetCheckExecutionContext, enrichment: EnrichmentSettings,
                               duckdb: DuckDBResource) -> AssetCheckResult:
    config = enrichment.config()
    caps = {p: config.provider(p).max_credits_per_run for p in config.active_order
            if config.provider(p).max_credits_per_run is not None}
    with warehouse(duckdb) as conn:
        spent = dict(conn.execute("SELECT provider, sum(credits) FROM credit_ledger WHERE run_id = ? GROUP BY ALL",
                                  [context.run.run_id]).fetchall())
    over = {p: (float(spent.get(p) or 0), cap) for p, cap in caps.items()
            if cap == 0 or float(spent.get(p) or 0) >= config.budget_warn_share * cap}
    detail = "; ".join(f"{p}: {s:g} of {c:g} credits ({s / c:.0%})" if c else f"{p}: cap is 0"
                       for p, (s, c) in over.items())
    return AssetCheckResult(
        passed=not over, severity=AssetCheckSeverity.WARN,
        description=detail or None,
        metadata={"warn_share": config.budget_warn_share, "providers_over": len(over), "detail": detail or "none",
                  **{f"spent_{p}": float(spent.get(p) or 0) for p in caps},
                  **{f"cap_{p}": float(c) for p, c in caps.items()}})


@asset_check(asset="credit_ledger", blocking=False,
             description=("For each vendor this run called, the drop of the vendor's own balance (read before and "
                          "after the run's calls, free) matches the credits the ledger booked for the run. Warns with "
                          "the ratio and the pricing key to look at; a drop larger than booked may also be another "
                          "user of the same API key. Vendors without a balance source are listed as unverifiable."))
def ledger_matches_vendor_balance(context: AssetCheckExecutionContext, enrichment: EnrichmentSettings,
                                  duckdb: DuckDBResource) -> AssetCheckResult:
    config = enrichment.config()
    with warehouse(duckdb) as conn:
        balances = run_balances(conn, context.run.run_id)
    verdicts = [reconcile(b, config.provider(b.provider)) for b in balances]
    warned = [v for v in verdicts if v.status == "warn"]
    unverifiable = [v for v in verdicts if v.status == "unverifiable"]
    if not verdicts:
        description = "No vendor was called in this run: nothing to reconcile."
    else:
        description = " ".join(v.message for v in warned) or (
            "The ledger matches the vendors' balances for " + (", ".join(v.provider for v in verdicts
                                                                       if v.status == "ok") or "no vendor") + ".")
        if unverifiable:
            description += " " + "; ".join(v.message for v in unverifiable) + "."
    return AssetCheckResult(
        passed=not warned, severity=AssetCheckSeverity.WARN, description=description,
        metadata={"warned": ", ".join(v.provider for v in warned), "unverifiable": ", ".join(
                      v.provider for v in unverifiable),
                  **{f"{v.provider}_status": v.status for v in verdicts},
                  **{f"{v.provider}_balance_drop": v.drop for v in verdicts if v.drop is not None},
                  **{f"{v.provider}_booked": v.booked for v in verdicts},
                  **{f"{v.provider}_ratio": round(v.ratio, 4) for v in verdicts if v.ratio is not None},
                  **{f"{v.provider}_pricing_key": v.pricing_key for v in warned},
                  "detail": "\n".join(v.message for v in verdicts) or "none"})
