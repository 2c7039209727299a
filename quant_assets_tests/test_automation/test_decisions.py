"""The decisions of the sensors and the schedule as plain functions, on hand-checked cases,
and the freshness policy of ``prices`` against the evening schedule."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from dagster import AssetKey
from dagster._utils.schedules import get_latest_completed_cron_tick

from quant_assets.assets.ingest import prices
from quant_assets.automation.retrain import retrain_reasons, retrain_run_key
from quant_assets.automation.schedules import (
    catch_up_start,
    daily_update_schedule,
    day_after_newest_before,
)
from quant_assets.automation.sensors import ChangedFile, file_run_requests, new_partition_keys
from quant_assets.partitions import (
    DAILY_UPDATE_CRON,
    EXCHANGE_TIMEZONE,
    PRICES_DEADLINE_CRON,
    RANGE_END,
    RANGE_START,
)
from quant_assets.warehouse.training_data import DataSinceTraining

D = dt.date
NEW_YORK = ZoneInfo(EXCHANGE_TIMEZONE)


# --- retrain --------------------------------------------------------------------------------


def _state(**kw) -> DataSinceTraining:
    base = dict(training_id="t1", data_end=D(2023, 1, 3), new_days=5, newest=D(2023, 1, 10))
    return DataSinceTraining(**{**base, **kw})


def test_no_training_yet_is_a_reason_by_itself():
    state = DataSinceTraining(None, None, new_tickers=["A"], newest=D(2023, 1, 10))
    assert retrain_reasons(state, 21) == ["no training yet"]


def test_new_days_count_from_the_threshold_on_and_new_tickers_always():
    assert retrain_reasons(_state(new_days=20), 21) == []
    assert retrain_reasons(_state(new_days=21), 21) == ["21 new trading days since 2023-01-03"]
    assert retrain_reasons(_state(new_tickers=["NEW"]), 21) == ["new tickers NEW"]


def test_the_run_key_changes_with_the_data_state_only():
    assert retrain_run_key(_state()) == retrain_run_key(_state(new_days=7))
    assert retrain_run_key(_state()) != retrain_run_key(_state(newest=D(2023, 1, 11)))
    assert retrain_run_key(_state()) != retrain_run_key(_state(new_tickers=["NEW"]))


# --- daily schedule -------------------------------------------------------------------------


def test_the_first_missed_day_is_the_weekday_after_the_newest_fetched_before_the_day():
    fetched = [D(2022, 12, 29), D(2015, 6, 1), D(2023, 1, 5)]  # one after the day, one old
    assert day_after_newest_before(D(2023, 1, 4), fetched) == D(2022, 12, 30)
    assert day_after_newest_before(D(2023, 1, 2), [D(2022, 12, 30)]) == D(2023, 1, 2)  # Fri->Mon
    assert day_after_newest_before(D(2023, 1, 4), []) == D(2023, 1, 4)


def test_the_catch_up_is_cut_at_the_limit():
    wednesday = D(2023, 1, 4)
    assert catch_up_start(D(2022, 12, 30), wednesday, 10) == D(2022, 12, 30)
    assert catch_up_start(D(2022, 11, 2), wednesday, 3) == D(2022, 12, 30)
    assert catch_up_start(wednesday, wednesday, 0) == wednesday


# --- raw-file sensor ------------------------------------------------------------------------


def test_new_partition_keys_are_the_unknown_tickers_of_changed_files_and_of_the_warehouse():
    changed = [ChangedFile("a.csv", "0" * 64, ["MSFT", "AAPL"])]
    assert new_partition_keys(changed, ["XOM", "AAPL"], known=["AAPL"]) == ["MSFT", "XOM"]
    assert new_partition_keys([], [], known=["AAPL"]) == []


def test_one_run_per_file_and_contiguous_block_naming_just_that_file():
    changed = [
        ChangedFile("one.csv", "a" * 64, ["B"]),
        ChangedFile("two.csv", "b" * 64, ["A", "C", "D"]),
    ]
    requests = file_run_requests(changed, ["A", "B", "C", "D"])
    assert [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in requests] == [
        ("B", "B"),
        ("A", "A"),
        ("C", "D"),
    ]
    assert [r.run_config["ops"]["price_files"]["config"]["paths"] for r in requests] == [
        ["one.csv"],
        ["two.csv"],
        ["two.csv"],
    ]
    assert len({r.run_key for r in requests}) == 3


# --- freshness of prices --------------------------------------------------------------------


def test_prices_carries_a_freshness_policy_on_the_definition():
    from quant_assets.definitions import defs

    policy = defs.resolve_asset_graph().get(AssetKey("prices")).freshness_policy
    assert policy is not None and policy == prices.specs_by_key[prices.key].freshness_policy
    assert policy.deadline_cron == PRICES_DEADLINE_CRON
    assert policy.timezone == daily_update_schedule.execution_timezone == EXCHANGE_TIMEZONE
    assert daily_update_schedule.cron_schedule == DAILY_UPDATE_CRON


def _fresh(materialized_at: dt.datetime, now: dt.datetime) -> bool:
    """The rule Dagster applies to a cron policy: materialized after the last deadline minus
    the lower bound."""
    policy = prices.specs_by_key[prices.key].freshness_policy
    deadline = get_latest_completed_cron_tick(policy.deadline_cron, now, policy.timezone)
    return materialized_at >= deadline - policy.lower_bound_delta


def _ny(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2023, 1, day, hour, minute, tzinfo=NEW_YORK)  # Jan 2023: Mon 2, Fri 6


def test_each_evening_run_keeps_prices_fresh_until_the_next_evening_deadline():
    tuesday_run = _ny(3, 18, 45)
    assert _fresh(tuesday_run, _ny(4, 12))  # Wednesday noon: Tuesday's deadline met
    assert _fresh(tuesday_run, _ny(4, 20, 29))
    assert not _fresh(tuesday_run, _ny(4, 20, 31))  # Wednesday's run missed its deadline


def test_fridays_run_carries_prices_over_the_weekend_but_a_missed_friday_does_not():
    assert _fresh(_ny(6, 18, 40), _ny(9, 9))  # Monday morning after Friday's run
    assert not _fresh(_ny(5, 18, 40), _ny(9, 9))  # only Thursday's run
