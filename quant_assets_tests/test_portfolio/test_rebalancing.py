"""Rebalance calendars and the no-trade band, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.portfolio import apply_no_trade_band, rebalance_orders, rebalance_schedule
from quant_assets_tests.test_portfolio.conftest import wide

NAN = np.nan


def test_daily_schedule_trades_every_date():
    dates = pd.bdate_range("2021-01-04", periods=3)
    assert rebalance_schedule(dates, "daily").tolist() == [True, True, True]


def test_weekly_schedule_flags_the_first_trading_date_of_each_week():
    # Mon 2021-01-04 .. Fri 01-15, with Monday 01-11 missing (a holiday)
    dates = pd.bdate_range("2021-01-04", "2021-01-15").drop(pd.Timestamp("2021-01-11"))
    flagged = dates[rebalance_schedule(dates, "weekly")]
    assert list(flagged.strftime("%Y-%m-%d")) == ["2021-01-04", "2021-01-12"]


def test_monthly_schedule_flags_the_first_trading_date_of_each_month():
    dates = pd.DatetimeIndex(["2021-01-28", "2021-01-29", "2021-02-01", "2021-02-02", "2021-03-01"])
    assert rebalance_schedule(dates, "monthly").tolist() == [True, False, True, False, True]


def test_schedule_starting_mid_month_rebalances_on_the_first_date():
    dates = pd.bdate_range("2021-01-20", periods=3)
    assert rebalance_schedule(dates, "monthly").tolist() == [True, False, False]


def test_unknown_frequency_is_refused():
    with pytest.raises(ValueError, match="frequency"):
        rebalance_schedule(pd.bdate_range("2021-01-04", periods=2), "hourly")


def test_band_trades_only_when_the_target_leaves_the_band():
    dates = pd.bdate_range("2021-01-04", periods=6)
    targets = wide(dates, A=[0.10, 0.12, 0.20, 0.19, NAN, 0.0])
    orders = apply_no_trade_band(targets, 0.05)
    # held: 0 -> 0.10 (moved 0.10) ; 0.12 is 0.02 away: hold ; 0.20 is 0.10 away: trade ;
    # 0.19 is 0.01 away: hold ; NaN: no target, hold ; 0.0 is 0.20 away: trade
    np.testing.assert_array_equal(orders["A"].to_numpy(), [0.10, NAN, 0.20, NAN, NAN, 0.0])


def test_band_compares_with_the_last_order_not_the_last_target():
    dates = pd.bdate_range("2021-01-04", periods=3)
    targets = wide(dates, A=[0.10, 0.14, 0.18])  # each step 0.04 < band, two steps 0.08 > band
    np.testing.assert_array_equal(
        apply_no_trade_band(targets, 0.05)["A"].to_numpy(), [0.10, NAN, 0.18]
    )


def test_small_first_targets_stay_flat_inside_the_band():
    dates = pd.bdate_range("2021-01-04", periods=2)
    targets = wide(dates, A=[0.01, -0.03], B=[0.5, 0.5])
    orders = apply_no_trade_band(targets, 0.02)
    np.testing.assert_array_equal(orders.to_numpy(), [[NAN, 0.5], [-0.03, NAN]])


def test_no_band_orders_every_target_on_rebalance_dates_only():
    dates = pd.bdate_range("2021-01-04", periods=8)  # Mon .. next Wed
    targets = wide(dates, A=[0.1] * 8)
    orders = rebalance_orders(targets, "weekly", band=0.0)
    # band 0 re-orders the unchanged target on the next Monday so drift is traded away
    np.testing.assert_array_equal(orders["A"].to_numpy(), [0.1, NAN, NAN, NAN, NAN, 0.1, NAN, NAN])


def test_band_only_sees_rebalance_dates():
    dates = pd.bdate_range("2021-01-04", periods=10)
    targets = wide(dates, A=[0.0, 0.5, 0.5, 0.5, 0.5, 0.52, 0.9, 0.9, 0.9, 0.9])
    orders = apply_no_trade_band(targets, 0.05, rebalance=rebalance_schedule(dates, "weekly"))
    # Mondays only: 0.0 (inside the band of the flat book: no order), then 0.52 (trade)
    assert orders["A"].dropna().to_dict() == {dates[5]: 0.52}


def test_band_checks_its_arguments():
    targets = wide(pd.bdate_range("2021-01-04", periods=2), A=[0.1, 0.2])
    with pytest.raises(ValueError, match="band"):
        apply_no_trade_band(targets, -0.01)
    with pytest.raises(ValueError, match="flag per date"):
        apply_no_trade_band(targets, 0.0, rebalance=np.array([True]))
