"""Asset checks on ``prices``: contract breaks block downstream, suspicious values warn.

* Blocking, ERROR: rows the table's contract forbids (non-finite or non-positive values, a
  close outside its bar's low..high, weekend or future dates, malformed tickers, repeated
  keys) and bad ticks (an unexplained jump the next day undoes). A failed one stops every downstream asset of the same run: factors, models and
  backtests never see such a row.
* Warning, non-blocking: suspicious but possible values (a 60% move can be real), kept in the
  table and reported so that a researcher sees them before a model trains on them.

Each check runs one finder of :mod:`quant_assets.warehouse.price_quality` and reports its
count and first examples.
"""

# No `from __future__ import annotations` here: Dagster reads these annotations at runtime.
from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from quant_assets.assets.ingest import prices
from quant_assets.resources.warehouse import Warehouse
from quant_assets.warehouse import price_quality as quality
from quant_assets.warehouse.price_quality import Finder


def _price_check(
    name: str, finder: Finder, description: str, *, blocking: bool
) -> AssetChecksDefinition:
    severity = AssetCheckSeverity.ERROR if blocking else AssetCheckSeverity.WARN

    @asset_check(asset=prices, name=name, description=description, blocking=blocking)
    def _check(warehouse: Warehouse) -> AssetCheckResult:
        with warehouse.connect(read_only=True) as con:
            count, examples = finder(con)
        metadata = {"count": count}
        if count:
            metadata["examples"] = MetadataValue.md(examples.to_markdown(index=False))
        return AssetCheckResult(passed=count == 0, severity=severity, metadata=metadata)

    return _check


blocking_price_checks = [
    _price_check(
        "non_finite_or_non_positive_values",
        quality.non_finite_or_non_positive,
        "Blocks downstream: a NaN or infinite value, a price <= 0 or a negative volume.",
        blocking=True,
    ),
    _price_check(
        "inconsistent_bars",
        quality.inconsistent_bars,
        "Blocks downstream: high below low, or open or close outside the bar's low..high.",
        blocking=True,
    ),
    _price_check(
        "invalid_dates",
        quality.invalid_dates,
        "Blocks downstream: a bar dated on a weekend or after the day it was ingested.",
        blocking=True,
    ),
    _price_check(
        "malformed_tickers",
        quality.malformed_tickers,
        "Blocks downstream: a ticker that does not match the ticker pattern.",
        blocking=True,
    ),
    _price_check(
        "duplicate_price_keys",
        quality.duplicate_keys,
        "Blocks downstream: more than one row for a (ticker, date).",
        blocking=True,
    ),
    _price_check(
        "unexplained_jumps",
        quality.reverting_ticks,
        "Blocks downstream: a close moving beyond 50% that no applied split or unit change "
        "explains and the next day undoes (a bad tick; the prices asset quarantines them as "
        "unexplained_jump). A jump that stays is a large_daily_moves warning.",
        blocking=True,
    ),
]

warning_price_checks = [
    _price_check(
        "large_daily_moves",
        quality.large_moves,
        "Close-to-close moves beyond 50% between consecutive bars (crash, split or bad tick).",
        blocking=False,
    ),
    _price_check(
        "zero_volume_bars", quality.zero_volume, "Bars with volume exactly 0.", blocking=False
    ),
    _price_check(
        "flat_bars", quality.flat_bars, "Bars with open = high = low = close.", blocking=False
    ),
    _price_check(
        "trading_day_gaps",
        quality.trading_day_gaps,
        "Trading days (on which half the listed tickers have bars) missing inside a ticker's range.",
        blocking=False,
    ),
]

price_checks = [*blocking_price_checks, *warning_price_checks]
