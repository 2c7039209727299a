"""build_weights end to end: methods, limits, calendar, band, and the backtest's NaN = hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.backtest import run_backtest
from quant_assets.models.returns import daily_returns, ex_ante_volatility
from quant_assets.portfolio import (
    METHODS,
    PortfolioConfig,
    build_weights,
    portfolio_ex_ante_volatility,
)
from quant_assets_tests.test_portfolio.conftest import random_walk_panel

NAN = np.nan


def test_fixed_fractional_on_a_weekly_calendar():
    dates = pd.bdate_range("2021-01-04", periods=8)
    prices = pd.DataFrame({"A": np.linspace(10, 11, 8), "B": 20.0}, index=dates)
    signals = pd.DataFrame({"A": 1.0, "B": -0.5}, index=dates)
    config = PortfolioConfig(method="fixed_fractional", fraction=0.2, rebalance="weekly")
    weights = build_weights(signals, prices, config)
    expected = np.full((8, 2), NAN)
    expected[[0, 5]] = [0.2, -0.1]
    np.testing.assert_array_equal(weights.to_numpy(), expected)


def test_limits_apply_before_the_band():
    dates = pd.bdate_range("2021-01-04", periods=3)
    prices = pd.DataFrame({"A": 10.0, "B": 20.0, "C": 30.0}, index=dates)
    signals = pd.DataFrame({"A": [1.0, 1.0, 0.9], "B": 1.0, "C": -1.0}, index=dates)
    config = PortfolioConfig(
        method="fixed_fractional",
        fraction=0.5,
        max_weight=0.4,
        long_only=True,
        max_net=0.6,
        no_trade_band=0.05,
    )
    weights = build_weights(signals, prices, config)
    # day 0: (0.5, 0.5, -0.5) -> long only (0.5, 0.5, 0) -> clip (0.4, 0.4, 0) -> net 0.8 -> x 0.75
    # C's target 0 is inside the band of a flat book: no order. Day 1 repeats: no orders.
    # Day 2: A 0.45 -> clip 0.4 -> same book -> no orders.
    np.testing.assert_allclose(weights.iloc[0].to_numpy(), [0.3, 0.3, NAN])
    assert weights.iloc[1:].isna().all().all()


def test_vol_target_book_runs_at_the_target_ex_ante():
    signals, closes = random_walk_panel(seed=1, n_dates=260)
    config = PortfolioConfig(method="vol_target", max_gross=10.0, max_net=10.0, max_weight=10.0)
    weights = build_weights(signals, closes, config)
    book_vol = portfolio_ex_ante_volatility(weights.fillna(0.0), daily_returns(closes))
    live = weights.notna().all(axis=1) & book_vol.notna()
    assert live.sum() > 150
    np.testing.assert_allclose(book_vol[live], 0.15, rtol=1e-9)


def test_asset_level_vol_target_matches_the_formula():
    signals, closes = random_walk_panel(seed=2, n_dates=120)
    config = PortfolioConfig(
        method="vol_target", vol_target_level="asset", max_gross=50.0, max_net=50.0, max_weight=50.0
    )
    weights = build_weights(signals, closes, config)
    vol = ex_ante_volatility(closes)
    expected = signals * 0.15 / vol
    expected = expected.div(expected.notna().sum(axis=1).replace(0, NAN), axis=0)
    pd.testing.assert_frame_equal(weights, expected, check_freq=False, check_names=False)


def test_kelly_reads_signals_as_forecasts_with_ewma_variance():
    signals, closes = random_walk_panel(seed=3, n_dates=100)
    forecasts = signals * 1e-3
    config = PortfolioConfig(
        method="kelly", kelly_fraction=0.25, max_gross=1e3, max_net=1e3, max_weight=1e3
    )
    weights = build_weights(forecasts, closes, config)
    variance = ex_ante_volatility(closes) ** 2 / 252
    pd.testing.assert_frame_equal(
        weights, 0.25 * forecasts / variance, check_freq=False, check_names=False
    )


@pytest.mark.parametrize("method", METHODS)
def test_every_method_respects_the_limits(method):
    signals, closes = random_walk_panel(seed=4, n_dates=200)
    if method == "kelly":
        signals = signals * 2e-3
    config = PortfolioConfig(
        method=method,
        max_weight=0.4,
        max_gross=1.0,
        max_net=0.5,
        bl_lookback=60,
        rebalance="monthly",
    )
    weights = build_weights(signals, closes, config).to_numpy()
    assert np.isfinite(weights).any()
    assert np.nanmax(np.abs(weights)) <= 0.4 + 1e-6
    assert np.nansum(np.abs(weights), axis=1).max() <= 1.0 + 1e-6
    assert np.abs(np.nansum(weights, axis=1)).max() <= 0.5 + 1e-6


def test_orders_backtest_with_nan_as_hold():
    signals, closes = random_walk_panel(seed=5, n_dates=200)
    config = PortfolioConfig(method="risk_parity", rebalance="weekly", no_trade_band=0.02)
    weights = build_weights(signals, closes, config)
    result = run_backtest(closes.ffill().bfill(), weights, fee_bps=5, initial_cash=1e6)
    trade_dates = set(result.trades["date"])
    assert trade_dates <= set(weights.dropna(how="all").index)
    assert result.equity.notna().all()


def test_signals_may_start_after_the_prices():
    signals, closes = random_walk_panel(seed=6, n_dates=150)
    late = signals.iloc[100:]
    full = build_weights(signals, closes, PortfolioConfig(method="risk_parity"))
    weights = build_weights(late, closes, PortfolioConfig(method="risk_parity"))
    # the volatility behind the first late signal was warmed up on the earlier prices
    pd.testing.assert_frame_equal(weights, full.iloc[100:])


def test_inputs_are_checked():
    signals, closes = random_walk_panel(seed=7, n_dates=30)
    with pytest.raises(ValueError, match="tickers without prices"):
        build_weights(signals.assign(Z=0.1), closes)
    with pytest.raises(ValueError, match="dates without prices"):
        build_weights(signals, closes.iloc[:-1])
    with pytest.raises(TypeError, match="DatetimeIndex"):
        build_weights(signals.reset_index(drop=True), closes)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("method", "mean_variance"),
        ("rebalance", "yearly"),
        ("target_vol", 0.0),
        ("max_gross", -1.0),
        ("no_trade_band", -0.01),
        ("bl_prior", "market_cap"),
        ("bl_lookback", 1),
    ],
)
def test_config_refuses_bad_settings(field, value):
    with pytest.raises(ValueError, match=field):
        PortfolioConfig(**{field: value})
