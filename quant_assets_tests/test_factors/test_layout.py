"""How input rows become panels and panels become the long output, whatever the input looks like."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.factors import FACTOR_REGISTRY, compute_factors
from quant_assets.factors import panel as panel_module
from quant_assets.factors.cross_section import cross_sectional_rank
from quant_assets.factors.panel import PricePanel, SortedPrices
from quant_assets_tests.test_factors.helpers import as_sorted


def test_rows_are_grouped_by_factor_in_registry_order_then_ticker_then_date(sp500_factors):
    factor_codes = sp500_factors["factor"].cat.codes.to_numpy()
    assert np.all(np.diff(factor_codes) >= 0)
    assert list(sp500_factors["factor"].cat.categories) == list(FACTOR_REGISTRY)
    ticker_codes = sp500_factors["ticker"].cat.codes.to_numpy().astype(np.int64)
    stamps = sp500_factors["date"].to_numpy().view(np.int64)
    same_factor = np.diff(factor_codes) == 0
    next_ticker = np.diff(ticker_codes) > 0
    later_date = (np.diff(ticker_codes) == 0) & (np.diff(stamps) > 0)
    assert np.all(~same_factor | next_ticker | later_date)


def test_value_undefined_mid_history_is_dropped_and_later_rows_kept():
    dates = pd.bdate_range("2024-01-01", periods=5)
    frame = pd.DataFrame({"ticker": "A", "date": dates, "close": [1.0, 2.0, 0.0, 4.0, 5.0]})
    out = compute_factors(frame, ["ret_1"])
    # 4 / 0 - 1 is infinite on the fourth row: that row is NULL, the rows around it are kept
    assert out["date"].tolist() == [dates[1], dates[2], dates[4]]
    assert out["value"].tolist() == [1.0, -1.0, 0.25]


@pytest.mark.parametrize("missing_at", [0, 1, 2])
def test_rows_without_a_ticker_are_ignored(missing_at):
    tickers = ["A", "A", "A"]
    tickers[missing_at] = None
    dates = pd.bdate_range("2024-01-01", periods=3)
    frame = pd.DataFrame({"ticker": tickers, "date": dates, "close": [1.0, 2.0, 3.0]})
    out = compute_factors(frame, ["ret_1"])
    named = frame.dropna(subset=["ticker"])
    expected = compute_factors(named, ["ret_1"])
    pd.testing.assert_frame_equal(as_sorted(out), as_sorted(expected), check_exact=True)
    assert len(out) == 1


def test_unsorted_input_with_times_of_day_gives_the_same_values(sp500, sp500_factors):
    shuffled = sp500.sample(frac=1.0, random_state=7)
    shuffled = shuffled.assign(date=shuffled["date"] + pd.Timedelta(hours=16))
    out = compute_factors(shuffled)
    expected = sp500_factors.assign(date=sp500_factors["date"] + pd.Timedelta(hours=16))
    pd.testing.assert_frame_equal(as_sorted(out), as_sorted(expected), check_exact=True)


DAY = np.timedelta64(1, "D")
MIDNIGHTS = np.datetime64("2020-01-01", "ns") + DAY * np.array([5, 0, 5, 3, 0, 9])


@pytest.mark.parametrize(
    "stamps",
    [
        MIDNIGHTS,  # the day table
        MIDNIGHTS + np.timedelta64(16, "h"),  # the day table: whole days apart
        MIDNIGHTS + np.array([0, 1, 0, 0, 0, 0]) * np.timedelta64(1, "h"),  # hashing
        np.array(["1700-01-01", "2260-01-01", "1700-01-01"], dtype="datetime64[ns]"),  # long span
    ],
)
def test_date_codes_equal_pandas_factorize(stamps):
    codes, dates = panel_module._factorize_dates(stamps)
    expected_codes, expected_dates = pd.factorize(stamps, sort=True)
    np.testing.assert_array_equal(codes, expected_codes)
    np.testing.assert_array_equal(np.asarray(dates, dtype="datetime64[ns]"), expected_dates)


@pytest.mark.parametrize(
    "tickers",
    [
        ["A", "A", "B", "C", "C"],  # grouped in order: split where the ticker changes
        ["B", "B", "A", "C"],  # grouped, out of order
        ["A", "B", "A"],  # not grouped
        ["A", None, None, "B"],  # missing tickers
    ],
)
def test_ticker_codes_equal_pandas_factorize(tickers):
    column = pd.Series(tickers, dtype=object)
    codes, uniques = panel_module._factorize_tickers(column)
    expected_codes, expected_uniques = pd.factorize(column, sort=True)
    np.testing.assert_array_equal(codes, expected_codes)
    assert list(uniques) == list(expected_uniques)


@pytest.mark.parametrize("dtype", ["category", "string"])
def test_ticker_column_types_give_the_same_values(sp500, sp500_factors, dtype):
    out = compute_factors(sp500.astype({"ticker": dtype}), ["sma_20", "rsi_14", "atr_14"])
    expected = sp500_factors[sp500_factors["factor"].isin(["sma_20", "rsi_14", "atr_14"])]
    pd.testing.assert_frame_equal(
        as_sorted(out), as_sorted(expected), check_exact=True, check_categorical=False
    )


def test_cross_sectional_rank_matches_pandas_with_ties_infinities_and_gaps():
    rng = np.random.default_rng(3)
    n_tickers, n_days = 7, 40
    dates = pd.bdate_range("2024-01-01", periods=n_days)
    frame = pd.DataFrame(
        {
            "ticker": np.repeat([f"T{i}" for i in range(n_tickers)], n_days),
            "date": np.tile(dates, n_tickers),
            "close": 1.0,
        }
    )
    frame = frame[rng.random(len(frame)) > 0.2]  # missing rows: tickers differ in length
    panel = PricePanel.from_sorted(SortedPrices.from_frame(frame))
    signal = rng.choice([-np.inf, -1.0, 0.0, 0.5, 0.5, 2.0, np.inf, np.nan], size=panel.shape)
    got = cross_sectional_rank(panel, signal)

    rows = panel.date_code >= 0
    by_date = pd.DataFrame(
        {"day": panel.date_code[rows], "ticker": panel.ticker_index()[rows], "x": signal[rows]}
    ).pivot(index="day", columns="ticker", values="x")
    count = by_date.notna().sum(axis=1).to_numpy()[:, None]
    expected = np.where(
        count > 1, (by_date.rank(axis=1) - 1.0) / np.maximum(count - 1.0, 1.0), np.nan
    )
    expected_cells = pd.DataFrame(expected, index=by_date.index, columns=by_date.columns)
    want = expected_cells.to_numpy()[
        by_date.index.get_indexer(panel.date_code[rows]),
        by_date.columns.get_indexer(panel.ticker_index()[rows]),
    ]
    np.testing.assert_array_equal(got[rows], want)
    assert np.isnan(got[~rows]).all()
