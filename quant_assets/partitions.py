"""Partitions: tickers (dynamic, one per instrument) and trading days (weekdays).

Ticker and date are separate dimensions on different assets rather than one product: at 500
tickers x 20 years a product would hold millions of partitions, far beyond what Dagster
recommends, while each dimension alone stays in the thousands.
"""

from __future__ import annotations

import datetime as dt

from dagster import DynamicPartitionsDefinition, TimeWindowPartitionsDefinition

from quant_assets.settings import HISTORY_START_ENV, read_setting

EXCHANGE_TIMEZONE = "America/New_York"
# The evening update (weekdays 18:30 New York, after the close) and the deadlines that the
# freshness policies hold it to: prices two hours later (room for a catch-up run), the report
# by 21:00 (the whole chain after prices).
DAILY_UPDATE_CRON = "30 18 * * 1-5"
PRICES_DEADLINE_CRON = "30 20 * * 1-5"
REPORT_DEADLINE_CRON = "0 21 * * 1-5"
# Read once: Dagster needs one fixed partitions definition per code location load.
HISTORY_START = read_setting(HISTORY_START_ENV).isoformat()

# Run tags that make one run cover a range of partitions (how single-run backfills work).
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"

ticker_partitions = DynamicPartitionsDefinition(name="tickers")

# One partition per weekday. Exchange holidays are weekdays too: their partitions exist and
# simply hold no bars. end_offset=1 makes today's partition available for the evening run.
trading_day_partitions = TimeWindowPartitionsDefinition(
    cron_schedule="0 0 * * 1-5",
    fmt="%Y-%m-%d",
    start=HISTORY_START,
    timezone=EXCHANGE_TIMEZONE,
    end_offset=1,
)


def checked_window(context) -> tuple[dt.date | None, dt.date | None]:
    """The trading days an asset check should judge: its run's partition range, or
    ``(None, None)`` (everything) when the check runs without one, e.g. alone from the UI."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return None, None
    return trading_day_window(context)


def trading_day_window(context) -> tuple[dt.date, dt.date]:
    """First and last trading day of a run over ``trading_day_partitions`` (one or a range)."""
    keys = context.partition_key_range
    return dt.date.fromisoformat(keys.start), dt.date.fromisoformat(keys.end)
