"""The daily schedule: skips clearly without an API key, targets that day's partition with one."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from dagster import RunRequest, SkipReason, build_schedule_context

from quant_assets.automation.schedules import daily_update_schedule
from quant_assets.partitions import trading_day_partitions

WEDNESDAY_EVENING = dt.datetime(2023, 1, 4, 18, 30, tzinfo=ZoneInfo("America/New_York"))


def test_without_an_api_key_the_schedule_skips_with_a_clear_message(monkeypatch):
    monkeypatch.delenv("FMP_API_KEY", raising=False)
    result = daily_update_schedule(
        build_schedule_context(scheduled_execution_time=WEDNESDAY_EVENING)
    )
    assert isinstance(result, SkipReason)
    assert "FMP_API_KEY is not set" in result.skip_message


def test_with_an_api_key_the_schedule_requests_that_days_partition(monkeypatch):
    monkeypatch.setenv("FMP_API_KEY", "test-key")
    result = daily_update_schedule(
        build_schedule_context(scheduled_execution_time=WEDNESDAY_EVENING)
    )
    assert isinstance(result, RunRequest)
    assert result.partition_key == "2023-01-04"
    assert result.partition_key in trading_day_partitions.get_partition_keys()


def test_trading_day_partitions_are_weekdays_only():
    keys = trading_day_partitions.get_partition_keys()
    assert all(dt.date.fromisoformat(k).weekday() < 5 for k in keys[-300:])
    assert "2023-01-07" not in keys and "2023-01-06" in keys
