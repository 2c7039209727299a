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
    AutomationCondition,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)
from pydantic import Field, field_validator

from quant_assets.assets.ingest import prices
from quant_assets.factors import FACTOR_REGISTRY
from quant_assets.factors.registry import resolve
from quant_assets.factors.window_values import WindowFactors, factors_for_window
from quant_assets.partitions import checked_window, trading_day_partitions, trading_day_window
from quant_assets.resources.warehouse import Warehouse
from quant_assets.warehouse.factors import (
    coverage,
    coverage_collapses,
    duplicate_factor_rows,
    latest_cross_section,
    malformed_factor_values,
    read_prices_for_factors,
    refresh_features_view,
    replace_factor_values,
    write_factor_definitions,
)

# Eager, minus two things that do not fit this graph: a new (empty) trading-day partition at
# midnight is no reason to run (the daily schedule fills it after the close), and partitions
# of years nobody materialized do not hold a descendant back. A run that also materializes the
# asset itself (the daily schedule's) does not trigger it again: any_deps_updated ignores it.
ON_UPSTREAM_UPDATE = (
    AutomationCondition.in_latest_time_window()
    & AutomationCondition.any_deps_updated().since_last_handled()
    & ~AutomationCondition.any_deps_in_progress()
    & ~AutomationCondition.in_progress()
).with_label("on_upstream_update")


class FactorValuesConfig(Config):
    """Which factors to compute."""

    factors: list[str] = Field(
        default=[],
        description=(
            "Registry names of the factors to compute (see the factor_definitions table), e.g. "
            "['rsi_14', 'sma_20']; empty = every registered factor."
        ),
    )

    @field_validator("factors")
    @classmethod
    def _registered(cls, names: list[str]) -> list[str]:
        unknown = sorted(set(names) - set(FACTOR_REGISTRY))
        if unknown:
            raise ValueError(f"unknown factors {unknown}; registered: {list(FACTOR_REGISTRY)}")
        return names


@asset(
    deps=[prices],
    partitions_def=trading_day_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    automation_condition=ON_UPSTREAM_UPDATE,
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
    values during a factor's warm-up have no row (NULL in ``features``). After new prices land
    outside the daily schedule (a dropped file), the newest trading day is recomputed.
    """
    start, end = trading_day_window(context)
    wanted = resolve(config.factors or None)
    with warehouse.connect(read_only=True) as con:
        bars = read_prices_for_factors(con, start, end, wanted)
    computed = factors_for_window(bars, [d.name for d in wanted], start)
    context.log.info(
        f"{start}..{end}: {len(bars)} price rows read, {len(computed.values)} values for "
        f"{len(computed.names)} factors, {len(computed.skipped)} skipped"
    )
    with warehouse.transaction() as con:
        n_factors = write_factor_definitions(con)
        refresh_features_view(con)
        deleted, inserted = replace_factor_values(con, computed.values, start, end)
        cover = coverage(con, start, end)
        latest = latest_cross_section(con, end)
    metadata = _factor_metadata(computed, bars, start, end, cover, latest)
    metadata.update(factors_registered=n_factors, rows_written=inserted, rows_replaced=deleted)
    return MaterializeResult(metadata=metadata)


def _factor_metadata(
    computed: WindowFactors, bars: pd.DataFrame, start, end, cover, latest
) -> dict:
    names, skipped, values = computed.names, computed.skipped, computed.values
    in_window = pd.to_datetime(bars["date"]) >= pd.Timestamp(start) if len(bars) else []
    metadata = {
        "window": f"{start.isoformat()}..{end.isoformat()}",
        "factor_count": len(names),
        "price_rows_read": len(bars),
        "price_rows_in_window": int(np.sum(in_window)),
        "tickers": int(bars["ticker"].nunique()) if len(bars) else 0,
        # replace_factor_values refused any value outside the window
        "dates_written": int(values["date"].nunique()),
        "min_coverage_pct": float(cover.loc[cover["factor"].isin(names), "coverage_pct"].min())
        if names and len(cover)
        else 0.0,
        "coverage": MetadataValue.md(_coverage_markdown(cover, skipped)),
        "table": MetadataValue.md(
            "`factor_values(ticker, date, factor, value)`; wide: the `features` view"
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
    return metadata


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
    # A heuristic (a real market-wide gap also drops coverage): it warns, it does not block.
    return AssetCheckResult(
        passed=collapses.empty, severity=AssetCheckSeverity.WARN, metadata=metadata
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
        severity=AssetCheckSeverity.ERROR,
        metadata={"duplicate_rows": int(duplicates), "dates_checked": _dates_text(start, end)},
    )


@asset_check(
    asset=factor_values,
    name="values_match_prices_and_registry",
    description=(
        "Every value of the run's days (every day when run alone) is finite, names a factor of "
        "factor_definitions and belongs to a price bar of its ticker and date. Blocking: a "
        "failure stops predictions and everything after them."
    ),
    blocking=True,
)
def values_match_prices_and_registry(
    context: AssetCheckExecutionContext, warehouse: Warehouse
) -> AssetCheckResult:
    start, end = checked_window(context)
    with warehouse.connect(read_only=True) as con:
        count, examples = malformed_factor_values(con, start, end)
    metadata = {"malformed_rows": count, "dates_checked": _dates_text(start, end)}
    if count:
        metadata["problems"] = ", ".join(sorted(examples["problem"].unique()))
        metadata["examples"] = MetadataValue.md(examples.to_markdown(index=False))
    return AssetCheckResult(passed=count == 0, severity=AssetCheckSeverity.ERROR, metadata=metadata)


def _dates_text(start, end) -> str:
    return f"{start}..{end} (the run's days)" if start is not None else "all"


factor_checks = [coverage_not_collapsing, one_value_per_key, values_match_prices_and_registry]
