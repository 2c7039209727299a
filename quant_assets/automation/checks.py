"""Asset checks on ``prices``: suspicious but possible values, reported with counts and examples.

These rows are kept (a 60% move can be real); the checks warn so that a researcher sees them
before a model trains on them.
"""

# No `from __future__ import annotations` here: Dagster reads these annotations at runtime.
from collections.abc import Callable

import duckdb
import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from quant_assets.assets.ingest import prices
from quant_assets.ingest import quality
from quant_assets.resources.warehouse import Warehouse

Finder = Callable[[duckdb.DuckDBPyConnection], tuple[int, pd.DataFrame]]


def _warning_check(name: str, finder: Finder, description: str) -> AssetChecksDefinition:
    @asset_check(asset=prices, name=name, description=description, blocking=False)
    def _check(warehouse: Warehouse) -> AssetCheckResult:
        with warehouse.connect(read_only=True) as con:
            count, examples = finder(con)
        metadata = {"count": count}
        if count:
            metadata["examples"] = MetadataValue.md(examples.to_markdown(index=False))
        return AssetCheckResult(
            passed=count == 0, severity=AssetCheckSeverity.WARN, metadata=metadata
        )

    return _check


price_checks = [
    _warning_check(
        "large_daily_moves",
        quality.large_moves,
        "Close-to-close moves beyond 50% between consecutive bars (crash, split or bad tick).",
    ),
    _warning_check("zero_volume_bars", quality.zero_volume, "Bars with volume exactly 0."),
    _warning_check("flat_bars", quality.flat_bars, "Bars with open = high = low = close."),
    _warning_check(
        "trading_day_gaps",
        quality.trading_day_gaps,
        "Trading days (on which half the listed tickers have bars) missing inside a ticker's range.",
    ),
]
