"""Incremental updates: the newest day from ``required_lookback`` rows equals the full run."""

from __future__ import annotations

import pandas as pd
import pytest

from quant_assets.factors import (
    FACTOR_REGISTRY,
    compute,
    compute_factors,
    required_lookback,
    trim_to_lookback,
)
from quant_assets_tests.test_factors.helpers import as_sorted


@pytest.fixture(scope="module")
def long_factors(long_history: pd.DataFrame) -> pd.DataFrame:
    return compute_factors(long_history)


def on_date(factors: pd.DataFrame, date: pd.Timestamp) -> pd.DataFrame:
    return as_sorted(factors[factors["date"] == date])


@pytest.mark.parametrize("as_of", ["1990-01-02", "2004-06-30", "2017-11-10"])
def test_newest_day_from_lookback_rows_is_bit_identical(long_history, long_factors, as_of):
    as_of = pd.Timestamp(as_of)
    history = long_history[long_history["date"] <= as_of]
    window = trim_to_lookback(history)
    assert window.groupby("ticker").size().max() == required_lookback()
    incremental = compute_factors(window, since=as_of)
    expected = on_date(long_factors, as_of)
    assert len(expected) >= 30 * 5
    pd.testing.assert_frame_equal(as_sorted(incremental), expected, check_exact=True)


# TA-Lib-seeded averages keep a power-of-two number of rows past the 1e-12 tolerance, so their
# oldest rows weigh less than 1e-30 and dropping one changes no bit: exact, but not tight.
ROUNDED_UP_MEMORY = {"ema_12", "ema_26", "macd_line_12_26", "rsi_14", "atr_14"}


@pytest.mark.parametrize("name", [n for n, d in FACTOR_REGISTRY.items() if d.lookback > 1])
def test_each_lookback_is_exact_and_tight(long_history, long_factors, name):
    """``lookback`` rows reproduce the full value; one row fewer changes it (it is not padded)."""
    last = long_history["date"].max()
    expected = on_date(long_factors[long_factors["factor"] == name], last)
    lookback = FACTOR_REGISTRY[name].lookback
    exact = compute_factors(long_history.groupby("ticker").tail(lookback), [name], since=last)
    pd.testing.assert_frame_equal(as_sorted(exact), expected, check_exact=True)
    short = compute_factors(long_history.groupby("ticker").tail(lookback - 1), [name], since=last)
    if name in ROUNDED_UP_MEMORY:
        pd.testing.assert_frame_equal(as_sorted(short), expected, rtol=1e-15)
    else:
        assert not as_sorted(short).equals(expected)


def test_new_day_with_short_histories_and_gaps(sp500, sp500_factors):
    last = sp500["date"].max()
    incremental = compute_factors(trim_to_lookback(sp500), since=last)
    pd.testing.assert_frame_equal(
        as_sorted(incremental), on_date(sp500_factors, last), check_exact=True
    )


def test_several_new_days(long_history, long_factors):
    dates = pd.Series(long_history["date"].unique()).sort_values()
    since = dates.iloc[-5]
    window = trim_to_lookback(long_history, new_rows=5)
    incremental = compute_factors(window, since=since)
    expected = as_sorted(long_factors[long_factors["date"] >= since])
    pd.testing.assert_frame_equal(as_sorted(incremental), expected, check_exact=True)


def test_threads_do_not_change_values(sp500, sp500_factors, monkeypatch):
    monkeypatch.setattr(compute, "THREADS", 1)
    pd.testing.assert_frame_equal(
        as_sorted(compute_factors(sp500)), as_sorted(sp500_factors), check_exact=True
    )
