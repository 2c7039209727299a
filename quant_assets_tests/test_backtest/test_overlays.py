"""Risk overlays on one- and two-ticker books, checked bar by bar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.backtest import RiskOverlays, run_backtest

NAN = np.nan
DATES = pd.bdate_range("2021-01-04", periods=8)


def frame(**columns: list[float]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=DATES[:n], dtype=float)


def backtest(prices, weights, **rules):
    return run_backtest(
        prices, weights, fee_bps=0, initial_cash=1000.0, overlays=RiskOverlays(**rules)
    )


def test_stop_loss_exits_at_the_close_and_locks_until_the_signal_rearms():
    prices = frame(A=[100.0, 95.0, 89.0, 90.0, 91.0, 92.0])
    weights = frame(A=[0.5, NAN, NAN, 0.5, 0.0, 0.5])
    result = backtest(prices, weights, stop_loss=0.10)
    # 89 <= 100 * 0.9 on day 2; day 3's long target is ignored; day 4's zero re-arms.
    re_entry = 0.5 * 945 / 92
    assert result.positions["A"].tolist() == [5.0, 5.0, 0.0, 0.0, 0.0, pytest.approx(re_entry)]
    trades = result.trades
    assert trades["reason"].tolist() == ["rebalance", "stop_loss", "rebalance"]
    assert trades["date"].tolist() == [DATES[0], DATES[2], DATES[5]]
    assert trades["price"].iloc[1] == 89.0


def test_stop_loss_on_a_short_triggers_on_a_rise():
    prices = frame(A=[100.0, 105.0, 111.0, 100.0])
    weights = frame(A=[-0.5, NAN, -0.5, NAN])
    result = backtest(prices, weights, stop_loss=0.10)
    assert result.positions["A"].tolist() == [-5.0, -5.0, 0.0, 0.0]
    assert result.trades["reason"].tolist() == ["rebalance", "stop_loss"]


def test_an_opposite_target_unlocks_at_once():
    prices = frame(A=[100.0, 89.0, 88.0])
    weights = frame(A=[0.5, NAN, -0.2])
    result = backtest(prices, weights, stop_loss=0.10)
    assert result.positions["A"].iloc[2] == pytest.approx(-0.2 * 945 / 88)


def test_take_profit_exits_on_a_gain():
    prices = frame(A=[100.0, 105.0, 111.0, 100.0])
    weights = frame(A=[0.5, NAN, NAN, NAN])
    result = backtest(prices, weights, take_profit=0.10)
    assert result.positions["A"].tolist() == [5.0, 5.0, 0.0, 0.0]
    assert result.trades["reason"].tolist() == ["rebalance", "take_profit"]
    assert result.equity.iloc[-1] == pytest.approx(500.0 + 5 * 111)


def test_trailing_stop_follows_the_best_close():
    prices = frame(A=[100.0, 120.0, 110.0, 107.0, 130.0])
    weights = frame(A=[0.5, NAN, NAN, NAN, NAN])
    result = backtest(prices, weights, trailing_stop=0.10, stop_loss=0.10)
    # 107 <= 120 * 0.9 = 108, while still above the fixed stop at 90.
    assert result.positions["A"].tolist() == [5.0, 5.0, 5.0, 0.0, 0.0]
    assert result.trades["reason"].tolist() == ["rebalance", "trailing_stop"]


def test_trailing_stop_on_a_short_follows_the_lowest_close():
    prices = frame(A=[100.0, 80.0, 87.0, 89.0])
    weights = frame(A=[-0.5, NAN, NAN, NAN])
    result = backtest(prices, weights, trailing_stop=0.10)
    assert result.positions["A"].tolist() == [-5.0, -5.0, -5.0, 0.0]  # 89 >= 80 * 1.1


def test_entry_price_averages_the_fills_that_build_the_position():
    prices = frame(A=[100.0, 95.0, 89.0, 87.0])
    # Day 1 tops up 5 shares at 95 to 10: entry (500 + 475) / 10 = 97.5, stop at 87.75
    # (at 90 had the entry stayed 100).
    weights = frame(A=[0.5, 950.0 / 975.0, NAN, NAN])
    result = backtest(prices, weights, stop_loss=0.10)
    assert result.positions["A"].tolist() == [5.0, pytest.approx(10.0), pytest.approx(10.0), 0.0]


def test_drawdown_breaker_flattens_halts_and_resumes():
    prices = frame(A=[100.0, 90.0, 75.0, 80.0, 85.0, 90.0])
    weights = frame(A=[1.0, NAN, NAN, 1.0, 1.0, NAN])
    result = backtest(prices, weights, max_drawdown=0.2, halt_bars=1)
    # Equity 1000, 900, 750 (-25 %): flatten at 75; day 3 is halted; day 4 buys at 85.
    assert result.positions["A"].tolist()[:4] == [10.0, 10.0, 0.0, 0.0]
    assert result.positions["A"].iloc[4] == pytest.approx(750.0 / 85.0)
    assert result.equity.iloc[5] == pytest.approx(750.0 / 85.0 * 90.0)
    assert result.trades["reason"].tolist() == ["rebalance", "drawdown_halt", "rebalance"]


def test_drawdown_breaker_without_halt_bars_stops_for_good():
    prices = frame(A=[100.0, 75.0, 80.0, 85.0])
    weights = frame(A=[1.0, 1.0, 1.0, 1.0])
    result = backtest(prices, weights, max_drawdown=0.2)
    assert result.positions["A"].tolist() == [10.0, 0.0, 0.0, 0.0]
    assert result.equity.iloc[-1] == pytest.approx(750.0)


def test_drawdown_breaker_under_next_open_fills_at_the_next_open():
    prices = frame(A=[100.0, 75.0, 80.0])
    opens = frame(A=[100.0, 100.0, 70.0])
    weights = frame(A=[1.0, NAN, NAN])
    result = run_backtest(
        prices,
        weights,
        fee_bps=0,
        initial_cash=1000.0,
        execution="next_open",
        opens=opens,
        overlays=RiskOverlays(max_drawdown=0.2),
    )
    # Bought 10 at the day-1 open; the 25 % drawdown at the day-1 close is sold at the day-2 open.
    assert result.positions["A"].tolist() == [0.0, 10.0, 0.0]
    assert result.equity.iloc[-1] == pytest.approx(700.0)
    assert result.trades["reference_price"].tolist() == [100.0, 70.0]


def test_an_exit_without_a_price_is_retried_on_the_next_bar():
    prices = frame(A=[100.0, 85.0, NAN, 90.0])
    opens = frame(A=[100.0, 100.0, NAN, 91.0])
    weights = frame(A=[0.5, NAN, NAN, NAN])
    result = run_backtest(
        prices,
        weights,
        fee_bps=0,
        initial_cash=1000.0,
        execution="next_open",
        opens=opens,
        overlays=RiskOverlays(stop_loss=0.1),
    )
    # Stopped at the day-1 close; day 2 has no bar, so the exit fills at the day-3 open.
    trades = result.trades
    assert trades["reason"].tolist() == ["rebalance", "stop_loss"]
    assert trades["date"].tolist() == [DATES[1], DATES[3]]
    assert trades["reference_price"].tolist() == [100.0, 91.0]


def test_position_limit_clips_each_target():
    prices = frame(A=[10.0], B=[20.0])
    weights = frame(A=[0.5], B=[-0.4])
    result = backtest(prices, weights, max_position_weight=0.3)
    np.testing.assert_allclose(result.weights.iloc[0], [0.3, -0.3], rtol=1e-13)


def test_gross_limit_scales_targets_and_counts_held_positions():
    prices = frame(A=[10.0, 10.0], B=[20.0, 20.0], C=[5.0, 5.0])
    weights = frame(A=[0.3, NAN], B=[NAN, 0.4], C=[NAN, 0.4])
    result = backtest(prices, weights, max_gross_exposure=0.5)
    # Day 1: A is held at 30 %, leaving 20 % for B and C, shared in proportion.
    np.testing.assert_allclose(result.weights.iloc[1], [0.3, 0.1, 0.1], rtol=1e-12)


@pytest.mark.parametrize("rule", ["stop_loss", "max_drawdown", "max_gross_exposure"])
def test_invalid_thresholds_are_rejected(rule):
    with pytest.raises(ValueError, match=rule):
        RiskOverlays(**{rule: -0.1})
