"""Rows keep their tickers through the warehouse: categorical tickers are stored by label.

``read_prices`` hands categorical tickers to the writers; DuckDB reads a pandas categorical
through its codes and categories. Whatever the categories (unused, unordered), the row order and
the filtering, each stored row carries its own ticker, and the wide closes read back equal the
closes of the rows written.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_assets.factors import FACTOR_REGISTRY, compute_factors
from quant_assets.ingest import read_prices
from quant_assets.models import wide_closes
from quant_assets.warehouse.factors import read_prices_for_factors, replace_factor_values
from quant_assets.warehouse.models import load_closes, load_features
from quant_assets.warehouse.prices import upsert_prices
from quant_assets.warehouse.schema import create_schema

TICKERS = ["AAPL", "AET", "AFL", "AGN", "APTV", "ARE", "ZTS"]
START, END = dt.date(2017, 10, 2), dt.date(2017, 11, 30)
FACTORS = ["ret_1", "ret_5", "sma_20", "xs_rev_1m_rank"]
DEFINITIONS = [FACTOR_REGISTRY[name] for name in FACTORS]


@pytest.fixture(scope="module")
def rows(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Real rows read with ``read_prices``, up to 2017-11-30: APTV (from 2017-12-05) is unused."""
    raw = pd.read_csv(shared_data / "sp500_5yr_2013_2018.csv.gz", dtype=str, keep_default_na=False)
    path = tmp_path_factory.mktemp("warehouse_identity") / "sp500_subset.csv"
    raw[raw["ticker"].isin(TICKERS)].to_csv(path, index=False)
    valid, _ = read_prices(path)
    valid = valid[(valid["date"] >= "2017-06-01") & (valid["date"] <= pd.Timestamp(END))]
    assert "APTV" in valid["ticker"].cat.categories and "APTV" not in set(valid["ticker"])
    return valid


def _recategorised(frame: pd.DataFrame, seed: int, extra: list[str]) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    text = frame["ticker"].astype(str)
    categories = list(rng.permutation(sorted(set(text) | set(extra))))
    out = frame.assign(ticker=pd.Categorical(text, categories=categories))
    return out.iloc[rng.permutation(len(out))]


def _text_rows(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = frame[columns].astype({"ticker": str})
    out["date"] = pd.to_datetime(out["date"]).astype("datetime64[ns]")
    return out.sort_values(["ticker", "date"]).reset_index(drop=True)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kept=st.lists(st.sampled_from(TICKERS), min_size=1, max_size=4, unique=True),
    seed=st.integers(0, 2**32 - 1),
    extra=st.lists(st.sampled_from(["AAA", "ZZZZ", "APTV"]), max_size=2),
)
def test_prices_and_factors_round_trip_by_ticker(rows, kept, seed, extra):
    prices = _recategorised(rows[rows["ticker"].isin(kept)], seed, extra)
    with duckdb.connect() as con:
        create_schema(con)
        upsert_prices(con, prices)
        stored = con.execute("SELECT ticker, date, close, volume FROM prices").df()
        pd.testing.assert_frame_equal(
            _text_rows(stored, ["ticker", "date", "close", "volume"]),
            _text_rows(prices, ["ticker", "date", "close", "volume"]),
        )
        closes = load_closes(con, exclude=())
        pd.testing.assert_frame_equal(
            closes,
            wide_closes(prices.astype({"ticker": str})),
            check_column_type=False,
            check_index_type=False,  # DuckDB dates come back in microseconds
        )
        assert set(closes.columns) == set(prices["ticker"].astype(str))
        for ticker in closes.columns:  # the slow path: one ticker's rows
            own = rows[rows["ticker"] == ticker].set_index("date")["close"]
            pd.testing.assert_series_equal(
                closes[ticker].dropna(),
                own,
                check_names=False,
                check_freq=False,
                check_index_type=False,
            )

        needed = read_prices_for_factors(con, START, END, DEFINITIONS)
        factors = compute_factors(_recategorised(needed, seed + 1, extra), FACTORS, since=START)
        replace_factor_values(con, factors, START, END)
        columns = ["ticker", "date", "factor", "value"]
        back = load_features(con, sorted(kept), START, END)
        expected = factors.astype({"factor": str})
        pd.testing.assert_frame_equal(
            _text_rows(back, columns).sort_values(columns[:3], ignore_index=True),
            _text_rows(expected, columns).sort_values(columns[:3], ignore_index=True),
        )
