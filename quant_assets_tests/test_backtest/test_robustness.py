"""Stationary bootstrap intervals, fee sensitivity and out-of-sample filtering."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.backtest import compute_metrics, run_backtest
from quant_assets.backtest.robustness import (
    _cagr,
    _max_drawdown,
    _sharpe,
    bootstrap_confidence_intervals,
    cost_sensitivity,
    out_of_sample_rows,
    stationary_bootstrap_indices,
    windows_from_splits,
)
from quant_assets.models import walk_forward_splits


def iid_returns(n: int = 2520, mean: float = 5e-4, std: float = 0.01, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series(rng.normal(mean, std, n), index=pd.bdate_range("2010-01-01", periods=n))


# ---- stationary bootstrap ---------------------------------------------------------------


def test_indices_are_blocks_of_consecutive_observations_wrapping_around():
    idx = stationary_bootstrap_indices(50, 400, 10.0, np.random.default_rng(1))
    assert idx.shape == (400, 50) and idx.min() >= 0 and idx.max() <= 49
    continues = np.diff(idx, axis=1) % 50 == 1
    # a new block starts with probability 1/10 (and may by chance continue the last one)
    assert continues.mean() == pytest.approx(0.9 + 0.1 / 50, abs=0.01)
    assert ((idx[:, :-1] == 49) & (idx[:, 1:] == 0)).any()  # wraps from the end to the start


def test_mean_block_length_one_is_the_iid_bootstrap():
    idx = stationary_bootstrap_indices(1000, 50, 1.0, np.random.default_rng(2))
    continues = np.diff(idx, axis=1) % 1000 == 1
    assert continues.mean() == pytest.approx(1 / 1000, abs=2e-3)


def test_indices_are_reproducible_with_the_seed():
    first = stationary_bootstrap_indices(30, 5, 4.0, np.random.default_rng(7))
    again = stationary_bootstrap_indices(30, 5, 4.0, np.random.default_rng(7))
    other = stationary_bootstrap_indices(30, 5, 4.0, np.random.default_rng(8))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_bootstrap_checks_its_arguments():
    with pytest.raises(ValueError, match="mean_block_length"):
        stationary_bootstrap_indices(10, 10, 0.5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="level"):
        bootstrap_confidence_intervals(iid_returns(20), level=1.0)
    with pytest.raises(ValueError, match="at least 2"):
        bootstrap_confidence_intervals(pd.Series([0.01]))


def test_resampled_statistics_match_compute_metrics():
    samples = np.random.default_rng(3).normal(2e-4, 0.02, (3, 300))
    for row, sharpe, cagr, drawdown in zip(
        samples, _sharpe(samples), _cagr(samples), _max_drawdown(samples), strict=True
    ):
        metrics = compute_metrics(pd.Series(row))
        assert sharpe == pytest.approx(metrics["sharpe"], rel=1e-12)
        assert cagr == pytest.approx(metrics["annual_return"], rel=1e-10)
        assert drawdown == pytest.approx(metrics["max_drawdown"], rel=1e-12)


def test_max_drawdown_by_hand():
    # wealth 1.1, 0.99, 1.188: peak 1.1 -> trough 0.99 is -10 %; a first-day loss counts too
    np.testing.assert_allclose(
        _max_drawdown(np.array([[0.1, -0.1, 0.2], [-0.05, 0.1, 0.1]])), [-0.1, -0.05], rtol=1e-12
    )


def test_intervals_contain_the_point_and_are_reproducible():
    returns = iid_returns(1000, seed=4)
    table = bootstrap_confidence_intervals(returns, n_samples=500, seed=42)
    assert list(table.columns) == ["metric", "point", "lower", "upper", "level"]
    assert list(table["metric"]) == ["sharpe", "cagr", "max_drawdown"]
    assert (table["lower"] <= table["point"]).all() and (table["point"] <= table["upper"]).all()
    assert (table["level"] == 0.95).all()
    metrics = compute_metrics(returns)
    assert table["point"].tolist() == [
        metrics["sharpe"],
        metrics["annual_return"],
        metrics["max_drawdown"],
    ]
    pd.testing.assert_frame_equal(
        table, bootstrap_confidence_intervals(returns, n_samples=500, seed=42)
    )
    assert not table.equals(bootstrap_confidence_intervals(returns, n_samples=500, seed=43))
    narrower = bootstrap_confidence_intervals(returns, n_samples=500, seed=42, level=0.5)
    assert (narrower["upper"] - narrower["lower"] < table["upper"] - table["lower"]).all()


@pytest.mark.parametrize("mean_block_length", [1.0, None])
def test_sharpe_interval_matches_the_analytic_standard_error_for_iid_returns(mean_block_length):
    returns = iid_returns(2520, seed=5)  # ten years, daily Sharpe 0.05
    table = bootstrap_confidence_intervals(
        returns, n_samples=2000, mean_block_length=mean_block_length, seed=0
    ).set_index("metric")
    # Lo (2002): SE of the daily Sharpe of iid returns ~ sqrt((1 + SR**2 / 2) / n)
    daily = returns.mean() / returns.std()
    analytic = np.sqrt((1 + daily**2 / 2) / len(returns)) * np.sqrt(252)
    half_width = (table.loc["sharpe", "upper"] - table.loc["sharpe", "lower"]) / 2
    assert half_width / 1.959964 == pytest.approx(analytic, rel=0.12)


# ---- cost sensitivity ----------------------------------------------------------------


@pytest.fixture(scope="module")
def book() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(6)
    dates = pd.bdate_range("2020-01-01", periods=250)
    prices = pd.DataFrame(
        100 * np.exp(np.cumsum(rng.normal(3e-4, 0.01, (250, 3)), axis=0)),
        index=dates,
        columns=["A", "B", "C"],
    )
    weights = pd.DataFrame(rng.uniform(0, 0.3, (250, 3)), index=dates, columns=prices.columns)
    return prices, weights


def test_cost_sensitivity_reruns_the_backtest_per_fee(book):
    prices, weights = book
    table = cost_sensitivity(prices, weights)
    assert table.index.name == "fee_bps"
    assert table.index.tolist() == [0.0, 2.0, 5.0, 10.0, 20.0]
    assert {"sharpe", "annual_return"} <= set(table.columns)
    assert table["sharpe"].is_monotonic_decreasing
    assert table["annual_return"].diff().dropna().lt(0).all()
    ten = run_backtest(prices, weights, fee_bps=10, initial_cash=1e6).metrics
    assert table.loc[10.0, "sharpe"] == ten["sharpe"]
    assert table.loc[10.0, "annual_return"] == ten["annual_return"]


def test_cost_sensitivity_passes_backtest_options_on(book):
    prices, weights = book
    plain = cost_sensitivity(prices, weights, fees_bps=[0])
    slipped = cost_sensitivity(prices, weights, fees_bps=[0], slippage_bps=10)
    assert slipped.loc[0.0, "annual_return"] < plain.loc[0.0, "annual_return"]


# ---- out-of-sample filtering -----------------------------------------------------------


def predictions(windows: dict[int, list[str]]) -> pd.DataFrame:
    rows = [
        {"date": pd.Timestamp(date), "ticker": ticker, "window": window, "position": 0.1 * window}
        for window, dates in windows.items()
        for date in dates
        for ticker in ("A", "B")
    ]
    return pd.DataFrame(rows)


DAYS = ["2021-01-04", "2021-01-05", "2021-01-06", "2021-01-07", "2021-01-08"]


def test_only_each_windows_out_of_sample_rows_are_kept():
    # both windows predicted every day; window 0 is out of sample on the 5th-6th, window 1 after
    frame = predictions({0: DAYS, 1: DAYS})
    ranges = {0: ("2021-01-05", "2021-01-06"), 1: ("2021-01-07", "2021-01-08")}
    kept = out_of_sample_rows(frame, ranges)
    assert kept.groupby("date")["window"].first().to_dict() == {
        pd.Timestamp("2021-01-05"): 0,
        pd.Timestamp("2021-01-06"): 0,
        pd.Timestamp("2021-01-07"): 1,
        pd.Timestamp("2021-01-08"): 1,
    }
    assert len(kept) == 8 and list(kept.columns) == list(frame.columns)


def test_overlapping_out_of_sample_ranges_are_refused():
    frame = predictions({0: DAYS, 1: DAYS})
    ranges = {0: ("2021-01-04", "2021-01-06"), 1: ("2021-01-06", "2021-01-08")}
    with pytest.raises(ValueError, match="overlap"):
        out_of_sample_rows(frame, ranges)


def test_a_repeated_row_is_refused():
    frame = predictions({0: DAYS[:2]})
    frame = pd.concat([frame, frame.iloc[[0]]])
    with pytest.raises(ValueError, match="repeated"):
        out_of_sample_rows(frame, {0: (DAYS[0], DAYS[-1])})


def test_a_window_without_a_range_is_refused():
    with pytest.raises(ValueError, match="without an out-of-sample range"):
        out_of_sample_rows(predictions({0: DAYS, 3: DAYS}), {0: (DAYS[0], DAYS[1])})


def test_frames_without_tickers_use_the_date_alone():
    frame = pd.DataFrame({"date": pd.to_datetime(DAYS), "window": [0, 0, 1, 1, 1], "r": 1.0})
    kept = out_of_sample_rows(frame, {0: (DAYS[0], DAYS[1]), 1: (DAYS[2], DAYS[4])})
    assert kept["date"].is_unique and len(kept) == 5


def test_windows_from_walk_forward_splits():
    dates = pd.bdate_range("2015-01-01", "2019-12-31")
    splits = walk_forward_splits(
        dates, first_test_start="2018-01-01", validation_length=126, embargo=5
    )
    windows = windows_from_splits(splits, dates)
    assert list(windows.columns) == ["window", "oos_start", "oos_end"]
    assert (
        windows["oos_start"].iloc[1:].to_numpy() > windows["oos_end"].iloc[:-1].to_numpy()
    ).all()
    frame = pd.DataFrame(
        [(d, "A", w) for w in windows["window"] for d in dates],
        columns=["date", "ticker", "window"],
    )
    kept = out_of_sample_rows(frame, windows)
    assert kept["date"].is_unique
    assert kept["date"].min() == windows["oos_start"].min()
