"""compute_metrics against empyrical on real returns, and by hand where empyrical has no say."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from quant_assets.backtest import compute_metrics, monthly_returns_table, rolling_sharpe

empyrical = pytest.importorskip("empyrical")

RTOL = 1e-9
SQRT_252 = np.sqrt(252)


@pytest.fixture(scope="module")
def real_returns(sp500_bars) -> tuple[pd.Series, pd.Series]:
    """AAPL's simple daily returns and an equal-weighted benchmark of the 32-stock panel."""
    daily = sp500_bars["close"].pct_change(fill_method=None).iloc[1:]
    return daily["AAPL"].rename("AAPL"), daily.mean(axis=1).rename("benchmark")


@pytest.fixture(scope="module")
def real_metrics(real_returns) -> dict[str, float]:
    returns, benchmark = real_returns
    return compute_metrics(returns, benchmark)


EMPYRICAL_SINGLE = {
    "total_return": lambda r: empyrical.cum_returns_final(r),
    "annual_return": lambda r: empyrical.annual_return(r),
    "annual_volatility": lambda r: empyrical.annual_volatility(r),
    "sharpe": lambda r: empyrical.sharpe_ratio(r),
    "sortino": lambda r: empyrical.sortino_ratio(r),
    "downside_risk": lambda r: empyrical.downside_risk(r),
    "calmar": lambda r: empyrical.calmar_ratio(r),
    "omega": lambda r: empyrical.omega_ratio(r),
    "stability": lambda r: empyrical.stability_of_timeseries(r),
    "max_drawdown": lambda r: empyrical.max_drawdown(r),
    "tail_ratio": lambda r: empyrical.tail_ratio(r),
    "var_95": lambda r: empyrical.value_at_risk(r, cutoff=0.05),
    "var_99": lambda r: empyrical.value_at_risk(r, cutoff=0.01),
    "cvar_95": lambda r: empyrical.conditional_value_at_risk(r, cutoff=0.05),
    "cvar_99": lambda r: empyrical.conditional_value_at_risk(r, cutoff=0.01),
    "skew": lambda r: scipy.stats.skew(r),
    "kurtosis": lambda r: scipy.stats.kurtosis(r),
}

EMPYRICAL_VS_BENCHMARK = {
    "alpha": lambda r, b: empyrical.alpha(r, b),
    "beta": lambda r, b: empyrical.beta(r, b),
    "up_capture": lambda r, b: empyrical.up_capture(r, b),
    "down_capture": lambda r, b: empyrical.down_capture(r, b),
    "capture_ratio": lambda r, b: empyrical.up_down_capture(r, b),
    "information_ratio": lambda r, b: empyrical.excess_sharpe(r, b) * SQRT_252,
}


@pytest.mark.parametrize("key", sorted(EMPYRICAL_SINGLE))
def test_matches_empyrical_on_real_returns(real_returns, real_metrics, key):
    returns, _ = real_returns
    expected = EMPYRICAL_SINGLE[key](returns.to_numpy())
    assert real_metrics[key] == pytest.approx(expected, rel=RTOL, abs=1e-15)


@pytest.mark.parametrize("key", sorted(EMPYRICAL_VS_BENCHMARK))
def test_benchmark_metrics_match_empyrical(real_returns, real_metrics, key):
    returns, benchmark = real_returns
    expected = EMPYRICAL_VS_BENCHMARK[key](returns.to_numpy(), benchmark.to_numpy())
    assert real_metrics[key] == pytest.approx(expected, rel=RTOL, abs=1e-15)


def test_tracking_error_correlation_and_excess_return_on_real_returns(real_returns, real_metrics):
    returns, benchmark = real_returns
    active = returns - benchmark
    assert real_metrics["tracking_error"] == pytest.approx(active.std() * SQRT_252, rel=RTOL)
    assert real_metrics["correlation"] == pytest.approx(returns.corr(benchmark), rel=RTOL)
    excess = empyrical.annual_return(returns) - empyrical.annual_return(benchmark)
    assert real_metrics["excess_return"] == pytest.approx(excess, rel=RTOL)


def test_keys_are_snake_case_floats_and_more_than_thirty(real_metrics):
    assert len(real_metrics) >= 30
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", key) for key in real_metrics)
    assert all(isinstance(value, float) for value in real_metrics.values())


HAND_DATES = pd.DatetimeIndex(
    ["2021-01-28", "2021-01-29", "2021-02-01", "2021-02-02", "2021-02-03", "2021-02-04"]
)
HAND_RETURNS = pd.Series([0.1, -0.05, 0.0, 0.02, -0.1, 0.2], index=HAND_DATES)


def test_trading_day_statistics_by_hand():
    m = compute_metrics(HAND_RETURNS)
    assert m["n_days"] == 6
    assert m["hit_rate"] == pytest.approx(3 / 5)  # the flat day counts neither way
    assert m["profit_factor"] == pytest.approx(0.32 / 0.15)
    assert m["avg_win"] == pytest.approx(0.32 / 3)
    assert m["avg_loss"] == pytest.approx(-0.075)
    assert m["win_loss_ratio"] == pytest.approx((0.32 / 3) / 0.075)
    assert (m["best_day"], m["worst_day"]) == (0.2, -0.1)
    assert m["total_return"] == pytest.approx(1.1 * 0.95 * 1.02 * 0.9 * 1.2 - 1)


def test_calendar_statistics_by_hand():
    m = compute_metrics(HAND_RETURNS)
    january, february = 1.1 * 0.95 - 1, 1.02 * 0.9 * 1.2 - 1
    assert m["best_month"] == pytest.approx(february)
    assert m["worst_month"] == pytest.approx(january)
    assert m["monthly_hit_rate"] == 1.0
    table = monthly_returns_table(HAND_RETURNS)
    assert list(table.columns) == [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "year",
    ]  # fmt: skip
    assert table.index.tolist() == [2021]
    assert table.loc[2021, "Jan"] == pytest.approx(january)
    assert table.loc[2021, "Feb"] == pytest.approx(february)
    assert np.isnan(table.loc[2021, "Mar"])
    assert table.loc[2021, "year"] == pytest.approx(m["total_return"])


def test_drawdown_duration_and_recovery_by_hand():
    # Wealth 1, 1.1, 1.045, 1.045, 1.0659, 0.95931, 1.151172: peak at bar 1, trough at bar 5,
    # back above 1.1 at bar 6.
    m = compute_metrics(HAND_RETURNS)
    assert m["max_drawdown"] == pytest.approx(0.95931 / 1.1 - 1)
    assert m["max_drawdown_duration"] == 5
    assert m["max_drawdown_recovery"] == 1
    assert m["longest_drawdown"] == 4


def test_unrecovered_drawdown_runs_to_the_last_bar():
    m = compute_metrics(pd.Series([0.1, -0.2, 0.05], index=HAND_DATES[:3]))
    assert m["max_drawdown_duration"] == 2
    assert np.isnan(m["max_drawdown_recovery"])
    assert m["longest_drawdown"] == 2


def test_a_leveraged_copy_of_the_benchmark_by_hand():
    benchmark = pd.Series([0.01, -0.02, 0.015, 0.003, -0.007, 0.004], index=HAND_DATES)
    m = compute_metrics(2 * benchmark, benchmark)
    assert m["beta"] == pytest.approx(2.0, rel=1e-12)
    assert m["alpha"] == pytest.approx(0.0, abs=1e-12)
    assert m["correlation"] == pytest.approx(1.0)
    assert m["tracking_error"] == pytest.approx(benchmark.std() * SQRT_252)


def test_benchmark_is_aligned_on_common_dates():
    benchmark = pd.Series([0.01, -0.02, 0.015], index=HAND_DATES[[0, 2, 4]])
    m = compute_metrics(HAND_RETURNS, benchmark)
    common = HAND_RETURNS.iloc[[0, 2, 4]]
    assert m["tracking_error"] == pytest.approx((common - benchmark).std() * SQRT_252)


def test_exposure_and_turnover_by_hand():
    weights = pd.DataFrame({"A": [0.5, 0.0, 0.3], "B": [-0.2, 0.0, 0.3]}, index=HAND_DATES[:3])
    turnover = pd.Series([1.0, 0.0, 0.5], index=HAND_DATES[:3])
    m = compute_metrics(HAND_RETURNS.iloc[:3], weights=weights, turnover=turnover)
    assert m["gross_exposure"] == pytest.approx((0.7 + 0.0 + 0.6) / 3)
    assert m["net_exposure"] == pytest.approx((0.3 + 0.0 + 0.6) / 3)
    assert m["exposure_time"] == pytest.approx(2 / 3)
    assert m["turnover"] == pytest.approx(0.5 * 252)


def test_missing_inputs_give_nan_not_errors():
    m = compute_metrics(HAND_RETURNS)
    for key in ("alpha", "beta", "information_ratio", "turnover", "gross_exposure"):
        assert np.isnan(m[key])
    empty = compute_metrics(pd.Series([], dtype=float))
    assert empty["n_days"] == 0 and np.isnan(empty["sharpe"]) and np.isnan(empty["max_drawdown"])


def test_rolling_sharpe_on_real_returns(real_returns):
    returns, _ = real_returns
    rolling = rolling_sharpe(returns, window=63)
    assert rolling.iloc[:62].isna().all()
    window = returns.iloc[100 - 62 : 101]
    expected = window.mean() / window.std() * SQRT_252
    assert rolling.iloc[100] == pytest.approx(expected, rel=1e-9)
    assert rolling.iloc[100] == pytest.approx(empyrical.sharpe_ratio(window), rel=1e-9)
