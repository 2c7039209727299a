"""Tickers stay with their rows: a factor value for ticker X depends only on X's rows.

Whatever the ``ticker`` dtype (object, string, categorical with unused or unordered categories),
the row order and the filtering (other tickers or dates dropped), ``compute_factors`` labels each
value with the ticker whose rows produced it. Cross-sectional ranks depend on the other tickers
by design: for them only dtype and row order must not matter.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_assets.factors import FACTOR_REGISTRY, compute_factors, to_wide, trim_to_lookback
from quant_assets.factors.registry import CROSS_SECTIONAL
from quant_assets.ingest import read_prices
from quant_assets_tests.test_factors.helpers import as_sorted
from quant_assets_tests.ticker_dtypes import TICKER_KINDS, tickers_as

# A late listing (APTV, from 2017-12-05) sorts before most tickers: a filter that ends before its
# first row leaves it as an unused category of ``read_prices``' categorical ticker column.
LATE_TICKER = "APTV"
TICKERS = ["AAPL", "AET", "AFL", "AGN", "APTV", "ARE", "BHF", "MSFT", "ZTS"]
OWN_ROWS_FACTORS = [
    name for name, d in FACTOR_REGISTRY.items() if d.group != CROSS_SECTIONAL and d.lookback <= 64
]
RANK_FACTORS = [name for name, d in FACTOR_REGISTRY.items() if d.group == CROSS_SECTIONAL]


@pytest.fixture(scope="module")
def real_file(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real rows of ``TICKERS`` from the S&P 500 file, as a price file of their own."""
    rows = pd.read_csv(shared_data / "sp500_5yr_2013_2018.csv.gz", dtype=str, keep_default_na=False)
    path = tmp_path_factory.mktemp("ticker_identity") / "sp500_subset.csv"
    rows[rows["ticker"].isin(TICKERS)].to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def valid(real_file: Path) -> pd.DataFrame:
    valid, _ = read_prices(real_file)
    assert isinstance(valid["ticker"].dtype, pd.CategoricalDtype)
    return valid


@pytest.fixture(scope="module")
def before_late_listing(valid: pd.DataFrame) -> pd.DataFrame:
    """``valid`` up to the day before the late ticker's first row: that ticker is an unused category."""
    first = valid.loc[valid["ticker"] == LATE_TICKER, "date"].min()
    kept = valid[valid["date"] < first]
    assert LATE_TICKER in kept["ticker"].cat.categories
    assert LATE_TICKER not in set(kept["ticker"])
    return kept


def _groupby_returns(prices: pd.DataFrame) -> pd.DataFrame:
    """The slow reference: ``ret_1`` ticker by ticker with a plain groupby on text tickers."""
    frame = prices.astype({"ticker": str}).sort_values(["ticker", "date"])
    price = frame["adj_close"].fillna(frame["close"]) if "adj_close" in frame else frame["close"]
    ret = price.groupby(frame["ticker"]).pct_change()
    out = frame[["ticker", "date"]].assign(value=ret.to_numpy())
    return out.dropna(subset=["value"]).set_index(["ticker", "date"])["value"].sort_index()


def test_filtered_read_prices_keeps_each_ticker_on_its_rows(before_late_listing: pd.DataFrame):
    factors = compute_factors(before_late_listing, ["ret_1"])
    got = factors.astype({"ticker": str}).set_index(["ticker", "date"])["value"].sort_index()
    expected = _groupby_returns(before_late_listing)
    assert set(got.index.get_level_values("ticker")) == set(before_late_listing["ticker"])
    pd.testing.assert_series_equal(got, expected, check_names=False, rtol=1e-12)


def test_labels_are_the_tickers_present_sorted(before_late_listing: pd.DataFrame):
    factors = compute_factors(before_late_listing, ["ret_1"])
    present = sorted(set(before_late_listing["ticker"].astype(str)))
    assert list(factors["ticker"].cat.categories) == present
    assert list(pd.unique(factors["ticker"].astype(str))) == present


def test_to_wide_keeps_tickers_with_their_values(before_late_listing: pd.DataFrame):
    factors = compute_factors(before_late_listing, ["ret_1", "ret_5"])
    wide = to_wide(factors)
    for factor in ("ret_1", "ret_5"):
        rows = factors[factors["factor"] == factor].astype({"ticker": str})
        expected = rows.set_index(["ticker", "date"])["value"].sort_index()
        got = wide[factor].dropna()
        got.index = got.index.set_levels(got.index.levels[0].astype(str), level=0)
        pd.testing.assert_series_equal(got, expected, check_names=False)


def test_to_wide_refuses_rows_without_a_key():
    frame = pd.DataFrame(
        {
            "ticker": pd.Categorical(["A", None], categories=["A", "B"]),
            "date": pd.to_datetime(["2020-01-02", "2020-01-02"]),
            "factor": ["ret_1", "ret_1"],
            "value": [1.0, 2.0],
        }
    )
    with pytest.raises(ValueError, match="ticker"):
        to_wide(frame)


def test_trim_to_lookback_matches_per_ticker_trim(before_late_listing: pd.DataFrame):
    trimmed = trim_to_lookback(before_late_listing, ["ret_5"], new_rows=3)
    expected = (
        before_late_listing.astype({"ticker": str})
        .sort_values(["ticker", "date"])
        .groupby("ticker")
        .tail(5 + 3)
    )
    key = ["ticker", "date"]
    got = trimmed.astype({"ticker": str}).sort_values(key)[key].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected[key].reset_index(drop=True))


def test_trim_to_lookback_ignores_rows_without_a_ticker(before_late_listing: pd.DataFrame):
    head = before_late_listing.astype({"ticker": object}).head(40).copy()
    head.loc[head.index[:3], "ticker"] = None
    trimmed = trim_to_lookback(head, ["ret_1"])
    assert trimmed["ticker"].notna().all()


# -- property: any dtype, order and filtering ------------------------------------------------------


KINDS = TICKER_KINDS


@st.composite
def variants(draw):
    kept = draw(st.lists(st.sampled_from(TICKERS), min_size=1, max_size=5, unique=True))
    kind = draw(st.sampled_from(KINDS))
    extra = draw(st.lists(st.sampled_from(["AAA", "ZZZZ", *TICKERS]), max_size=4))
    seed = draw(st.integers(0, 2**32 - 1))
    shuffle = draw(st.booleans())
    return kept, kind, extra, seed, shuffle


@pytest.fixture(scope="module")
def window(valid: pd.DataFrame) -> pd.DataFrame:
    """About 120 trading days around the late listing: tickers appear mid-window."""
    return valid[(valid["date"] >= "2017-09-01") & (valid["date"] < "2018-02-08")]


@pytest.fixture(scope="module")
def alone(window: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each ticker's own-rows factors computed on its rows alone, text tickers."""
    out = {}
    for ticker in TICKERS:
        rows = window[window["ticker"] == ticker].astype({"ticker": str})
        out[ticker] = as_sorted(compute_factors(rows, OWN_ROWS_FACTORS))
    return out


def _variant(window: pd.DataFrame, kept, kind, extra, seed, shuffle) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = window[window["ticker"].isin(kept)]
    rows = rows.assign(
        ticker=pd.Series(tickers_as(rows["ticker"], kind, extra, rng), index=rows.index)
    )
    if shuffle:
        rows = rows.iloc[rng.permutation(len(rows))]
    return rows


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(variants())
def test_own_row_factors_depend_only_on_own_rows(window, alone, variant):
    kept, kind, extra, seed, shuffle = variant
    rows = _variant(window, kept, kind, extra, seed, shuffle)
    got = as_sorted(compute_factors(rows, OWN_ROWS_FACTORS))
    assert set(got["ticker"]) == {t for t in kept if len(alone[t])}
    for ticker in kept:
        mine = got[got["ticker"] == ticker].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, alone[ticker], check_categorical=False)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(variants())
def test_rank_factors_do_not_depend_on_dtype_or_order(window, variant):
    kept, kind, extra, seed, shuffle = variant
    rows = _variant(window, kept, kind, extra, seed, shuffle)
    plain = rows.astype({"ticker": str}).sort_values(["ticker", "date"])
    got = as_sorted(compute_factors(rows, RANK_FACTORS))
    expected = as_sorted(compute_factors(plain, RANK_FACTORS))
    pd.testing.assert_frame_equal(got, expected)
