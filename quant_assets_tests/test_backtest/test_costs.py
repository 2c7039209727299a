"""Slippage and square-root market impact, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.backtest import SquareRootImpact, run_backtest

NAN = np.nan
DATES = pd.bdate_range("2021-01-04", periods=5)


def frame(**columns: list[float]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=DATES[:n], dtype=float)


def test_slippage_moves_the_fill_but_not_the_order_size():
    prices = frame(A=[100.0, 110.0])
    weights = frame(A=[0.5, 0.0])
    result = run_backtest(prices, weights, fee_bps=10, slippage_bps=10, initial_cash=1000.0)
    # Sized at the close (5 shares), bought at 100.1, sold at 110 * 0.999; fees on those.
    buy, sell = 5 * 100.1, 5 * 110 * 0.999
    assert result.trades["price"].tolist() == pytest.approx([100.1, 109.89], rel=1e-14)
    assert result.trades["reference_price"].tolist() == [100.0, 110.0]
    assert result.cash.iloc[0] == pytest.approx(1000 - buy * 1.001, rel=1e-14)
    assert result.cash.iloc[1] == pytest.approx(1000 - buy * 1.001 + sell * 0.999, rel=1e-14)
    assert result.equity.iloc[0] == pytest.approx(1000 - buy * 1.001 + 500, rel=1e-14)


def test_square_root_impact_uses_volatility_and_volume_known_the_day_before():
    prices = frame(A=[100.0, 102.0, 99.0, 100.0])
    volumes = frame(A=[1000.0, 2000.0, 3000.0, 9_999_999.0])
    weights = frame(A=[0.1, NAN, NAN, 0.5])
    impact = SquareRootImpact(coefficient=0.5, volatility_window=2, volume_window=2)
    result = run_backtest(
        prices, weights, fee_bps=0, initial_cash=1000.0, volumes=volumes, impact=impact
    )
    # Day 0 has no estimates yet: no impact. Day 3 uses the returns of days 1-2 and the
    # volumes of days 1-2, never its own volume.
    sigma = np.std([102 / 100 - 1, 99 / 102 - 1], ddof=1)
    adv = 2500.0
    held = 1.0
    cash = 1000.0 - 100.0
    equity = cash + held * 100.0
    size = 0.5 * equity / 100.0 - held
    fraction = 0.5 * sigma * np.sqrt(size / adv)
    assert result.trades["price"].tolist() == pytest.approx(
        [100.0, 100 * (1 + fraction)], rel=1e-13
    )
    assert result.positions["A"].iloc[-1] == pytest.approx(held + size, rel=1e-13)
    assert result.cash.iloc[-1] == pytest.approx(cash - size * 100 * (1 + fraction), rel=1e-13)


def test_impact_grows_with_the_square_root_of_the_order():
    prices = frame(A=[100.0, 101.0, 99.0, 100.0, 100.0], B=[100.0, 101.0, 99.0, 100.0, 100.0])
    volumes = frame(A=[1e4] * 5, B=[1e4] * 5)
    weights = frame(A=[NAN, NAN, NAN, 0.04, NAN], B=[NAN, NAN, NAN, 0.16, NAN])
    impact = SquareRootImpact(volatility_window=2, volume_window=2)
    result = run_backtest(
        prices, weights, fee_bps=0, initial_cash=1000.0, volumes=volumes, impact=impact
    )
    concession = result.trades["price"] / result.trades["reference_price"] - 1.0
    assert concession.iloc[1] == pytest.approx(2.0 * concession.iloc[0], rel=1e-12)


def test_impact_needs_volumes():
    prices = frame(A=[100.0, 101.0])
    with pytest.raises(ValueError, match="volumes"):
        run_backtest(prices, prices * 0, fee_bps=0, initial_cash=1.0, impact=SquareRootImpact())


def test_impact_parameters_are_validated():
    with pytest.raises(ValueError, match="coefficient"):
        SquareRootImpact(coefficient=-1.0)
    with pytest.raises(ValueError, match="window"):
        SquareRootImpact(volatility_window=1)
