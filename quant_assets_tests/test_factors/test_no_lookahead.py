"""No lookahead: computing on data that ends at date t gives exactly the values of the full run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from quant_assets.factors import FACTOR_REGISTRY, compute_factors, trim_to_lookback
from quant_assets_tests.test_factors.helpers import as_sorted


def assert_same_up_to(full: pd.DataFrame, truncated: pd.DataFrame, cut: pd.Timestamp) -> None:
    expected = as_sorted(full[full["date"] <= cut])
    got = as_sorted(truncated)
    assert set(got["factor"]) == set(expected["factor"])
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


@pytest.mark.parametrize(
    "cut",
    # early warm-up; one year in; mid-sample; a day with a bar missing OHLC; after APTV lists
    ["2013-03-15", "2014-02-10", "2015-07-17", "2017-07-26", "2017-12-20"],
)
def test_truncated_real_data_gives_identical_values(sp500, sp500_factors, cut):
    cut = pd.Timestamp(cut)
    truncated = compute_factors(sp500[sp500["date"] <= cut])
    assert_same_up_to(sp500_factors, truncated, cut)


def synthetic_prices(seed: int, n_tickers: int, max_rows: int) -> pd.DataFrame:
    """Random-walk OHLCV for a few tickers with different starts, gaps and missing fields."""
    rng = np.random.default_rng(seed)
    calendar = pd.bdate_range("2020-01-01", periods=max_rows)
    frames = []
    for i in range(n_tickers):
        start = int(rng.integers(0, max_rows // 2)) if i else 0
        dates = calendar[start:]
        dates = dates[rng.random(len(dates)) > 0.03]  # missing bars
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, len(dates))))
        spread = close * rng.uniform(0, 0.03, len(dates))
        frame = pd.DataFrame(
            {
                "ticker": f"T{i}",
                "date": dates,
                "close": close,
                "high": close + spread,
                "low": close - spread,
                "volume": rng.integers(0, 10**6, len(dates)).astype(float),
            }
        )
        frame.loc[rng.random(len(frame)) < 0.02, ["high", "low"]] = np.nan
        if rng.random() < 0.5:
            frame["adj_close"] = frame["close"] * rng.uniform(0.9, 1.0)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@settings(max_examples=20, deadline=None, database=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_tickers=st.integers(1, 4),
    max_rows=st.integers(2, 700),
    cut_fraction=st.floats(0.0, 1.0),
)
def test_truncation_property_on_synthetic_data(seed, n_tickers, max_rows, cut_fraction):
    prices = synthetic_prices(seed, n_tickers, max_rows)
    dates = np.sort(prices["date"].unique())
    cut = pd.Timestamp(dates[int(cut_fraction * (len(dates) - 1))])
    full = compute_factors(prices)
    truncated = compute_factors(prices[prices["date"] <= cut])
    assert_same_up_to(full, truncated, cut)


def test_synthetic_data_exercises_every_factor():
    out = compute_factors(synthetic_prices(1, 4, 700))
    assert set(out["factor"]) == set(FACTOR_REGISTRY)


@settings(max_examples=20, deadline=None, database=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_tickers=st.integers(1, 4),
    max_rows=st.integers(2, 700),
    as_of_fraction=st.floats(0.0, 1.0),
    names=st.lists(st.sampled_from(sorted(FACTOR_REGISTRY)), min_size=1, max_size=6),
)
def test_incremental_day_on_synthetic_data(seed, n_tickers, max_rows, as_of_fraction, names):
    """The newest day from each ticker's last ``required_lookback(names)`` rows, bit for bit."""
    prices = synthetic_prices(seed, n_tickers, max_rows)
    assume(len(prices) > 0)  # the generator may drop every row of a tiny panel
    dates = np.sort(prices["date"].unique())
    as_of = pd.Timestamp(dates[int(as_of_fraction * (len(dates) - 1))])
    history = prices[prices["date"] <= as_of]
    full = compute_factors(history, names)
    incremental = compute_factors(trim_to_lookback(history, names), names, since=as_of)
    pd.testing.assert_frame_equal(
        as_sorted(incremental), as_sorted(full[full["date"] == as_of]), check_exact=True
    )
