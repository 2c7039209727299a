"""apply_delivery on a real DuckDB file: merges, corrections, retractions, conflicts, priority.

Each test writes a few hand-made rows (synthetic on purpose: the answers are checked by hand)
and reads back ``prices``, ``price_revisions`` and ``rejected_rows``; the last test replays a
real FMP payload twice and once corrected.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from quant_assets.ingest import fmp_payload_to_raw, validate_prices
from quant_assets.resources.warehouse import Warehouse
from quant_assets.warehouse.deliveries import affected_days, apply_delivery, feed_of
from quant_assets.warehouse.prices import upsert_prices

FILE_A = "raw/aapl.csv"
FILE_B = "raw/vendor_b/aapl.csv"
FMP = "fmp/stable/AAPL/2024-01-02_2024-01-05"


def bars(source: str, closes: dict[str, float], ticker: str = "AAPL", **extra) -> pd.DataFrame:
    """Close-only rows ``{date: close}`` of one source; ``extra`` sets other columns."""
    dates = pd.to_datetime(list(closes))
    frame = pd.DataFrame(
        {
            "ticker": ticker,
            "date": dates,
            "open": np.nan,
            "high": np.nan,
            "low": np.nan,
            "close": list(closes.values()),
            "adj_close": np.nan,
            "volume": 1000.0,
            "source": source,
        }
    )
    return frame.assign(**extra)


def deliver(warehouse: Warehouse, rows: pd.DataFrame, source: str, **kwargs):
    with warehouse.transaction() as con:
        return apply_delivery(con, rows, source=source, **{"full_delivery": False, **kwargs})


def query(warehouse: Warehouse, sql: str) -> list[tuple]:
    with warehouse.connect(read_only=True) as con:
        return con.execute(sql).fetchall()


def stored(warehouse: Warehouse) -> list[tuple]:
    return query(
        warehouse,
        "SELECT ticker, strftime(date, '%Y-%m-%d'), close, source FROM prices ORDER BY 1, 2",
    )


def revisions(warehouse: Warehouse) -> list[tuple]:
    return query(
        warehouse,
        "SELECT strftime(date, '%Y-%m-%d'), kind, old_close, new_close, old_source, new_source, "
        "dagster_run_id FROM price_revisions ORDER BY date, kind, old_source",
    )


def test_feed_of_names_fmp_as_one_feed_and_each_file_as_its_own():
    assert feed_of("fmp/stable/AAPL/2024-01-02_2024-01-05") == "fmp"
    assert feed_of("fmp:eod-bulk:2024-01-02") == "fmp"
    assert feed_of("raw/aapl.csv") == "raw/aapl.csv"
    assert feed_of("raw/fmpx.csv") == "raw/fmpx.csv"


def test_first_delivery_inserts_every_row(warehouse):
    result = deliver(warehouse, bars(FILE_A, {"2024-01-02": 10.0, "2024-01-03": 11.0}), FILE_A)
    assert (result.counts.inserted, result.counts.unchanged, result.counts.prices_changed) == (
        2,
        0,
        2,
    )
    assert stored(warehouse) == [
        ("AAPL", "2024-01-02", 10.0, FILE_A),
        ("AAPL", "2024-01-03", 11.0, FILE_A),
    ]
    assert result.first_affected_dates() == {"AAPL": dt.date(2024, 1, 2)}
    assert revisions(warehouse) == []


def test_same_delivery_twice_changes_nothing(warehouse):
    rows = bars(FILE_A, {"2024-01-02": 10.0, "2024-01-03": 11.0})
    deliver(warehouse, rows, FILE_A, full_delivery=True)
    with warehouse.connect(read_only=True) as con:
        before = con.execute("SELECT * FROM prices ORDER BY date").df()
    again = deliver(warehouse, rows, FILE_A, full_delivery=True)
    assert again.counts.unchanged == 2
    assert (again.counts.inserted, again.counts.corrected, again.counts.retracted) == (0, 0, 0)
    assert again.first_affected.empty
    with warehouse.connect(read_only=True) as con:
        pd.testing.assert_frame_equal(
            con.execute("SELECT * FROM prices ORDER BY date").df(), before
        )
    assert revisions(warehouse) == []


def test_identical_row_from_another_source_merges(warehouse):
    deliver(warehouse, bars(FILE_A, {"2024-01-02": 10.0}), FILE_A)
    result = deliver(warehouse, bars(FMP, {"2024-01-02": 10.0}), FMP)
    assert result.counts.inserted == 1  # new to the FMP feed
    assert result.counts.prices_changed == 0 and result.counts.conflicts == 0
    assert stored(warehouse) == [("AAPL", "2024-01-02", 10.0, FILE_A)]
    assert query(warehouse, "SELECT count(*) FROM rejected_rows") == [(0,)]


def test_missing_value_in_one_source_does_not_conflict(warehouse):
    deliver(warehouse, bars(FILE_A, {"2024-01-02": 10.0}), FILE_A)
    result = deliver(warehouse, bars(FMP, {"2024-01-02": 10.0}, adj_close=9.5), FMP)
    assert result.counts.conflicts == 0
    assert stored(warehouse) == [("AAPL", "2024-01-02", 10.0, FILE_A)]


def test_same_source_correction_replaces_row_and_keeps_old_in_history(warehouse):
    deliver(warehouse, bars(FILE_A, {"2024-01-02": 10.0, "2024-01-03": 11.0}), FILE_A)
    fixed = bars(FILE_A, {"2024-01-02": 10.0, "2024-01-03": 11.5})
    result = deliver(warehouse, fixed, FILE_A, run_id="run-2")
    assert (result.counts.corrected, result.counts.unchanged) == (1, 1)
    assert stored(warehouse)[1] == ("AAPL", "2024-01-03", 11.5, FILE_A)
    assert revisions(warehouse) == [
        ("2024-01-03", "correction", 11.0, 11.5, FILE_A, FILE_A, "run-2")
    ]
    assert result.first_affected_dates() == {"AAPL": dt.date(2024, 1, 3)}


def test_fmp_refetch_in_another_window_is_the_same_source(warehouse):
    deliver(warehouse, bars(FMP, {"2024-01-02": 10.0}), FMP)
    later = "fmp/stable/AAPL/2024-01-02_2024-01-10"
    result = deliver(warehouse, bars(later, {"2024-01-02": 10.25}), later)
    assert result.counts.corrected == 1 and result.counts.conflicts == 0
    assert revisions(warehouse) == [("2024-01-02", "correction", 10.0, 10.25, FMP, later, None)]


def test_full_delivery_retracts_rows_it_no_longer_holds(warehouse):
    deliver(
        warehouse,
        bars(FILE_A, {"2024-01-02": 10.0, "2024-01-03": 11.0, "2024-01-04": 12.0}),
        FILE_A,
    )
    result = deliver(
        warehouse,
        bars(FILE_A, {"2024-01-02": 10.0, "2024-01-04": 12.0}),
        FILE_A,
        full_delivery=True,
    )
    assert result.counts.retracted == 1
    assert [r[1] for r in stored(warehouse)] == ["2024-01-02", "2024-01-04"]
    assert revisions(warehouse) == [("2024-01-03", "retraction", 11.0, None, FILE_A, None, None)]
    assert result.first_affected_dates() == {"AAPL": dt.date(2024, 1, 3)}


def test_partial_delivery_retracts_nothing(warehouse):
    deliver(warehouse, bars(FILE_A, {"2024-01-02": 10.0, "2024-01-03": 11.0}), FILE_A)
    result = deliver(warehouse, bars(FILE_A, {"2024-01-02": 10.0}), FILE_A, full_delivery=False)
    assert result.counts.retracted == 0 and len(stored(warehouse)) == 2


def test_full_delivery_retracts_only_what_it_covers(warehouse):
    two = pd.concat(
        [bars(FILE_A, {"2024-01-02": 10.0}), bars(FILE_A, {"2024-01-02": 50.0}, "MSFT")]
    )
    deliver(warehouse, two, FILE_A)
    deliver(warehouse, bars(FMP, {"2024-01-03": 11.0}), FMP)
    # A run for the AAPL partition only: MSFT is not covered; another feed is never retracted.
    result = deliver(
        warehouse,
        bars(FILE_A, {"2024-01-02": 10.0}).iloc[:0],
        FILE_A,
        full_delivery=True,
        covered_tickers=["AAPL"],
    )
    assert result.counts.retracted == 1
    assert stored(warehouse) == [
        ("AAPL", "2024-01-03", 11.0, FMP),
        ("MSFT", "2024-01-02", 50.0, FILE_A),
    ]


def test_fmp_full_delivery_retracts_within_its_window_only(warehouse):
    deliver(warehouse, bars(FMP, {"2024-01-02": 10.0, "2024-01-03": 11.0, "2024-01-08": 12.0}), FMP)
    result = deliver(
        warehouse,
        bars(FMP, {"2024-01-02": 10.0}),
        FMP,
        full_delivery=True,
        covered_tickers=["AAPL"],
        covered_dates=(dt.date(2024, 1, 2), dt.date(2024, 1, 5)),
    )
    assert result.counts.retracted == 1
    assert [r[1] for r in stored(warehouse)] == ["2024-01-02", "2024-01-08"]


def test_retraction_falls_back_to_another_source_that_holds_the_row(warehouse):
    deliver(warehouse, bars(FILE_A, {"2024-01-02": 10.0}), FILE_A)
    deliver(warehouse, bars(FMP, {"2024-01-02": 10.0}), FMP)
    result = deliver(warehouse, bars(FILE_A, {}).iloc[:0], FILE_A, full_delivery=True)
    assert result.counts.retracted == 1
    assert stored(warehouse) == [("AAPL", "2024-01-02", 10.0, FMP)]  # FMP still backs it
    assert revisions(warehouse) == []  # the value did not change


def test_conflicting_sources_are_both_quarantined_and_the_price_withdrawn(warehouse):
    deliver(warehouse, bars(FILE_A, {"2024-01-02": 10.0, "2024-01-03": 11.0}), FILE_A)
    result = deliver(warehouse, bars(FILE_B, {"2024-01-02": 10.0, "2024-01-03": 12.0}), FILE_B)
    assert result.counts.conflicts == 1
    assert stored(warehouse) == [("AAPL", "2024-01-02", 10.0, FILE_A)]
    quarantined = query(
        warehouse,
        "SELECT source, location, ticker, date, rule, reason FROM rejected_rows ORDER BY 1",
    )
    reason = (
        "AAPL 2024-01-03: sources disagree, none kept: "
        "raw/aapl.csv (close 11.0) vs raw/vendor_b/aapl.csv (close 12.0)"
    )
    location = "source_conflict AAPL 2024-01-03"
    assert quarantined == [
        (FILE_A, location, "AAPL", "2024-01-03", "source_conflict", reason),
        (FILE_B, location, "AAPL", "2024-01-03", "source_conflict", reason),
    ]
    assert revisions(warehouse) == [
        ("2024-01-03", "source_conflict", 11.0, None, FILE_A, None, None)
    ]
    assert result.first_affected_dates() == {"AAPL": dt.date(2024, 1, 3)}


def test_conflict_stays_when_one_side_is_redelivered_unchanged(warehouse):
    deliver(warehouse, bars(FILE_A, {"2024-01-03": 11.0}), FILE_A)
    deliver(warehouse, bars(FILE_B, {"2024-01-03": 12.0}), FILE_B)
    deliver(warehouse, bars(FILE_A, {"2024-01-03": 11.0}), FILE_A)
    assert stored(warehouse) == []
    assert query(
        warehouse, "SELECT count(*) FROM rejected_rows WHERE rule = 'source_conflict'"
    ) == [(2,)]


def test_conflict_resolves_when_a_source_corrects_its_row(warehouse):
    deliver(warehouse, bars(FILE_A, {"2024-01-03": 11.0}), FILE_A)
    deliver(warehouse, bars(FILE_B, {"2024-01-03": 12.0}), FILE_B)
    result = deliver(warehouse, bars(FILE_B, {"2024-01-03": 11.0}), FILE_B)
    assert result.counts.conflicts == 0
    assert stored(warehouse) == [("AAPL", "2024-01-03", 11.0, FILE_A)]
    assert query(warehouse, "SELECT count(*) FROM rejected_rows") == [(0,)]


def test_priority_lets_the_higher_source_replace_a_stored_row(warehouse):
    deliver(warehouse, bars(FILE_A, {"2024-01-03": 11.0}), FILE_A)
    result = deliver(
        warehouse, bars(FMP, {"2024-01-03": 11.2}), FMP, source_priority=("fmp", "csv")
    )
    assert result.counts.conflicts == 0
    assert stored(warehouse) == [("AAPL", "2024-01-03", 11.2, FMP)]
    assert revisions(warehouse) == [
        ("2024-01-03", "source_priority", 11.0, 11.2, FILE_A, FMP, None)
    ]
    assert query(warehouse, "SELECT count(*) FROM rejected_rows") == [(0,)]


def test_priority_keeps_the_higher_source_against_a_lower_newcomer(warehouse):
    deliver(warehouse, bars(FMP, {"2024-01-03": 11.2}), FMP)
    result = deliver(
        warehouse, bars(FILE_A, {"2024-01-03": 11.0}), FILE_A, source_priority=("fmp", "file")
    )
    assert result.first_affected.empty
    assert stored(warehouse) == [("AAPL", "2024-01-03", 11.2, FMP)]
    assert revisions(warehouse) == [
        ("2024-01-03", "source_priority", 11.0, 11.2, FILE_A, FMP, None)
    ]


def test_priority_by_path_prefix_ranks_one_vendor_over_another(warehouse):
    deliver(warehouse, bars(FILE_A, {"2024-01-03": 11.0}), FILE_A)
    deliver(
        warehouse, bars(FILE_B, {"2024-01-03": 12.0}), FILE_B, source_priority=("raw/vendor_b/",)
    )
    assert stored(warehouse) == [("AAPL", "2024-01-03", 12.0, FILE_B)]


def test_priority_among_unranked_sources_still_conflicts(warehouse):
    deliver(warehouse, bars(FILE_A, {"2024-01-03": 11.0}), FILE_A)
    result = deliver(
        warehouse, bars(FILE_B, {"2024-01-03": 12.0}), FILE_B, source_priority=("fmp",)
    )
    assert result.counts.conflicts == 1 and stored(warehouse) == []


def test_rows_stored_by_the_old_upsert_are_adopted_as_their_feed(warehouse):
    with warehouse.transaction() as con:
        upsert_prices(con, bars(FILE_A, {"2024-01-02": 10.0, "2024-01-03": 11.0}))
    result = deliver(warehouse, bars(FILE_A, {"2024-01-02": 10.0}), FILE_A, full_delivery=True)
    assert (result.counts.unchanged, result.counts.retracted) == (1, 1)
    assert [r[1] for r in stored(warehouse)] == ["2024-01-02"]


def test_rows_of_another_feed_in_one_delivery_are_refused(warehouse):
    rows = pd.concat([bars(FILE_A, {"2024-01-02": 10.0}), bars(FMP, {"2024-01-03": 10.0})])
    with pytest.raises(ValueError, match="other feeds"):
        deliver(warehouse, rows, FILE_A)
    assert stored(warehouse) == []


def test_affected_days_reads_inserts_changes_and_withdrawals_since_a_moment(warehouse):
    deliver(
        warehouse,
        bars(FILE_A, {"2024-01-02": 10.0, "2024-01-03": 11.0, "2024-01-04": 12.0}),
        FILE_A,
    )
    deliver(warehouse, bars(FILE_A, {"2024-01-02": 10.0}, "MSFT"), FILE_A)
    with warehouse.connect(read_only=True) as con:
        since = con.execute("SELECT now()::TIMESTAMP").fetchone()[0]
    deliver(
        warehouse,
        bars(FILE_A, {"2024-01-02": 10.0, "2024-01-04": 12.5}),
        FILE_A,
        full_delivery=True,
        covered_tickers=["AAPL"],
    )
    with warehouse.connect(read_only=True) as con:
        days = affected_days(con, since)
    assert days["ticker"].tolist() == ["AAPL"]
    assert days["first_date"].dt.date.tolist() == [dt.date(2024, 1, 3)]


def test_real_fmp_payload_redelivered_and_corrected(warehouse, shared_data):
    path = shared_data / "fmp" / "aapl_v3_historical-price-full_2023-01-01_2023-01-10.json"
    payload = json.loads(path.read_text())
    source = "fmp/v3/AAPL/2023-01-01_2023-01-10"

    def rows_of(p):
        valid, rejected = validate_prices(fmp_payload_to_raw(p, source=source))
        assert rejected.empty
        return valid

    first = deliver(warehouse, rows_of(payload), source, full_delivery=True)
    assert first.counts.inserted == 6
    assert deliver(warehouse, rows_of(payload), source, full_delivery=True).counts.unchanged == 6
    corrected = json.loads(path.read_text())
    newest = corrected["historical"][0]  # newest first: 2023-01-10
    newest["close"] = newest["low"]
    dropped = corrected["historical"].pop(-1)  # oldest: 2023-01-03
    result = deliver(warehouse, rows_of(corrected), source, full_delivery=True)
    assert (result.counts.corrected, result.counts.retracted, result.counts.unchanged) == (1, 1, 4)
    kinds = [(r[0], r[1]) for r in revisions(warehouse)]
    assert kinds == [(dropped["date"], "retraction"), ("2023-01-10", "correction")]
