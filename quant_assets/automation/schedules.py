"""The daily schedule: after the US close, fetch that day's bars and update downstream.

A day whose run failed (FMP down, a killed run) is not lost: each evening's run starts at the
first trading day after the newest day ``fmp_daily_bars`` has materialized, so it catches up
the gap in one run, up to ``QUANT_ASSETS_CATCH_UP_DAYS`` (default 10) trading days back. A
longer gap is logged and left to a backfill, which is the deliberate tool for it.
"""

# No `from __future__ import annotations` here: Dagster reads these annotations at runtime.
import datetime as dt

import pandas as pd
from dagster import (
    AssetKey,
    DagsterInstance,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    schedule,
)

from quant_assets.assets.backtest import backtest_report, backtests
from quant_assets.assets.factors import factor_values
from quant_assets.assets.ingest import DAILY_UPDATE_CRON, fmp_daily_bars, prices
from quant_assets.assets.models import predictions
from quant_assets.assets.portfolio import target_weights
from quant_assets.automation.settings import days_from_env
from quant_assets.partitions import (
    EXCHANGE_TIMEZONE,
    RANGE_END,
    RANGE_START,
    trading_day_partitions,
)
from quant_assets.resources.fmp import FMPClient

CATCH_UP_DAYS_ENV = "QUANT_ASSETS_CATCH_UP_DAYS"

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
    cron_schedule=DAILY_UPDATE_CRON,
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
    return evening_run_request(
        context.instance, context.scheduled_execution_time.date(), log=context.log
    )


def evening_run_request(instance: DagsterInstance, day: dt.date, log=None) -> RunRequest:
    """The run for the evening of ``day``: that day, or a range catching up missed days."""
    first_missed = first_missed_day(instance, day)
    start = catch_up_start(first_missed, day, catch_up_days())
    if start > first_missed and log is not None:
        left = (pd.Timestamp(start) - pd.offsets.BDay(1)).date()
        log.warning(
            f"trading days {first_missed}..{left} have no FMP bars and lie beyond "
            f"{CATCH_UP_DAYS_ENV}={catch_up_days()}: backfill fmp_daily_bars for them"
        )
    if start == day:
        return RunRequest(run_key=day.isoformat(), partition_key=day.isoformat())
    if log is not None:
        log.info(f"catching up trading days {start}..{day} missed since the last run")
    return RunRequest(
        run_key=day.isoformat(),
        tags={RANGE_START: start.isoformat(), RANGE_END: day.isoformat()},
    )


def catch_up_start(first_missed: dt.date, day: dt.date, max_days: int) -> dt.date:
    """The first day the evening run of ``day`` fetches: ``first_missed``, but at most
    ``max_days`` trading days before ``day``."""
    return max(first_missed, (pd.Timestamp(day) - pd.offsets.BDay(max_days)).date())


def catch_up_days() -> int:
    """How many trading days an evening run may reach back (``$QUANT_ASSETS_CATCH_UP_DAYS``)."""
    return days_from_env(CATCH_UP_DAYS_ENV, 10, minimum=0)


def first_missed_day(instance: DagsterInstance, day: dt.date) -> dt.date:
    """The trading day after the newest ``fmp_daily_bars`` partition materialized before ``day``."""
    done = instance.get_materialized_partitions(AssetKey("fmp_daily_bars"))
    return day_after_newest_before(day, [dt.date.fromisoformat(k) for k in done])


def day_after_newest_before(day: dt.date, fetched: list[dt.date]) -> dt.date:
    """The weekday after the newest of ``fetched`` before ``day``; ``day`` when none is.

    Partitions are weekdays, holidays included. With no earlier day fetched it is ``day``
    itself: history comes from price files or a deliberate backfill, not an evening run.
    """
    earlier = [d for d in fetched if d < day]
    if not earlier:
        return day
    return (pd.Timestamp(max(earlier)) + pd.offsets.BDay(1)).date()
