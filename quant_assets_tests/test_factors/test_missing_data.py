"""Close-only input, missing days, missing OHLC fields and adjusted closes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.factors import FACTOR_REGISTRY, available_factors, compute_factors
from quant_assets_tests.test_factors.helpers import as_sorted

OHLCV_FACTORS = {"atr_14", "volume_z_21", "dollar_volume"}


def test_close_only_input_skips_range_and_volume_factors_with_reasons(sp500):
    close_only = sp500[["ticker", "date", "close"]]
    out = compute_factors(close_only)
    skipped = out.attrs["skipped_factors"]
    assert set(skipped) == OHLCV_FACTORS
    assert skipped["atr_14"] == "needs high, low: absent or all-NaN in the input"
    assert skipped["dollar_volume"] == "needs volume: absent or all-NaN in the input"
    assert set(out["factor"].unique()) == set(FACTOR_REGISTRY) - OHLCV_FACTORS


def test_all_nan_columns_count_as_absent(sp500):
    frame = sp500.assign(high=np.nan, low=np.nan, adj_close=np.nan)
    out = compute_factors(frame, ["atr_14", "sma_20", "volume_z_21"])
    assert set(out.attrs["skipped_factors"]) == {"atr_14"}
    assert set(out["factor"].unique()) == {"sma_20", "volume_z_21"}


def test_available_factors_reports_what_each_skipped_factor_needs():
    names, skipped = available_factors({"close", "volume"})
    assert skipped == {"atr_14": "needs high, low: absent or all-NaN in the input"}
    assert names == [n for n in FACTOR_REGISTRY if n != "atr_14"]


def test_unknown_factor_names_raise():
    frame = pd.DataFrame({"ticker": ["A"], "date": [pd.Timestamp("2024-01-02")], "close": [1.0]})
    with pytest.raises(KeyError, match="unknown factors"):
        compute_factors(frame, ["sma_21"])


def test_duplicate_rows_raise():
    frame = pd.DataFrame(
        {"ticker": ["A", "A"], "date": [pd.Timestamp("2024-01-02")] * 2, "close": [1.0, 2.0]}
    )
    with pytest.raises(ValueError, match="duplicate"):
        compute_factors(frame)


def test_missing_day_is_not_forward_filled():
    dates = pd.bdate_range("2024-01-01", periods=4)
    frame = pd.DataFrame(
        {
            "ticker": ["A", "A", "A", "B", "B", "B", "B"],
            "date": [dates[0], dates[1], dates[3], *dates],
            "close": [100.0, 110.0, 121.0, 1.0, 2.0, 3.0, 4.0],
        }
    )
    a = compute_factors(frame, ["ret_1"]).query("ticker == 'A'").set_index("date")["value"]
    # A has no row on dates[2]: no value there, and the next return spans the gap (row to row).
    assert a.index.tolist() == [dates[1], dates[3]]
    assert a.tolist() == pytest.approx([0.1, 0.1], rel=1e-14)


def test_input_order_does_not_matter(sp500, sp500_factors):
    shuffled = sp500.sample(frac=1.0, random_state=7)
    pd.testing.assert_frame_equal(as_sorted(compute_factors(shuffled)), as_sorted(sp500_factors))


def test_rows_without_high_low_are_skipped_by_range_factors_only(sp500, sp500_factors):
    dhr = sp500[sp500["ticker"] == "DHR"]
    gap = dhr.loc[dhr["high"].isna(), "date"]
    assert gap.tolist() == [pd.Timestamp("2016-01-12")]  # close 88.55 and volume 0, no OHLC
    factors = sp500_factors[sp500_factors["ticker"] == "DHR"]
    on_gap = set(factors.loc[factors["date"] == gap.iloc[0], "factor"])
    assert "atr_14" not in on_gap
    assert {"sma_20", "ret_1", "rsi_14", "dollar_volume", "volume_z_21"} <= on_gap
    # ATR carries on over the gap: its previous close is the previous complete row's.
    atr_dates = factors.loc[factors["factor"] == "atr_14", "date"]
    assert len(atr_dates) == len(dhr) - 1 - 14


def test_adjusted_close_is_used_when_present():
    n = 30
    dates = pd.bdate_range("2024-01-01", periods=n)
    close = np.full(n, 100.0)
    adjusted = np.where(np.arange(n) < 20, 98.0, 100.0)  # a 2% dividend adjustment before row 20
    frame = pd.DataFrame(
        {
            "ticker": "A",
            "date": dates,
            "close": close,
            "adj_close": adjusted,
            "high": close + 1,
            "low": close - 1,
            "volume": 1000.0,
        }
    )
    out = compute_factors(frame, ["ret_1", "dollar_volume", "atr_14"])
    ret = out.query("factor == 'ret_1'").set_index("date")["value"]
    assert ret[dates[20]] == pytest.approx(100 / 98 - 1, rel=1e-14)
    assert (ret.drop(dates[20]) == 0).all()
    # Dollar volume trades at the unadjusted close; the range is scaled with the price.
    assert (out.query("factor == 'dollar_volume'")["value"] == 100_000.0).all()
    atr = out.query("factor == 'atr_14'").set_index("date")["value"]
    assert atr[dates[14]] == pytest.approx(2 * 0.98 / 98, rel=1e-14)
