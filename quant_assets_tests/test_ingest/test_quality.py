"""Quality finders on tiny hand-built tables with known answers, and on the real S&P 500 file."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from quant_assets.ingest import quality
from quant_assets.warehouse.prices import upsert_prices
from quant_assets.warehouse.schema import create_schema

# Mon 2020-01-06 .. Fri 2020-01-10.
D1, D2, D3, D4, D5 = (f"2020-01-{d:02d}" for d in range(6, 11))


def _prices_table(rows: list[dict]) -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse whose ``prices`` holds ``rows`` (missing fields are NULL)."""
    frame = pd.DataFrame(rows).reindex(
        columns=["ticker", "date", "open", "high", "low", "close", "adj_close", "volume"]
    )
    frame["date"] = pd.to_datetime(frame["date"])
    frame = frame.astype({c: "float64" for c in frame.columns[2:]}).assign(source="hand")
    con = duckdb.connect()
    create_schema(con)
    upsert_prices(con, frame)
    return con


def _closes(ticker: str, dates: list[str], closes: list[float], adj=None) -> list[dict]:
    adj = adj or [None] * len(dates)
    return [
        {"ticker": ticker, "date": d, "close": c, "adj_close": a}
        for d, c, a in zip(dates, closes, adj, strict=True)
    ]


def _keys(examples: pd.DataFrame) -> list[tuple[str, str]]:
    return [
        (t, d.strftime("%Y-%m-%d"))
        for t, d in zip(examples["ticker"], examples["date"], strict=True)
    ]


@pytest.fixture
def all_examples(monkeypatch):
    """Finders return every row they find, not just the first ten."""
    monkeypatch.setattr(quality, "EXAMPLES", 100_000)


# --- hand-built tables ------------------------------------------------------------------------


def test_large_moves_are_strictly_beyond_the_threshold_either_way():
    # A: +60%, then exactly -50% (not beyond), then -51.25%.
    con = _prices_table(_closes("A", [D1, D2, D3, D4], [10.0, 16.0, 8.0, 3.9]))
    count, examples = quality.large_moves(con)
    assert count == 2
    assert _keys(examples) == [("A", D2), ("A", D4)]
    np.testing.assert_allclose(examples["move"], [0.6, -0.5125])


def test_large_moves_use_adjusted_close_where_present():
    # A 2:1 split: the raw close halves, the adjusted series does not move.
    con = _prices_table(_closes("B", [D1, D2], [100.0, 50.0], adj=[50.0, 50.5]))
    assert quality.large_moves(con)[0] == 0


def test_large_moves_compare_consecutive_rows_of_the_same_ticker_only():
    rows = _closes("A", [D1, D3], [10.0, 10.5]) + _closes("B", [D2], [100.0])
    assert quality.large_moves(_prices_table(rows))[0] == 0


def test_large_moves_threshold_is_a_parameter():
    con = _prices_table(_closes("A", [D1, D2], [10.0, 12.5]))
    assert quality.large_moves(con, threshold=0.2)[0] == 1
    assert quality.large_moves(con)[0] == 0


def test_zero_volume_counts_only_volume_exactly_zero():
    rows = [
        {"ticker": "A", "date": D1, "close": 1.0, "volume": 0.0},
        {"ticker": "A", "date": D2, "close": 1.0, "volume": None},
        {"ticker": "A", "date": D3, "close": 1.0, "volume": 1.0},
        {"ticker": "B", "date": D1, "close": 1.0, "volume": 0.0},
    ]
    count, examples = quality.zero_volume(_prices_table(rows))
    assert count == 2
    assert _keys(examples) == [("A", D1), ("B", D1)]


def test_flat_bars_need_all_four_prices_equal():
    rows = [
        {"ticker": "A", "date": D1, "open": 5.0, "high": 5.0, "low": 5.0, "close": 5.0},
        {"ticker": "A", "date": D2, "open": 5.0, "high": 5.1, "low": 5.0, "close": 5.0},
        {"ticker": "A", "date": D3, "close": 5.0},  # close only: not a flat bar
    ]
    count, examples = quality.flat_bars(_prices_table(rows))
    assert count == 1
    assert _keys(examples) == [("A", D1)]


def test_trading_day_gaps_are_calendar_days_missing_inside_a_tickers_range():
    # Bars per day (of 4 tickers, all listed D1..D5):
    # D1 4/4, D2 3/4, D3 1/4 (not a trading day), D4 2/4 (exactly half: a trading day), D5 4/4.
    rows = (
        _closes("A", [D1, D2, D3, D4, D5], [1.0] * 5)
        + _closes("B", [D1, D2, D4, D5], [1.0] * 4)
        + _closes("C", [D1, D5], [1.0] * 2)
        + _closes("D", [D1, D2, D5], [1.0] * 3)
    )
    count, examples = quality.trading_day_gaps(_prices_table(rows))
    assert count == 3
    assert _keys(examples) == [("C", D2), ("C", D4), ("D", D4)]


def test_trading_day_gaps_ignore_days_before_a_ticker_is_listed():
    rows = _closes("A", [D1, D2, D3], [1.0] * 3) + _closes("B", [D2, D3], [1.0] * 2)
    assert quality.trading_day_gaps(_prices_table(rows))[0] == 0


def test_finders_return_at_most_ten_examples_but_the_full_count():
    dates = pd.bdate_range("2020-01-06", periods=12).strftime("%Y-%m-%d").tolist()
    rows = [{"ticker": "A", "date": d, "close": 1.0, "volume": 0.0} for d in dates]
    count, examples = quality.zero_volume(_prices_table(rows))
    assert (count, len(examples)) == (12, 10)


# --- the real S&P 500 file --------------------------------------------------------------------


def _rejected_as_prices(rejected: pd.DataFrame) -> pd.DataFrame:
    """Rejected rows parsed back from their raw text (they break OHLC rules, not CHECKs)."""
    raw = pd.DataFrame([json.loads(v) for v in rejected["raw_values"]])
    out = raw.assign(date=pd.to_datetime(raw["date"]), adj_close=np.nan, source="rejected")
    for col in ("open", "high", "low", "close", "volume"):
        out[col] = pd.to_numeric(out[col].replace("", np.nan))
    return out[["ticker", "date", "open", "high", "low", "close", "adj_close", "volume", "source"]]


@pytest.fixture(scope="module")
def sp500_valid_table(sp500_prices) -> duckdb.DuckDBPyConnection:
    valid, _ = sp500_prices
    con = duckdb.connect()
    create_schema(con)
    upsert_prices(con, valid)
    return con


@pytest.fixture(scope="module")
def sp500_all_rows_table(sp500_prices) -> duckdb.DuckDBPyConnection:
    """Every row of the file, the 12 rejected ones included: the README's own counts."""
    valid, rejected = sp500_prices
    con = duckdb.connect()
    create_schema(con)
    upsert_prices(con, pd.concat([valid, _rejected_as_prices(rejected)], ignore_index=True))
    return con


def test_sp500_zero_volume_bars_are_the_four_close_only_rows(sp500_valid_table):
    count, examples = quality.zero_volume(sp500_valid_table)
    assert count == 4
    assert _keys(examples) == [
        ("DHR", "2016-01-12"),
        ("FTV", "2016-07-01"),
        ("O", "2016-01-12"),
        ("UA", "2016-04-07"),
    ]
    assert examples[["open", "high", "low"]].isna().all().all()


def test_sp500_has_one_flat_bar(sp500_valid_table):
    count, examples = quality.flat_bars(sp500_valid_table)
    assert count == 1
    assert _keys(examples) == [("BHF", "2017-07-28")]


def test_sp500_all_rows_have_the_readme_seven_large_moves(sp500_all_rows_table):
    count, examples = quality.large_moves(sp500_all_rows_table)
    assert count == 7
    assert set(_keys(examples)) == {
        ("AMD", "2016-04-22"),
        ("DISCA", "2014-08-07"),
        ("DISCK", "2014-08-07"),
        ("EBAY", "2015-07-20"),
        ("LNT", "2016-05-20"),
        ("NI", "2015-07-02"),
        ("VRTX", "2013-04-19"),
    }


def test_sp500_rejecting_lnt_half_adjusted_bar_removes_its_large_move(sp500_valid_table):
    # LNT 2016-05-19 (close adjusted for the split, OHLC not) is rejected; 05-20 vs 05-18 is calm.
    count, examples = quality.large_moves(sp500_valid_table)
    assert count == 6
    assert ("LNT", "2016-05-20") not in _keys(examples)


def test_sp500_all_rows_have_the_readme_51_missing_bars(sp500_all_rows_table):
    assert quality.trading_day_gaps(sp500_all_rows_table)[0] == 51


def test_sp500_each_rejected_row_becomes_a_gap(
    sp500_valid_table, sp500_all_rows_table, sp500_prices, all_examples
):
    _, rejected = sp500_prices
    count, gaps = quality.trading_day_gaps(sp500_valid_table)
    assert count == 63
    _, gaps_all_rows = quality.trading_day_gaps(sp500_all_rows_table)
    assert set(_keys(gaps)) - set(_keys(gaps_all_rows)) == set(
        zip(rejected["ticker"], rejected["date"], strict=True)
    )
