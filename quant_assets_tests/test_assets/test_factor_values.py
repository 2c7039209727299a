"""factor_values materialized for real: full windows, one new day, idempotence, checks, the view."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from quant_assets.factors import (
    FACTOR_REGISTRY,
    compute_factors,
    required_lookback,
    trim_to_lookback,
)
from quant_assets.warehouse.factors import (
    coverage_collapses,
    duplicate_factor_rows,
    read_prices_for_factors,
)
from quant_assets.warehouse.schema import create_schema
from quant_assets_tests.dagster_project import write_real_ticker_files

TICKERS = ["AAPL", "AOS", "DHR", "MSFT", "XOM"]
PRICE_SQL = "SELECT ticker, date, open, high, low, close, adj_close, volume FROM prices"


def _meta(result, key: str = "factor_values") -> dict:
    events = [
        e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key
    ]
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


def _stored(project, where: str = "TRUE") -> pd.DataFrame:
    frame = project.query(
        f"SELECT ticker, date, factor, value FROM factor_values WHERE {where} "
        "ORDER BY factor, ticker, date"
    )
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    return frame.reset_index(drop=True)


def _expected(prices: pd.DataFrame, since=None, until=None) -> pd.DataFrame:
    prices = prices.assign(date=pd.to_datetime(prices["date"]).astype("datetime64[ns]"))
    if until is not None:
        prices = prices[prices["date"] <= pd.Timestamp(until)]
    values = compute_factors(prices, since=since)
    values = values.assign(ticker=values["ticker"].astype(str), factor=values["factor"].astype(str))
    return values.sort_values(["factor", "ticker", "date"]).reset_index(drop=True)


@pytest.fixture
def ingested(project, shared_data):
    write_real_ticker_files(shared_data, project.raw, TICKERS)
    project.ingest_files(TICKERS)
    return project


def test_full_window_stores_exactly_the_library_values(ingested):
    project = ingested
    result = project.compute_factors("2013-02-08", "2018-02-09")
    assert result.success

    stored = _stored(project)
    expected = _expected(project.query(PRICE_SQL))
    pd.testing.assert_frame_equal(stored, expected[stored.columns], check_exact=True)

    meta = _meta(result)
    assert meta["factor_count"] == len(FACTOR_REGISTRY)  # the S&P file has OHLCV: nothing skipped
    assert meta["rows_written"] == len(stored)
    assert meta["tickers"] == len(TICKERS)
    assert meta["latest_date"] == "2018-02-07"
    assert "| rsi_14 " in meta["coverage"] and "| rsi_14 " in meta["latest_cross_section"]
    assert "skipped_factors" not in meta
    bars = len(project.query(PRICE_SQL))
    per_factor = stored.groupby("factor").size() / bars * 100
    assert meta["min_coverage_pct"] == pytest.approx(per_factor.min(), abs=0.01)
    assert per_factor["day_of_week"] == 100

    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["coverage_not_collapsing"].passed
    assert checks["one_value_per_key"].passed

    definitions = project.query("SELECT * FROM factor_definitions ORDER BY position")
    assert list(definitions["name"]) == list(FACTOR_REGISTRY)
    assert set(definitions["group"]) >= {"returns", "momentum", "trend", "volatility", "calendar"}

    # the wide view
    wide = project.query("SELECT * FROM features ORDER BY ticker, date")
    assert list(wide.columns) == ["ticker", "date", *FACTOR_REGISTRY]
    row = wide[(wide["ticker"] == "MSFT") & (wide["date"] == pd.Timestamp("2017-06-30"))]
    long = _stored(project, "ticker = 'MSFT' AND date = DATE '2017-06-30'")
    assert len(row) == 1
    for factor, value in zip(long["factor"], long["value"], strict=True):
        assert row[factor].iloc[0] == value
    # warm-up values are NULL in the view, not zero
    first = wide[wide["ticker"] == "AAPL"].iloc[0]
    assert pd.isna(first["sma_200"]) and pd.isna(first["ret_252"])


def test_newest_day_reads_only_its_lookback_and_writes_only_that_day(ingested):
    project = ingested
    project.compute_factors("2017-10-02", "2018-02-06")
    before = _stored(project)
    assert before["date"].max() == pd.Timestamp("2018-02-06")

    result = project.compute_factors("2018-02-07", "2018-02-07")
    meta = _meta(result)
    assert meta["dates_written"] == 1
    assert meta["rows_replaced"] == 0
    # Each ticker's lookback (rows before the day) plus the day itself, nothing more.
    assert meta["price_rows_in_window"] == len(TICKERS)
    assert meta["price_rows_read"] <= len(TICKERS) * required_lookback()

    after = _stored(project)
    pd.testing.assert_frame_equal(
        after[after["date"] < pd.Timestamp("2018-02-07")].reset_index(drop=True), before
    )
    new_day = after[after["date"] == pd.Timestamp("2018-02-07")].reset_index(drop=True)
    expected = _expected(project.query(PRICE_SQL), since=pd.Timestamp("2018-02-07"))
    pd.testing.assert_frame_equal(new_day, expected[new_day.columns], check_exact=True)


def test_newest_day_reads_exactly_the_lookback_of_the_chosen_factors(ingested):
    project = ingested
    chosen = ["sma_20", "rsi_14", "atr_14", "roc_10"]
    project.compute_factors("2018-01-02", "2018-02-06", factors=chosen)
    meta = _meta(project.compute_factors("2018-02-07", "2018-02-07", factors=chosen))
    assert meta["factor_count"] == len(chosen)
    # per ticker: lookback - 1 usable rows before the day, and the day: what the library's
    # own trim_to_lookback keeps (a row or two more where a high or low is missing)
    bars = project.query(PRICE_SQL)
    trimmed = trim_to_lookback(bars.assign(date=pd.to_datetime(bars["date"])), chosen)
    assert meta["price_rows_read"] == len(trimmed)
    assert len(TICKERS) * required_lookback(chosen) <= len(trimmed) < len(bars) / 2
    stored = _stored(project, "date = DATE '2018-02-07'")
    expected = _expected(project.query(PRICE_SQL), since=pd.Timestamp("2018-02-07"))
    expected = expected[expected["factor"].isin(chosen)].reset_index(drop=True)
    pd.testing.assert_frame_equal(stored, expected[stored.columns], check_exact=True)


def test_rerunning_a_window_is_idempotent(ingested):
    project = ingested
    project.compute_factors("2018-01-02", "2018-02-09")
    first = _stored(project)
    result = project.compute_factors("2018-01-02", "2018-02-09")
    assert _meta(result)["rows_replaced"] == len(first)
    pd.testing.assert_frame_equal(_stored(project), first)


def test_later_prices_never_change_a_window(ingested, shared_data):
    """Bars after the window are in the table; values for the window ignore them."""
    project = ingested
    project.compute_factors("2016-01-04", "2016-06-30")
    stored = _stored(project)
    assert project.query("SELECT max(date) AS d FROM prices")["d"][0] > pd.Timestamp("2017-01-01")
    expected = _expected(project.query(PRICE_SQL), since="2016-01-04", until="2016-06-30")
    pd.testing.assert_frame_equal(stored, expected[stored.columns], check_exact=True)


def test_close_only_prices_skip_what_they_cannot_support(project, shared_data):
    files = write_real_ticker_files(shared_data, project.raw, ["AAPL", "MSFT"])
    for path in files.values():
        frame = pd.read_csv(path)
        frame[["date", "close"]].to_csv(path, index=False)
    project.ingest_files(["AAPL", "MSFT"])
    meta = _meta(project.compute_factors("2017-10-02", "2018-02-09"))
    skipped = meta["skipped_factors"]
    for name in ("atr_14", "volume_z_21", "dollar_volume_21"):
        if name in FACTOR_REGISTRY:
            assert f"`{name}`" in skipped
    assert meta["factor_count"] < len(FACTOR_REGISTRY)
    stored = project.query("SELECT DISTINCT factor FROM factor_values")["factor"]
    assert "atr_14" not in set(stored) and "rsi_14" in set(stored)


def test_coverage_collapse_is_flagged(ingested):
    project = ingested
    project.compute_factors("2017-10-02", "2018-02-09")
    con = duckdb.connect(str(project.warehouse_path))
    try:
        assert coverage_collapses(con).empty
        # A bad write: RSI lost for all but one ticker on the last 3 days.
        con.execute(
            "DELETE FROM factor_values WHERE factor = 'rsi_14' AND ticker <> 'AAPL' "
            "AND date >= DATE '2018-02-05'"
        )
        collapses = coverage_collapses(con)
    finally:
        con.close()
    assert set(collapses["factor"]) == {"rsi_14"}
    assert set(collapses["date"].dt.date.astype(str)) == {"2018-02-05", "2018-02-06", "2018-02-07"}
    assert (collapses["coverage"] == 0.2).all() and (collapses["baseline"] == 1.0).all()


def test_checks_judge_the_days_of_their_run(ingested):
    """A run's checks read its own days (and, for coverage, the baseline days before them):
    a collapse or a duplicate outside them belongs to another run's judgement."""
    project = ingested
    project.compute_factors("2017-10-02", "2018-02-09")
    con = duckdb.connect(str(project.warehouse_path))
    try:
        con.execute(
            "DELETE FROM factor_values WHERE factor = 'rsi_14' AND ticker <> 'AAPL' "
            "AND date >= DATE '2018-02-05'"
        )
        con.execute(
            "INSERT INTO factor_values SELECT * FROM factor_values "
            "WHERE date = DATE '2018-01-10' AND factor = 'rsi_14'"
        )
        everything = coverage_collapses(con)
        since = coverage_collapses(con, start=dt.date(2018, 2, 6), end=dt.date(2018, 2, 7))
        before = coverage_collapses(con, start=dt.date(2018, 1, 2), end=dt.date(2018, 2, 2))
        duplicates = {
            "all": duplicate_factor_rows(con),
            "january": duplicate_factor_rows(con, dt.date(2018, 1, 2), dt.date(2018, 1, 31)),
            "february": duplicate_factor_rows(con, dt.date(2018, 2, 1), dt.date(2018, 2, 7)),
        }
    finally:
        con.close()
    # The window's baseline still reads the 20 days before it: same answer as the whole table.
    expected = everything[everything["date"] >= pd.Timestamp("2018-02-06")]
    pd.testing.assert_frame_equal(since, expected.reset_index(drop=True))
    assert len(since) == 2 and before.empty
    assert duplicates == {"all": 5, "january": 5, "february": 0}

    result = project.compute_factors("2018-02-07", "2018-02-07", raise_on_error=False)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["one_value_per_key"].passed  # January's duplicates are not this run's
    assert checks["one_value_per_key"].metadata["dates_checked"].value.startswith("2018-02-07")


def test_coverage_check_fails_after_a_collapse(ingested):
    project = ingested
    project.compute_factors("2017-10-02", "2018-02-06")
    con = duckdb.connect(str(project.warehouse_path))
    try:  # an upstream column went missing: volume all NULL on the newest day
        con.execute("UPDATE prices SET volume = NULL WHERE date = DATE '2018-02-07'")
    finally:
        con.close()
    result = project.compute_factors("2018-02-07", "2018-02-07")
    check = {e.check_name: e for e in result.get_asset_check_evaluations()}
    collapse = check["coverage_not_collapsing"]
    assert not collapse.passed
    assert "volume_z_21" in collapse.metadata["factors"].value


# --- the lookback read, on hand-made bars -------------------------------------------------


def _warehouse_with(rows: list[tuple]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    create_schema(con)
    for ticker, date, close, high in rows:
        con.execute(
            "INSERT INTO prices VALUES (?, ?, NULL, ?, ?, ?, NULL, NULL, 'test', now())",
            [ticker, date, high, None if high is None else close * 0.99, close],
        )
    return con


def test_lookback_read_counts_usable_rows_per_group():
    days = pd.bdate_range("2020-01-01", periods=12)
    rows = [("C", d.date(), 10.0 + i, None) for i, d in enumerate(days)]  # close only
    # OHLC ticker whose high is missing on two recent rows: those do not count for ATR-like factors
    rows += [
        ("H", d.date(), 20.0 + i, None if i in (8, 9) else 21.0 + i) for i, d in enumerate(days)
    ]
    con = _warehouse_with(rows)
    close_factor = FACTOR_REGISTRY["ret_5"]  # lookback 6 rows: 5 before the day
    range_factor = next(d for d in FACTOR_REGISTRY.values() if "high" in d.requires)
    assert close_factor.lookback == 6
    target = days[11].date()

    read = read_prices_for_factors(con, target, target, [close_factor])
    got = read.groupby("ticker")["date"].apply(lambda s: list(pd.to_datetime(s)))
    assert got["C"] == list(days[6:12]) and got["H"] == list(days[6:12])

    tiny = type(range_factor)(**{**range_factor.__dict__, "lookback": 4})
    read = read_prices_for_factors(con, target, target, [tiny])
    got = read.groupby("ticker")["date"].apply(lambda s: list(pd.to_datetime(s)))
    # 3 usable rows before the day: rows 10, 7, 6 (8 and 9 lack a high); C has none usable
    assert got["H"] == list(days[6:12])
    assert got["C"] == [days[11]]
    assert (pd.to_datetime(read["date"]) <= pd.Timestamp(target)).all()


def test_lookback_read_never_reads_past_the_window():
    days = pd.bdate_range("2020-01-01", periods=30)
    con = _warehouse_with([("C", d.date(), 10.0 + i, None) for i, d in enumerate(days)])
    read = read_prices_for_factors(con, days[10].date(), days[12].date())
    assert pd.to_datetime(read["date"]).max() == days[12]
    assert pd.to_datetime(read["date"]).min() == days[0]  # all history fits in the lookback
    assert dt.date(2020, 1, 1) == days[0].date()
