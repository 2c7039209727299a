"""Checks on ``prices``: contract breaks are blocking ERRORs that stop downstream in the same
run; suspicious-but-possible values stay warnings."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from dagster import AssetCheckSeverity, MaterializeResult, asset, materialize

from quant_assets.assets.ingest import prices
from quant_assets.automation.checks import blocking_price_checks, price_checks, warning_price_checks
from quant_assets.warehouse import price_quality
from quant_assets.warehouse.prices import upsert_prices
from quant_assets.warehouse.schema import create_schema
from quant_assets_tests.dagster_project import QUIET, write_real_ticker_files

BLOCKING = {
    "non_finite_or_non_positive_values",
    "inconsistent_bars",
    "invalid_dates",
    "malformed_tickers",
    "duplicate_price_keys",
    "unexplained_jumps",
}
WARNINGS = {"large_daily_moves", "zero_volume_bars", "flat_bars", "trading_day_gaps"}


def _names(checks) -> set[str]:
    return {key.name for c in checks for key in c.check_keys}


def test_contract_checks_block_and_suspicious_ones_only_warn():
    assert _names(blocking_price_checks) == BLOCKING
    assert _names(warning_price_checks) == WARNINGS
    specs = {spec.name: spec for c in price_checks for spec in c.check_specs}
    assert {n for n, s in specs.items() if s.blocking} == BLOCKING
    assert all(s.asset_key == prices.key for s in specs.values())


# --- the contract finders on hand-built tables ------------------------------------------------

GOOD = ("A", "2020-01-06", 10.0, 11.0, 9.0, 10.5, 10.4, 1000.0)  # a Monday


def _table(*rows: tuple, primary_key: bool = True) -> duckdb.DuckDBPyConnection:
    """An in-memory ``prices`` holding ``rows`` as given, bypassing validation (a hand edit)."""
    con = duckdb.connect()
    create_schema(con)
    if not primary_key:  # a warehouse created before the key existed
        con.execute("CREATE OR REPLACE TABLE prices AS SELECT * FROM prices LIMIT 0")
    for row in rows:
        con.execute(
            "INSERT INTO prices VALUES (?, CAST(? AS DATE), ?, ?, ?, ?, ?, ?, 'hand', "
            "TIMESTAMP '2020-01-31 23:00:00')",
            list(row),
        )
    return con


def _keys(found: tuple[int, pd.DataFrame]) -> list[tuple[str, str]]:
    count, examples = found
    assert count == len(examples)
    return [(t, str(d)[:10]) for t, d in zip(examples["ticker"], examples["date"], strict=True)]


def test_a_valid_bar_breaks_no_contract():
    con = _table(GOOD, ("B", "2020-01-06", None, None, None, 5.0, None, None))  # close only
    for finder in (
        price_quality.non_finite_or_non_positive,
        price_quality.inconsistent_bars,
        price_quality.invalid_dates,
        price_quality.malformed_tickers,
        price_quality.duplicate_keys,
    ):
        assert finder(con)[0] == 0, finder.__name__


def test_infinite_and_nan_values_are_found_but_null_optional_values_are_not():
    inf_high = ("A", "2020-01-07", 10.0, float("inf"), 9.0, 10.5, None, 1000.0)
    nan_volume = ("A", "2020-01-08", 10.0, 11.0, 9.0, 10.5, None, float("nan"))
    nan_close = ("B", "2020-01-06", None, None, None, float("nan"), None, None)
    con = _table(GOOD, inf_high, nan_volume, nan_close)
    assert _keys(price_quality.non_finite_or_non_positive(con)) == [
        ("A", "2020-01-07"),
        ("A", "2020-01-08"),
        ("B", "2020-01-06"),
    ]


@pytest.mark.parametrize(
    "ohlc",
    [
        (10.0, 9.0, 11.0, 10.0),
        (10.0, 11.0, 9.0, 11.5),
        (10.0, 11.0, 9.0, 8.5),
        (12.0, 11.0, 9.0, 10.0),
    ],
    ids=["high_below_low", "close_above_high", "close_below_low", "open_above_high"],
)
def test_a_bar_outside_its_own_range_is_inconsistent(ohlc):
    con = _table(GOOD, ("A", "2020-01-07", *ohlc, None, 1.0))
    assert _keys(price_quality.inconsistent_bars(con)) == [("A", "2020-01-07")]


def test_weekend_dates_and_dates_after_ingestion_are_invalid():
    saturday = ("A", "2020-01-04", None, None, None, 10.0, None, None)
    after_ingestion = ("A", "2020-02-03", None, None, None, 10.0, None, None)  # ingested 01-31
    con = _table(GOOD, saturday, after_ingestion)
    assert _keys(price_quality.invalid_dates(con)) == [("A", "2020-01-04"), ("A", "2020-02-03")]


def test_tickers_not_matching_the_pattern_are_malformed():
    con = _table(GOOD, ("aapl", "2020-01-06", None, None, None, 1.0, None, None))
    assert _keys(price_quality.malformed_tickers(con)) == [("aapl", "2020-01-06")]


def test_a_repeated_key_is_found_in_a_table_without_the_primary_key():
    con = _table(
        GOOD, GOOD, ("B", "2020-01-06", None, None, None, 5.0, None, None), primary_key=False
    )
    count, examples = price_quality.duplicate_keys(con)
    assert count == 1 and examples["rows"].tolist() == [2]


def test_the_validated_write_path_produces_no_contract_break():
    frame = pd.DataFrame(
        {
            "ticker": ["A", "A"],
            "date": pd.to_datetime(["2020-01-06", "2020-01-07"]),
            "open": [10.0, float("nan")],
            "high": [11.0, float("nan")],
            "low": [9.0, float("nan")],
            "close": [10.5, 10.6],
            "adj_close": [float("nan"), float("nan")],
            "volume": [1000.0, float("nan")],
            "source": ["hand", "hand"],
        }
    )
    con = duckdb.connect()
    create_schema(con)
    upsert_prices(con, frame)  # NaN (missing) lands as NULL, which no contract check flags
    assert price_quality.non_finite_or_non_positive(con)[0] == 0
    assert price_quality.inconsistent_bars(con)[0] == 0


# --- in a run: a failed blocking check stops downstream ---------------------------------------


@asset(deps=[prices])
def downstream_of_prices() -> MaterializeResult:
    return MaterializeResult(metadata={"ran": True})


def _run(project):
    return materialize(
        [prices, *price_checks, downstream_of_prices],
        instance=project.instance,
        resources=project.resources(),
        run_config=QUIET,
        raise_on_error=False,
    )


def _materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def test_a_planted_bad_row_fails_its_blocking_check_and_stops_downstream(project, shared_data):
    write_real_ticker_files(shared_data, project.raw, ["AAPL"])
    project.ingest_files(["AAPL"])

    clean = _run(project)
    clean_checks = {e.check_name: e for e in clean.get_asset_check_evaluations()}
    assert all(clean_checks[name].passed for name in BLOCKING)
    assert "downstream_of_prices" in _materialized(clean)

    con = duckdb.connect(str(project.warehouse_path))
    try:  # a hand edit that skips validation: high below low on one real bar
        con.execute("UPDATE prices SET high = low * 0.5 WHERE date = DATE '2017-06-01'")
    finally:
        con.close()
    bad = _run(project)

    checks = {e.check_name: e for e in bad.get_asset_check_evaluations()}
    broken = checks["inconsistent_bars"]
    assert not broken.passed and broken.severity == AssetCheckSeverity.ERROR
    assert broken.metadata["count"].value == 1
    assert "2017-06-01" in broken.metadata["examples"].value
    assert all(checks[name].passed for name in BLOCKING - {"inconsistent_bars"})
    assert "prices" in _materialized(bad)
    assert "downstream_of_prices" not in _materialized(bad)


def _closes(ticker: str, closes: list[float]) -> list[tuple]:
    days = pd.bdate_range("2020-01-06", periods=len(closes))
    return [
        (ticker, str(d.date()), None, None, None, c, None, 1000.0)
        for d, c in zip(days, closes, strict=True)
    ]


def test_a_bad_tick_is_an_unexplained_jump_but_a_crash_that_stays_is_not():
    # A: a misplaced decimal on 2020-01-08 that the next day undoes; B: a -56 % day that stays.
    con = _table(
        *_closes("A", [10.0, 10.2, 102.0, 10.3, 10.1]), *_closes("B", [10.0, 10.2, 4.5, 4.4])
    )
    assert _keys(price_quality.reverting_ticks(con)) == [("A", "2020-01-08")]
    assert _keys(price_quality.large_moves(con)) == [
        ("A", "2020-01-08"),
        ("A", "2020-01-09"),
        ("B", "2020-01-08"),
    ]
