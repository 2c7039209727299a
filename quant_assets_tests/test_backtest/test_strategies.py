"""Every strategy of an order table backtested: the same books as run_backtest, long tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.backtest import run_backtest
from quant_assets.backtest.strategies import BacktestSettings, backtest_strategies

SETTINGS = BacktestSettings(
    fee_bps=3.0, slippage_bps=1.0, cost_grid_bps=(0.0, 10.0), bootstrap_samples=50, seed=7
)


def _orders(closes: pd.DataFrame) -> pd.DataFrame:
    """Two strategies: equal weight on A, B from day 10 monthly; long C only from day 40."""
    dates = closes.index
    equal = pd.DataFrame(0.5, index=dates[10::21], columns=["A", "B"])
    only_c = pd.DataFrame(1.0, index=dates[40::21], columns=["C"])
    frames = []
    for strategy, model, wide in (("eq:vol_target", "eq", equal), ("c:kelly", "c", only_c)):
        long = wide.stack().rename("weight").reset_index()
        long.columns = ["date", "ticker", "weight"]
        frames.append(long.assign(strategy=strategy, model=model, model_version=f"{model}:v1"))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def closes() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    dates = pd.bdate_range("2021-01-01", periods=160)
    steps = rng.normal(0.0004, 0.01, (len(dates), 3))
    return pd.DataFrame(100 * np.exp(steps.cumsum(axis=0)), index=dates, columns=list("ABC"))


def test_each_strategy_is_the_book_run_backtest_gives(closes):
    orders = _orders(closes)
    result = backtest_strategies(orders, closes, SETTINGS)

    assert sorted(result.equity["strategy"].unique()) == ["c:kelly", "eq:vol_target"]
    only_c = orders[orders["strategy"] == "c:kelly"]
    weights = only_c.pivot(index="date", columns="ticker", values="weight")
    prices = closes.loc[closes.index >= weights.index.min(), ["C"]]
    direct = run_backtest(
        prices, weights.reindex(prices.index), fee_bps=3.0, slippage_bps=1.0, initial_cash=1e6
    )
    got = result.equity[result.equity["strategy"] == "c:kelly"].set_index("date")["equity"]
    np.testing.assert_array_equal(got.to_numpy(), direct.equity.to_numpy())
    assert got.index[0] == closes.index[40]  # the book starts at its first order

    metrics = result.metrics[result.metrics["strategy"] == "c:kelly"].set_index("metric")
    assert metrics.loc["sharpe", "value"] == pytest.approx(direct.metrics["sharpe"])
    assert set(metrics["model_versions"]) == {"c:v1"} and set(metrics["model"]) == {"c"}
    trades = result.trades[result.trades["strategy"] == "c:kelly"]
    assert len(trades) == len(direct.trades) and set(trades["ticker"]) == {"C"}
    assert result.first_date == closes.index[10].date()
    assert result.last_date == closes.index[-1].date()
    assert result.wide_metrics().shape[0] == 2


def test_robustness_holds_the_fee_sweep_and_the_bootstrap(closes):
    result = backtest_strategies(_orders(closes), closes, SETTINGS)
    robust = result.robustness[result.robustness["strategy"] == "eq:vol_target"]
    sweep = robust[robust["analysis"] == "cost_sensitivity"].set_index("param")
    assert list(sweep.index) == [0.0, 10.0]
    # dearer trading never raises the Sharpe ratio of the same orders
    assert sweep.loc[0.0, "point"] > sweep.loc[10.0, "point"]
    boot = robust[robust["analysis"] == "bootstrap"]
    assert set(boot["metric"]) == {"sharpe", "cagr", "max_drawdown"}
    assert (boot["lower"] <= boot["upper"]).all()
    again = backtest_strategies(_orders(closes), closes, SETTINGS)  # seeded: reproducible
    pd.testing.assert_frame_equal(again.robustness, result.robustness)


def test_non_finite_metrics_are_stored_as_missing(closes):
    flat = closes.copy()
    flat["C"] = 100.0  # no volatility: ratios over it are not finite
    result = backtest_strategies(_orders(flat), flat, SETTINGS)
    values = result.metrics["value"].dropna().astype(float)
    assert np.isfinite(values).all()
    assert result.metrics["value"].isna().any()


def test_no_orders_is_an_error(closes):
    with pytest.raises(ValueError, match="no orders"):
        backtest_strategies(_orders(closes).iloc[0:0], closes, SETTINGS)
