"""Each sizing rule on a few numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.models.returns import daily_returns, ex_ante_volatility
from quant_assets.portfolio import (
    asset_vol_target_weights,
    daily_variance,
    fixed_fractional_weights,
    kelly_weights,
    portfolio_ex_ante_volatility,
    portfolio_vol_target_weights,
    risk_parity_weights,
)
from quant_assets_tests.test_portfolio.conftest import random_walk_panel, wide

NAN = np.nan
DATES = pd.bdate_range("2021-01-04", periods=5)


def assert_frame_values(got: pd.DataFrame, expected: list[list[float]]) -> None:
    np.testing.assert_allclose(got.to_numpy(), np.array(expected), rtol=1e-12, atol=0)


def test_asset_vol_target_sizes_each_position_to_the_target_and_splits_equally():
    signals = wide(DATES, A=[1.0, 1.0], B=[-0.5, -0.5], C=[NAN, 1.0])
    vol = wide(DATES, A=[0.30, 0.30], B=[0.15, 0.0], C=[0.20, 0.60])
    weights = asset_vol_target_weights(signals, vol, target_vol=0.15)
    # Day 0: C has no signal -> n = 2; A: 1 * 0.15 / 0.30 / 2, B: -0.5 * 0.15 / 0.15 / 2.
    # Day 1: B's zero vol is unknown -> n = 2 (A, C); C: 1 * 0.15 / 0.60 / 2.
    assert_frame_values(weights, [[0.25, -0.25, NAN], [0.25, NAN, 0.125]])


def test_fixed_fractional_is_fraction_times_signal():
    signals = wide(DATES, A=[1.0, 0.5], B=[-1.0, NAN])
    assert_frame_values(fixed_fractional_weights(signals, fraction=0.1), [[0.1, -0.1], [0.05, NAN]])


def test_kelly_is_fraction_of_mean_over_daily_variance():
    forecasts = wide(DATES, A=[0.001], B=[-0.0005])
    variance = wide(DATES, A=[0.0004], B=[0.0001])  # daily vols of 2 % and 1 %
    # full Kelly: 0.001 / 0.0004 = 2.5 and -0.0005 / 0.0001 = -5; half of each
    assert_frame_values(kelly_weights(forecasts, variance, kelly_fraction=0.5), [[1.25, -2.5]])


def test_daily_variance_from_annual_volatility():
    vol = wide(DATES, A=[0.32])
    assert daily_variance(vol).iloc[0, 0] == pytest.approx(0.1024 / 252, rel=1e-15)


def test_risk_parity_weights_inverse_vol_over_live_signals():
    signals = wide(DATES, A=[1.0, 1.0], B=[1.0, -0.5], C=[NAN, NAN])
    vol = wide(DATES, A=[0.10, 0.10], B=[0.20, 0.20], C=[0.05, 0.05])
    # 1/vol = 10, 5 (C has no signal and no say) -> 2/3, 1/3, signed and scaled by the signal
    assert_frame_values(
        risk_parity_weights(signals, vol), [[2 / 3, 1 / 3, NAN], [2 / 3, -1 / 6, NAN]]
    )


def test_book_volatility_by_hand_with_a_two_day_window():
    # span 3 -> alpha 0.5: weights 0.5 (older), 1 (newer); sum 1.5, sum of squares 1.25.
    returns = wide(DATES, A=[0.02, -0.01, 0.03])
    book = wide(DATES, A=[1.0, 1.0, 1.0])
    vol = portfolio_ex_ante_volatility(book, returns, span=3, window=2, min_periods=2)
    # Day 1: mean (0.01 - 0.01) / 1.5 = 0, spread (0.5 * 4e-4 + 1e-4) / 1.5 = 2e-4,
    #        debiased 2e-4 * 1.5**2 / (1.5**2 - 1.25) = 4.5e-4.
    # Day 2: only (-0.01, 0.03) are in the window: mean 1/60, deviations -2/75 and 1/75,
    #        spread (0.5 * 4 + 1) / 5625 / 1.5 = 2 / 5625, debiased 0.0008.
    assert np.isnan(vol.iloc[0])
    np.testing.assert_allclose(vol.iloc[1:], np.sqrt([4.5e-4 * 252, 8e-4 * 252]), rtol=1e-12)


def test_book_volatility_matches_pandas_ewm_covariance():
    _, closes = random_walk_panel(seed=3, n_dates=120)
    returns = daily_returns(closes)
    rng = np.random.default_rng(0)
    book = pd.DataFrame(rng.normal(size=closes.shape), index=closes.index, columns=closes.columns)
    vol = portfolio_ex_ante_volatility(book, returns.fillna(0.0), span=20, window=120)
    covariance = returns.fillna(0.0).ewm(span=20, min_periods=20).cov()
    for date in closes.index[[30, 75, 119]]:
        w = book.loc[date].to_numpy()
        expected = np.sqrt(252 * w @ covariance.loc[date].to_numpy() @ w)
        assert vol.loc[date] == pytest.approx(expected, rel=1e-10)


def test_single_asset_book_volatility_is_the_asset_ex_ante_volatility():
    _, closes = random_walk_panel(seed=4, n_dates=150, tickers=("A",))
    closes = closes.ffill().bfill()
    book = pd.DataFrame(1.0, index=closes.index, columns=["A"])
    vol = portfolio_ex_ante_volatility(book, daily_returns(closes), span=60, window=150)
    expected = ex_ante_volatility(closes, span=60, min_periods=20)["A"]
    np.testing.assert_allclose(vol.to_numpy(), expected.to_numpy(), rtol=1e-10)


def test_portfolio_vol_target_scales_the_book_to_the_target():
    _, closes = random_walk_panel(seed=5, n_dates=200)
    returns = daily_returns(closes)
    book = pd.DataFrame(0.2, index=closes.index, columns=closes.columns)
    scaled = portfolio_vol_target_weights(book, returns, target_vol=0.15)
    scaled_vol = portfolio_ex_ante_volatility(scaled.fillna(0.0), returns)
    known = scaled_vol.notna()
    assert known.sum() > 150 and scaled.loc[~known.to_numpy()].isna().all().all()
    np.testing.assert_allclose(scaled_vol[known], 0.15, rtol=1e-10)
    # relative sizes inside a date are kept
    assert (scaled.dropna().nunique(axis=1) == 1).all()


def test_flat_or_unhedgeable_books_get_no_weights():
    returns = wide(DATES, A=[0.01, -0.02, 0.015, 0.0, 0.01], B=[-0.01, 0.02, -0.015, 0.0, -0.01])
    hedged = wide(DATES, A=[1.0] * 5, B=[1.0] * 5)  # A + B earns exactly 0 every day
    scaled = portfolio_vol_target_weights(hedged, returns, min_periods=2)
    assert scaled.isna().all().all()
