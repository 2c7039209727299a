"""run_backtest on tiny books whose every number is worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.backtest import BacktestResult, run_backtest

NAN = np.nan
DATES = pd.bdate_range("2021-01-04", periods=6)


def frame(**columns: list[float]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=DATES[:n], dtype=float)


@pytest.fixture
def two_tickers_three_days() -> BacktestResult:
    prices = frame(A=[10.0, 11.0, 12.0], B=[20.0, 18.0, 19.0])
    weights = frame(A=[0.5, NAN, 0.2], B=[0.3, NAN, NAN])
    return run_backtest(prices, weights, fee_bps=10, initial_cash=1000.0)


def test_orders_size_to_pre_trade_equity_and_pay_fees_from_cash(two_tickers_three_days):
    result = two_tickers_three_days
    # Day 0: E = 1000 -> 50 A at 10 and 15 B at 20; fee 10 bps of 800.
    cash0 = 1000.0 - 500.0 - 300.0 - 0.8
    # Day 1: no weights, no trades; the book is marked at the new closes.
    # Day 2: E = cash0 + 50 * 12 + 15 * 19, A goes to 20 % of it.
    e2 = cash0 + 50 * 12 + 15 * 19
    a2 = 0.2 * e2 / 12
    cash2 = cash0 + (50 - a2) * 12 * (1 - 0.001)
    expected = [cash0 + 800.0, cash0 + 50 * 11 + 15 * 18, cash2 + a2 * 12 + 15 * 19]
    np.testing.assert_allclose(result.equity.to_numpy(), expected, rtol=1e-13)
    np.testing.assert_allclose(result.cash.to_numpy(), [cash0, cash0, cash2], rtol=1e-13)
    assert result.trades["fee"].tolist() == pytest.approx([0.5, 0.3, (50 - a2) * 12 * 0.001])


def test_nan_weight_holds_the_position(two_tickers_three_days):
    positions = two_tickers_three_days.positions
    assert positions["B"].tolist() == [15.0, 15.0, 15.0]
    assert positions["A"].iloc[1] == 50.0
    assert len(two_tickers_three_days.trades) == 3  # nothing on day 1, no B order on day 2


def test_blotter_columns_and_reasons(two_tickers_three_days):
    trades = two_tickers_three_days.trades
    assert list(trades.columns) == [
        "date",
        "ticker",
        "shares",
        "price",
        "reference_price",
        "notional",
        "fee",
        "reason",
    ]
    assert trades["ticker"].tolist() == ["A", "B", "A"]
    assert trades["date"].tolist() == [DATES[0], DATES[0], DATES[2]]
    assert set(trades["reason"]) == {"rebalance"}
    assert (trades["shares"].iloc[2] < 0) and trades["price"].iloc[2] == 12.0


def test_held_weights_turnover_and_exposure(two_tickers_three_days):
    result = two_tickers_three_days
    w = result.weights
    assert w.loc[DATES[1], "A"] == pytest.approx(50 * 11 / result.equity.iloc[1], rel=1e-13)
    traded = np.array([800.0, 0.0, abs(result.trades["notional"].iloc[2])])
    expected_turnover = np.mean(traded / result.equity.to_numpy()) * 252
    assert result.metrics["turnover"] == pytest.approx(expected_turnover, rel=1e-12)
    gross = w.abs().sum(axis=1)
    assert result.metrics["gross_exposure"] == pytest.approx(gross.mean(), rel=1e-12)
    assert result.returns.iloc[0] == pytest.approx(result.equity.iloc[0] / 1000.0 - 1.0)


def test_sells_fill_before_buys():
    prices = frame(A=[10.0, 10.0], B=[20.0, 20.0])
    weights = frame(A=[0.9, 0.0], B=[NAN, 0.9])
    result = run_backtest(prices, weights, fee_bps=0, initial_cash=1000.0)
    # Buying B first would find only 100 of cash; selling A first frees 900.
    assert result.positions.iloc[1].tolist() == [0.0, 45.0]
    assert result.cash.iloc[1] == pytest.approx(100.0, rel=1e-13)
    day1 = result.trades[result.trades["date"] == DATES[1]]
    assert day1["ticker"].tolist() == ["A", "B"]
    assert day1["shares"].tolist() == [-90.0, 45.0]


@pytest.mark.parametrize("fee_bps", [0.0, 10.0])
def test_buys_beyond_cash_are_scaled_pro_rata(fee_bps):
    prices = frame(A=[10.0], B=[20.0])
    weights = frame(A=[0.8], B=[0.6])  # 140 % of equity
    result = run_backtest(prices, weights, fee_bps=fee_bps, initial_cash=1000.0)
    scale = 1000.0 / (1400.0 * (1 + fee_bps / 1e4))
    np.testing.assert_allclose(result.positions.iloc[0], [80.0 * scale, 30.0 * scale], rtol=1e-13)
    assert result.cash.iloc[0] == pytest.approx(0.0, abs=1e-9)


def test_next_open_fills_at_the_following_open_sized_at_that_open():
    prices = frame(A=[10.0, 11.0, 12.0])
    opens = frame(A=[9.0, 10.5, 11.5])
    weights = frame(A=[0.5, NAN, 0.9])  # the last bar's target never fills
    result = run_backtest(
        prices, weights, fee_bps=10, initial_cash=1000.0, execution="next_open", opens=opens
    )
    shares = 0.5 * 1000.0 / 10.5
    cash = 1000.0 - shares * 10.5 * 1.001
    assert result.positions["A"].tolist() == [0.0, shares, shares]
    np.testing.assert_allclose(
        result.equity, [1000.0, cash + shares * 11, cash + shares * 12], rtol=1e-13
    )
    assert result.trades["date"].tolist() == [DATES[1]]
    assert result.trades["reference_price"].tolist() == [10.5]


def test_next_open_marks_the_book_at_the_open():
    prices = frame(A=[10.0, 12.0, 12.0])
    opens = frame(A=[10.0, 11.0, 8.0])
    weights = frame(A=[0.5, 0.5, NAN])
    result = run_backtest(
        prices, weights, fee_bps=0, initial_cash=1000.0, execution="next_open", opens=opens
    )
    first = 500.0 / 11.0
    # Day 2 open: E = 500 + first * 8, target half of it at 8.
    e = 500.0 + first * 8.0
    assert result.positions["A"].iloc[2] == pytest.approx(0.5 * e / 8.0, rel=1e-13)


def test_nan_close_blocks_the_order_and_keeps_the_last_mark():
    prices = frame(A=[10.0, NAN, 12.0], B=[20.0, 20.0, 20.0])
    weights = frame(A=[0.5, 0.1, NAN], B=[0.2, 0.2, NAN])
    result = run_backtest(prices, weights, fee_bps=0, initial_cash=1000.0)
    assert result.positions["A"].tolist() == [50.0, 50.0, 50.0]
    # Day 1 marks A at its day-0 close: E = 300 + 500 + 200 = 1000, B stays at 10 shares.
    assert result.equity.iloc[1] == pytest.approx(1000.0)
    assert result.positions["B"].iloc[1] == pytest.approx(10.0)


def test_short_sale_credits_cash():
    prices = frame(A=[10.0, 8.0])
    weights = frame(A=[-0.5, NAN])
    result = run_backtest(prices, weights, fee_bps=0, initial_cash=1000.0)
    assert result.positions["A"].tolist() == [-50.0, -50.0]
    assert result.cash.iloc[0] == pytest.approx(1500.0)
    assert result.equity.iloc[1] == pytest.approx(1500.0 - 400.0)


def test_weights_on_a_subset_of_dates_and_tickers():
    prices = frame(A=[10.0, 11.0, 12.0], B=[20.0, 18.0, 19.0])
    weights = pd.DataFrame({"A": [0.5]}, index=DATES[1:2])
    result = run_backtest(prices, weights, fee_bps=0, initial_cash=1000.0)
    assert result.positions["A"].tolist() == [0.0, 500.0 / 11, 500.0 / 11]
    assert result.positions["B"].eq(0.0).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": frame(C=[0.1, 0.1, 0.1])}, "tickers without prices"),
        ({"execution": "next_open"}, "needs opens"),
        ({"execution": "vwap"}, "execution must be"),
        ({"prices": frame(A=[10.0, 0.0, 12.0])}, "positive"),
        ({"initial_cash": 0.0}, "initial_cash"),
    ],
)
def test_invalid_inputs_are_rejected(kwargs, message):
    arguments = {
        "prices": frame(A=[10.0, 11.0, 12.0]),
        "weights": frame(A=[0.5, NAN, NAN]),
        "fee_bps": 0,
        "initial_cash": 1000.0,
    }
    arguments.update(kwargs)
    prices, weights = arguments.pop("prices"), arguments.pop("weights")
    with pytest.raises(ValueError, match=message):
        run_backtest(prices, weights, **arguments)
