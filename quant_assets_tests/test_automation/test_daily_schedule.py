"""The daily schedule: skips clearly without an API key, targets that day's partition with one,
and catches up days whose run failed."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from dagster import (
    AssetMaterialization,
    DagsterInstance,
    RunRequest,
    SkipReason,
    build_schedule_context,
    instance_for_test,
)

from quant_assets.automation.schedules import (
    CATCH_UP_DAYS_ENV,
    daily_update_schedule,
    first_missed_day,
)
from quant_assets.partitions import RANGE_END, RANGE_START, trading_day_partitions

WEDNESDAY_EVENING = dt.datetime(2023, 1, 4, 18, 30, tzinfo=ZoneInfo("America/New_York"))


def test_without_an_api_key_the_schedule_skips_with_a_clear_message(monkeypatch):
    monkeypatch.delenv("FMP_API_KEY", raising=False)
    with instance_for_test() as instance:
        result = _evening_request(instance)
    assert isinstance(result, SkipReason)
    assert "FMP_API_KEY is not set" in result.skip_message


def test_with_an_api_key_the_schedule_requests_that_days_partition(instance):
    result = _evening_request(instance)
    assert isinstance(result, RunRequest)
    assert result.partition_key == "2023-01-04"
    assert result.partition_key in trading_day_partitions.get_partition_keys()


def test_trading_day_partitions_are_weekdays_only():
    keys = trading_day_partitions.get_partition_keys()
    assert all(dt.date.fromisoformat(k).weekday() < 5 for k in keys[-300:])
    assert "2023-01-07" not in keys and "2023-01-06" in keys


# --- catching up days whose run failed -------------------------------------------------------


def _fetched(instance: DagsterInstance, *days: str) -> None:
    for day in days:
        instance.report_runless_asset_event(
            AssetMaterialization(asset_key="fmp_daily_bars", partition=day)
        )


def _evening_request(instance: DagsterInstance) -> RunRequest:
    with build_schedule_context(
        instance=instance, scheduled_execution_time=WEDNESDAY_EVENING
    ) as context:
        return daily_update_schedule(context)


@pytest.fixture
def instance(monkeypatch):
    monkeypatch.setenv("FMP_API_KEY", "test-key")
    monkeypatch.delenv(CATCH_UP_DAYS_ENV, raising=False)
    # Persistent: a schedule context cannot be handed an in-memory instance.
    with instance_for_test() as instance:
        yield instance


def test_a_run_after_yesterdays_success_requests_that_day_alone(instance):
    _fetched(instance, "2022-12-30", "2023-01-03")

    request = _evening_request(instance)

    assert request.partition_key == "2023-01-04"
    assert RANGE_START not in request.tags


def test_days_missed_since_the_last_fetched_day_are_caught_up_in_one_run(instance):
    # Thursday 2022-12-29 was the last good evening; Friday, Monday (a holiday, still a
    # partition) and Tuesday failed or never ran.
    _fetched(instance, "2022-12-28", "2022-12-29")

    request = _evening_request(instance)

    assert request.partition_key is None
    assert request.tags[RANGE_START] == "2022-12-30"
    assert request.tags[RANGE_END] == "2023-01-04"
    assert request.run_key == "2023-01-04"


def test_a_later_backfill_of_old_days_does_not_hide_a_recent_gap(instance):
    _fetched(instance, "2022-12-29", "2015-06-01")  # the backfill ran last

    assert _evening_request(instance).tags[RANGE_START] == "2022-12-30"


def test_a_gap_longer_than_the_catch_up_limit_is_cut_and_left_to_a_backfill(instance, monkeypatch):
    monkeypatch.setenv(CATCH_UP_DAYS_ENV, "3")
    _fetched(instance, "2022-11-01")

    request = _evening_request(instance)

    # 3 trading days before Wednesday 2023-01-04: Friday 2022-12-30.
    assert request.tags[RANGE_START] == "2022-12-30"
    assert request.tags[RANGE_END] == "2023-01-04"
    assert first_missed_day(instance, dt.date(2023, 1, 4)) == dt.date(2022, 11, 2)


def test_a_fresh_instance_fetches_only_the_day_itself(instance):
    assert _evening_request(instance).partition_key == "2023-01-04"


def test_a_bad_catch_up_setting_fails_the_tick_naming_the_variable(instance, monkeypatch):
    monkeypatch.setenv(CATCH_UP_DAYS_ENV, "ten")
    with pytest.raises(ValueError, match=f"{CATCH_UP_DAYS_ENV} must be a whole number"):
        _evening_request(instance)
