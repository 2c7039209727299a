"""Factor asset: every registered factor for the run's trading days, into ``factor_values``.

One date-partitioned asset downstream of ``prices``. A backfill of years is one run (single-run
policy) that computes the whole window at once; the daily run for the newest date reads, per
ticker, only the lookback its factors need and replaces only that date's rows. Either way the
values are bit for bit those of a full recomputation (the factor library's incremental contract),
and nothing dated after the window is read.
"""

# No `from __future__ import annotations` here: Dagster reads these annotations at runtime.

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from quant_assets.assets.ingest import prices
from quant_assets.factors import available_factors, compute_factors
from quant_assets.factors.registry import resolve
from quant_assets.partitions import checked_window, trading_day_partitions, trading_day_window
from quant_assets.resources.warehouse import Warehouse
from quant_assets.warehouse.factors import (
    coverage,
    coverage_collapses,
    duplicate_factor_rows,
    latest_cross_section,
    read_prices_for_factors,
    refresh_features_view,
    replace_factor_values,
    write_factor_definitions,
)


class FactorValuesConfig(Config):
    """Which factors to compute; empty means every factor in the registry."""

    factors: list[str] = []


@asset(
    deps=[prices],
    partitions_def=trading_day_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="factors",
    pool="warehouse",
    kinds={"duckdb", "numpy"},
)
def factor_values(
    context: AssetExecutionContext, config: FactorValuesConfig, warehouse: Warehouse
) -> MaterializeResult:
    """Point-in-time factors per ticker and trading day (``factor_values``, ``features`` view).

    The registry is written to ``factor_definitions`` on every run. Factors the data cannot
    support (close-only prices have no ATR or volume) are skipped and listed in the metadata;
    values during a factor's warm-up have no row (NULL in ``features``).
    """
    start, end = trading_day_window(context)
    wanted = resolve(config.factors or None)

    with warehouse.connect(read_only=True) as con:
        bars = read_prices_for_factors(con, start, end, wanted)
    present = {c for c in bars.columns if bars[c].notna().any()}
    names, skipped = available_factors(present | {"close"}, [d.name for d in wanted])
    values = compute_factors(bars, names, since=pd.Timestamp(start)) if len(bars) else None
    if values is None:
        values = pd.DataFrame({"ticker": [], "date": [], "factor": [], "value": []})
    context.log.info(
        f"{start}..{end}: {len(bars)} price rows read, {len(values)} values for "
        f"{len(names)} factors, {len(skipped)} skipped"
    )

    with warehouse.transaction() as con:
        n_factors = write_factor_definitions(con)
        refresh_features_view(con)
        deleted, inserted = replace_factor_values(con, values, start, end)
        cover = coverage(con, start, end)
        latest = latest_cross_section(con, end)

    metadata = {
        "window": f"{start.isoformat()}..{end.isoformat()}",
        "factor_count": len(names),
        "factors_registered": n_factors,
        "price_rows_read": len(bars),
        "price_rows_in_window": int((pd.to_datetime(bars["date"]) >= pd.Timestamp(start)).sum())
        if len(bars)
        else 0,
        "tickers": int(bars["ticker"].nunique()) if len(bars) else 0,
        "rows_written": inserted,
        "rows_replaced": deleted,
        # replace_factor_values refused any value outside the window
        "dates_written": int(values["date"].nunique()),
        "min_coverage_pct": float(cover.loc[cover["factor"].isin(names), "coverage_pct"].min())
        if names and len(cover)
        else 0.0,
        "coverage": MetadataValue.md(_coverage_markdown(cover, skipped)),
        "table": MetadataValue.md(
            "`factor_values(ticker, date, factor, value)`; wide: `SELECT * FROM features`"
        ),
    }
    if skipped:
        metadata["skipped_factors"] = MetadataValue.md(
            "\n".join(f"- `{name}`: {reason}" for name, reason in skipped.items())
        )
    if len(latest):
        metadata["latest_date"] = latest["date"].iloc[0].date().isoformat()
        metadata["latest_cross_section"] = MetadataValue.md(
            latest.drop(columns="date").to_markdown(index=False, floatfmt=".4g")
        )
    return MaterializeResult(metadata=metadata)


def _coverage_markdown(cover: pd.DataFrame, skipped: dict[str, str]) -> str:
    shown = cover.assign(
        status=np.where(cover["factor"].isin(list(skipped)), "skipped (data lacks columns)", "")
    )
    return shown.to_markdown(index=False)


@asset_check(
    asset=factor_values,
    name="coverage_not_collapsing",
    description=(
        "On the run's days (every day when run alone), no factor's share of tickers with a "
        "value drops below half its median of the previous 20 trading days (a broken input "
        "column or a bad write, not a warm-up)."
    ),
    blocking=False,
)
def coverage_not_collapsing(
    context: AssetCheckExecutionContext, warehouse: Warehouse
) -> AssetCheckResult:
    start, end = checked_window(context)
    with warehouse.connect(read_only=True) as con:
        collapses = coverage_collapses(con, start=start, end=end)
    metadata = {"collapses": len(collapses), "dates_checked": _dates_text(start, end)}
    if len(collapses):
        metadata["factors"] = ", ".join(sorted(collapses["factor"].unique()))
        metadata["examples"] = MetadataValue.md(collapses.head(20).to_markdown(index=False))
    return AssetCheckResult(
        passed=collapses.empty, severity=AssetCheckSeverity.ERROR, metadata=metadata
    )


@asset_check(
    asset=factor_values,
    name="one_value_per_key",
    description=(
        "Each (ticker, date, factor) of the run's days (every day when run alone) is stored "
        "at most once: a run replaces whole days, so only its own days can break this."
    ),
    blocking=True,
)
def one_value_per_key(
    context: AssetCheckExecutionContext, warehouse: Warehouse
) -> AssetCheckResult:
    start, end = checked_window(context)
    with warehouse.connect(read_only=True) as con:
        duplicates = duplicate_factor_rows(con, start, end)
    return AssetCheckResult(
        passed=duplicates == 0,
        metadata={"duplicate_rows": int(duplicates), "dates_checked": _dates_text(start, end)},
    )


def _dates_text(start, end) -> str:
    return f"{start}..{end} (the run's days)" if start is not None else "all"


factor_checks = [coverage_not_collapsing, one_value_per_key]
