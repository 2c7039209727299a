"""The daily schedule: after the US close, fetch that day's bars and update downstream."""

# No `from __future__ import annotations` here: Dagster reads these annotations at runtime.
from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    schedule,
)

from quant_assets.assets.backtest import backtest_report, backtests
from quant_assets.assets.factors import factor_values
from quant_assets.assets.ingest import fmp_daily_bars, prices
from quant_assets.assets.models import predictions
from quant_assets.assets.portfolio import target_weights
from quant_assets.partitions import EXCHANGE_TIMEZONE, trading_day_partitions
from quant_assets.resources.fmp import FMPClient

daily_update_job = define_asset_job(
    "daily_update",
    selection=[
        fmp_daily_bars,
        prices,
        factor_values,
        predictions,
        target_weights,
        backtests,
        backtest_report,
    ],
    partitions_def=trading_day_partitions,
    description="One trading day: FMP bars into prices, then everything downstream of them.",
)


@schedule(
    job=daily_update_job,
    cron_schedule="30 18 * * 1-5",
    execution_timezone=EXCHANGE_TIMEZONE,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Weekdays 18:30 New York: that day's end-of-day bars and their consequences.",
)
def daily_update_schedule(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
    if not FMPClient.has_api_key():
        return SkipReason(
            "FMP_API_KEY is not set: the daily FMP update is skipped. Export the key where the "
            "Dagster daemon runs (or drop CSV files into data/raw) to keep prices current."
        )
    day = context.scheduled_execution_time.date().isoformat()
    return RunRequest(run_key=day, partition_key=day)
