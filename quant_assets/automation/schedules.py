"""The daily schedule: after the US close, fetch that day's bars and update downstream.

A day whose run failed (FMP down, a killed run) is not lost: each evening's run starts at the
first trading day after the newest day ``fmp_daily_bars`` has materialized, so it catches up
the gap in one run, up to ``QUANT_ASSETS_CATCH_UP_DAYS`` (default 10) trading days back. A
longer gap is logged and left to a backfill, which is the deliberate tool for it.

Corrections reach downstream: a price file re-delivered with a changed past bar, a retracted
row, a quarantined tick or a newly applied split changes prices of days long before the
evening's. Every ingest materialization reports the earliest day it changed
(``first_affected_date``); when one since the start of the last successful ``daily_update``
run lies before the evening's range, a second request of the same job recomputes
``factor_values``, ``predictions``, ``target_weights`` and the backtests (not the FMP fetch)
from that day to the evening's day. The factors read their own lookback before it.
"""

# No `from __future__ import annotations` here: Dagster reads these annotations at runtime.
import datetime as dt

import pandas as pd
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DagsterRunStatus,
    DefaultScheduleStatus,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    schedule,
)

from quant_assets.assets.backtest import backtest_report, backtests
from quant_assets.assets.factors import factor_values
from quant_assets.assets.ingest import (
    FIRST_AFFECTED_DATE,
    fmp_daily_bars,
    price_files,
    prices,
)
from quant_assets.assets.models import predictions
from quant_assets.assets.portfolio import target_weights
from quant_assets.partitions import (
    DAILY_UPDATE_CRON,
    EXCHANGE_TIMEZONE,
    RANGE_END,
    RANGE_START,
    trading_day_partitions,
)
from quant_assets.resources.fmp import FMPClient
from quant_assets.settings import CATCH_UP_DAYS_ENV, read_setting

# Materializations that report the first day whose stored price they changed.
PRICE_WRITERS = (price_files, fmp_daily_bars, prices)
# What a correction of past prices makes stale: everything downstream of prices.
RECOMPUTED_ON_REVISION = (factor_values, predictions, target_weights, backtests, backtest_report)
# How many ingest materializations since the last daily run are read (a folder of files
# dropped at once is one run per file).
MAX_WRITES_READ = 10_000

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
def daily_update_schedule(
    context: ScheduleEvaluationContext,
) -> RunRequest | list[RunRequest] | SkipReason:
    day = context.scheduled_execution_time.date()
    revision = revision_run_request(context.instance, day, log=context.log)
    if not FMPClient.has_api_key():
        skip = (
            "FMP_API_KEY is not set: the daily FMP update is skipped. Export the key where the "
            "Dagster daemon runs (or drop CSV files into data/raw) to keep prices current."
        )
        return [revision] if revision else SkipReason(skip)
    evening = evening_run_request(context.instance, day, log=context.log)
    if revision is None or _range_start(revision) >= _range_start(evening):
        return evening
    return [evening, revision]


def _range_start(request: RunRequest) -> str:
    return request.partition_key or request.tags[RANGE_START]


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


def revision_run_request(instance: DagsterInstance, day: dt.date, log=None) -> RunRequest | None:
    """The recomputation of everything downstream of ``prices`` from the first day whose price
    changed since the last successful ``daily_update`` run started, to ``day``; None when no
    such run exists yet (history is computed when it is loaded) or nothing changed."""
    since = last_daily_run_start(instance)
    first = first_revised_day(instance, since) if since is not None else None
    if first is None or first > day:
        return None
    start = max(first, dt.date.fromisoformat(trading_day_partitions.get_first_partition_key()))
    start = (pd.Timestamp(start) + pd.offsets.BDay(0)).date()  # a weekday: a partition key
    if log is not None:
        log.info(f"prices changed back to {first}: recomputing {start}..{day} downstream")
    return RunRequest(
        run_key=f"{day.isoformat()}/revised-from-{start.isoformat()}",
        asset_selection=[a.key for a in RECOMPUTED_ON_REVISION],
        tags={RANGE_START: start.isoformat(), RANGE_END: day.isoformat()},
    )


def last_daily_run_start(instance: DagsterInstance) -> float | None:
    """When the newest successful ``daily_update`` run was created (epoch seconds), if any."""
    records = instance.get_run_records(
        RunsFilter(job_name=daily_update_job.name, statuses=[DagsterRunStatus.SUCCESS]), limit=1
    )
    return records[0].create_timestamp.timestamp() if records else None


def first_revised_day(instance: DagsterInstance, since: float) -> dt.date | None:
    """The earliest ``first_affected_date`` that ingest materializations after ``since``
    (epoch seconds) report, if any."""
    days = []
    for asset in PRICE_WRITERS:
        found = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset.key, after_timestamp=since), limit=MAX_WRITES_READ
        )
        for record in found.records:
            value = record.asset_materialization.metadata.get(FIRST_AFFECTED_DATE)
            if value is not None and value.value:
                days.append(dt.date.fromisoformat(str(value.value)))
    return min(days, default=None)


def catch_up_start(first_missed: dt.date, day: dt.date, max_days: int) -> dt.date:
    """The first day the evening run of ``day`` fetches: ``first_missed``, but at most
    ``max_days`` trading days before ``day``."""
    return max(first_missed, (pd.Timestamp(day) - pd.offsets.BDay(max_days)).date())


def catch_up_days() -> int:
    """How many trading days an evening run may reach back (``$QUANT_ASSETS_CATCH_UP_DAYS``)."""
    return read_setting(CATCH_UP_DAYS_ENV)


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
