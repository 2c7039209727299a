"""Black-Litterman through skfolio on ten real S&P 500 names (2013-2018)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from skfolio.moments import LedoitWolf
from skfolio.optimization import MeanRisk, ObjectiveFunction
from skfolio.prior import EmpiricalPrior

from quant_assets.models.returns import daily_returns
from quant_assets.portfolio import BlackLittermanModel, black_litterman_weights, rebalance_schedule


@pytest.fixture(scope="module")
def window(sp500_closes: pd.DataFrame) -> pd.DataFrame:
    """The 252 daily returns up to 2016-12-30."""
    returns = daily_returns(sp500_closes).loc[:"2016-12-30"]
    return returns.iloc[-252:]


def no_views(window: pd.DataFrame) -> pd.Series:
    return pd.Series(np.nan, index=window.columns)


def one_view(window: pd.DataFrame, ticker: str, value: float) -> pd.Series:
    signals = no_views(window)
    signals[ticker] = value
    return signals


def test_without_views_the_equal_weight_prior_is_given_back(window):
    weights = BlackLittermanModel().allocate(window, no_views(window))
    np.testing.assert_allclose(weights.to_numpy(), 0.1, atol=5e-4)  # solver tolerance


def test_neutral_signals_leave_the_prior(window):
    signals = pd.Series(0.0, index=window.columns)
    weights = BlackLittermanModel().allocate(window, signals)
    np.testing.assert_allclose(weights.to_numpy(), 0.1, atol=2e-3)


@pytest.mark.parametrize("long_only", [True, False])
def test_a_bullish_view_raises_that_weight_within_the_limits(window, long_only):
    model = BlackLittermanModel(max_weight=0.3, max_gross=1.5, max_net=1.0, long_only=long_only)
    prior = model.allocate(window, no_views(window))
    tilted = model.allocate(window, one_view(window, "KO", 1.0))
    assert tilted["KO"] > prior["KO"] + 0.02
    assert tilted.drop("KO").sum() < prior.drop("KO").sum()
    assert tilted.abs().max() <= 0.3 + 1e-6
    assert tilted.abs().sum() <= 1.5 + 1e-6 and abs(tilted.sum()) <= 1.0 + 1e-6
    if long_only:
        assert tilted.min() >= -1e-8


def test_a_bearish_view_lowers_that_weight(window):
    model = BlackLittermanModel()
    prior = model.allocate(window, no_views(window))
    tilted = model.allocate(window, one_view(window, "XOM", -1.0))
    assert tilted["XOM"] < prior["XOM"] - 0.02


def test_forecast_views_are_daily_expected_returns(window):
    model = BlackLittermanModel(view_kind="forecast", long_only=True, max_weight=0.5)
    prior = model.allocate(window, no_views(window))
    bullish = model.allocate(window, one_view(window, "JNJ", 0.002))  # 0.2 % a day
    assert bullish["JNJ"] > prior["JNJ"] + 0.05


def test_min_variance_prior_gives_back_skfolio_min_variance_book(window):
    model = BlackLittermanModel(prior="min_variance", long_only=True)
    prior = model.allocate(window, no_views(window))
    reference = MeanRisk(
        objective_function=ObjectiveFunction.MINIMIZE_RISK,
        prior_estimator=EmpiricalPrior(covariance_estimator=LedoitWolf()),
        min_weights=0.0,
        max_weights=1.0,
    ).fit(window.to_numpy())
    np.testing.assert_allclose(prior.to_numpy(), reference.weights_, atol=2e-3)
    tilted = model.allocate(window, one_view(window, "AMZN", 1.0))
    assert tilted["AMZN"] > prior["AMZN"] + 0.02


def test_tickers_that_would_break_skfolio_views_are_handled(window):
    renamed = window.rename(columns={"KO": "BF-B", "PG": "^GSPC"})
    weights = BlackLittermanModel().allocate(renamed, one_view(renamed, "BF-B", 1.0))
    assert list(weights.index) == list(renamed.columns)
    assert weights["BF-B"] > 0.12


def test_tickers_without_enough_history_are_left_out(window):
    gappy = window.copy()
    gappy.iloc[:40, 0] = np.nan  # 84 % coverage < 90 %
    weights = BlackLittermanModel().allocate(gappy, no_views(gappy))
    assert window.columns[0] not in weights.index
    np.testing.assert_allclose(weights.to_numpy(), 1 / 9, atol=5e-4)


def test_monthly_weights_over_a_year_of_real_data(sp500_closes):
    returns = daily_returns(sp500_closes)
    dates = returns.loc["2016-01-01":"2016-12-31"].index
    rng = np.random.default_rng(0)
    signals = pd.DataFrame(rng.uniform(-1, 1, (len(dates), 10)), dates, sp500_closes.columns)
    schedule = rebalance_schedule(dates, "monthly")
    model = BlackLittermanModel(max_weight=0.25, max_net=1.0, long_only=True)
    weights = black_litterman_weights(signals, returns, model, rebalance=schedule)
    assert weights.notna().all(axis=1).tolist() == schedule.tolist()
    held = weights.dropna()
    assert len(held) == 12
    assert held.min().min() >= -1e-8 and held.max().max() <= 0.25 + 1e-6
    assert (held.sum(axis=1) <= 1.0 + 1e-6).all()
    # a ticker's weight rises with its signal more often than not
    above_prior = (held > 0.1) == (signals.loc[held.index] > 0)
    assert above_prior.to_numpy().mean() > 0.7


def test_no_weights_before_the_lookback_is_filled(sp500_closes):
    returns = daily_returns(sp500_closes)
    signals = pd.DataFrame(0.5, returns.index[:300], returns.columns)
    schedule = rebalance_schedule(signals.index, "monthly")
    weights = black_litterman_weights(
        signals, returns, BlackLittermanModel(lookback=252), rebalance=schedule
    )
    # the first month start with 252 returns behind it (the first return is NaN, which the
    # 90 % coverage rule tolerates)
    eligible = np.flatnonzero(schedule & (np.arange(300) >= 251))
    assert weights.dropna(how="all").index[0] == signals.index[eligible[0]]
