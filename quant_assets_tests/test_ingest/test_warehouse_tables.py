"""The warehouse tables on each backend: idempotent upserts, quarantine, instruments, rollback;
CHECK constraints and the file lock on the DuckDB file (DuckLake has neither).

Rows are AAPL's and MSFT's real bars of early January 2023, read through ``read_prices`` so that
what is written is what the ingestion writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import quant_assets.resources.warehouse as warehouse_module
from quant_assets.ingest import read_prices
from quant_assets.resources.warehouse import Warehouse
from quant_assets.warehouse.prices import (
    UpsertCounts,
    ingested_hashes,
    record_raw_file,
    refresh_instruments,
    replace_rejections,
    upsert_prices,
)
from quant_assets_tests.test_faults.processes import WarehouseLockHolder
from quant_assets_tests.test_warehouse.conftest import BACKENDS, warehouse_on

AS_OF = dt.date(2024, 1, 2)
HEADER = "date,ticker,open,high,low,close,adj_close,volume\n"
AAPL_ROWS = (
    "2023-01-03,AAPL,130.28,130.9,124.17,125.07,124.54,112117500\n"
    "2023-01-04,AAPL,126.89,128.66,125.08,126.36,125.82,89113600\n"
    "2023-01-05,AAPL,127.13,127.77,124.76,125.02,,80962700\n"
)
MSFT_ROWS = "2023-01-03,MSFT,243.08,245.75,237.4,239.58,,25740000\n"


@pytest.fixture(params=BACKENDS)
def warehouse(request, tmp_path: Path) -> Warehouse:
    return warehouse_on(request.param, tmp_path, lock_timeout_s=1.0)


@pytest.fixture
def file_warehouse(tmp_path: Path) -> Warehouse:
    """The DuckDB-file backend: CHECK constraints and a file lock are its own."""
    return warehouse_on("duckdb", tmp_path, lock_timeout_s=1.0)


@pytest.fixture
def read_csv(write_file):
    """``read_csv(name, rows)`` -> ``(valid, rejected)`` of ``HEADER + rows`` in ``name``."""

    def read(name: str, rows: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        return read_prices(write_file(name, HEADER + rows), as_of=AS_OF)

    return read


def _table(warehouse: Warehouse, name: str) -> pd.DataFrame:
    with warehouse.connect(read_only=True) as con:
        return con.execute(f"SELECT * FROM {name} ORDER BY ALL").df()


def _upsert(warehouse: Warehouse, valid: pd.DataFrame) -> UpsertCounts:
    with warehouse.transaction() as con:
        return upsert_prices(con, valid)


# --- prices -----------------------------------------------------------------------------------


def test_first_upsert_inserts_every_row(warehouse, read_csv):
    valid, _ = read_csv("aapl.csv", AAPL_ROWS)
    assert _upsert(warehouse, valid) == UpsertCounts(inserted=3, updated=0, unchanged=0)
    prices = _table(warehouse, "prices")
    assert prices["close"].tolist() == [125.07, 126.36, 125.02]
    assert prices["adj_close"].isna().tolist() == [False, False, True]


def test_same_input_twice_changes_nothing_not_even_ingested_at(warehouse, read_csv):
    valid, _ = read_csv("aapl.csv", AAPL_ROWS)
    _upsert(warehouse, valid)
    before = _table(warehouse, "prices")
    assert _upsert(warehouse, valid) == UpsertCounts(inserted=0, updated=0, unchanged=3)
    pd.testing.assert_frame_equal(_table(warehouse, "prices"), before)


def test_changed_value_updates_only_that_row(warehouse, read_csv):
    _upsert(warehouse, read_csv("aapl.csv", AAPL_ROWS)[0])
    before = _table(warehouse, "prices")
    revised, _ = read_csv("aapl.csv", AAPL_ROWS.replace("126.36,125.82", "126.37,125.82"))
    assert _upsert(warehouse, revised) == UpsertCounts(inserted=0, updated=1, unchanged=2)
    after = _table(warehouse, "prices")
    assert after["close"].tolist() == [125.07, 126.37, 125.02]
    untouched = [0, 2]
    pd.testing.assert_frame_equal(after.iloc[untouched], before.iloc[untouched])


def test_new_and_known_rows_are_counted_apart(warehouse, read_csv):
    _upsert(warehouse, read_csv("aapl.csv", AAPL_ROWS)[0])
    both, _ = read_csv("both.csv", AAPL_ROWS + MSFT_ROWS)
    assert _upsert(warehouse, both) == UpsertCounts(inserted=1, updated=0, unchanged=3)


def test_empty_input_is_a_no_op(warehouse, read_csv):
    valid, _ = read_csv("empty.csv", "")
    assert _upsert(warehouse, valid) == UpsertCounts(0, 0, 0)


def test_check_constraint_refuses_a_negative_close_written_without_validation(file_warehouse, read_csv):
    _upsert(file_warehouse, read_csv("aapl.csv", AAPL_ROWS)[0])
    before = _table(file_warehouse, "prices")
    bad, _ = read_csv("msft.csv", MSFT_ROWS)
    bad["close"] = -239.58
    with pytest.raises(duckdb.ConstraintException, match="close"):
        _upsert(file_warehouse, bad)
    pd.testing.assert_frame_equal(_table(file_warehouse, "prices"), before)


def test_check_constraint_refuses_negative_volume_in_plain_sql(file_warehouse):
    with file_warehouse.connect() as con, pytest.raises(duckdb.ConstraintException, match="volume"):
        con.execute(
            "INSERT INTO prices VALUES ('AAPL', DATE '2023-01-03', NULL, NULL, NULL, 125.07, "
            "NULL, -1, 'manual', now()::TIMESTAMP)"
        )


# --- transactions -----------------------------------------------------------------------------


def test_failure_inside_a_transaction_rolls_back_every_table(warehouse, read_csv):
    _upsert(warehouse, read_csv("aapl.csv", AAPL_ROWS)[0])
    before = {t: _table(warehouse, t) for t in ("prices", "rejected_rows", "raw_files")}
    valid, rejected = read_csv(
        "both.csv", AAPL_ROWS.replace("126.36", "126.5") + MSFT_ROWS + "2023-01-07,MSFT,,,,1,,\n"
    )
    with pytest.raises(RuntimeError, match="crash after writing"), warehouse.transaction() as con:
        upsert_prices(con, valid)
        replace_rejections(con, "both.csv", rejected)
        record_raw_file(
            con,
            path="both.csv",
            sha256="0" * 64,
            size_bytes=1,
            layout="long",
            rows_read=5,
            rows_valid=4,
            rows_rejected=1,
            tickers=["AAPL", "MSFT"],
        )
        raise RuntimeError("crash after writing")
    for table, frame in before.items():
        pd.testing.assert_frame_equal(_table(warehouse, table), frame, obj=table)


# --- quarantine, manifest, instruments --------------------------------------------------------


def test_replace_rejections_drops_rows_fixed_in_the_new_version_of_a_file(warehouse, read_csv):
    broken = "2023-01-07,AAPL,,,,129.62,,\n2023-01-09,AAPL,,,,-130.15,,\n"
    _, first = read_csv("aapl.csv", AAPL_ROWS + broken)
    _, other = read_csv("msft.csv", "2023-01-08,MSFT,,,,1,,\n")
    with warehouse.transaction() as con:
        replace_rejections(con, "raw/aapl.csv", first.assign(source="raw/aapl.csv"))
        replace_rejections(con, "raw/msft.csv", other.assign(source="raw/msft.csv"))
    _, second = read_csv("aapl.csv", AAPL_ROWS + broken.replace("-130.15", "130.15"))
    with warehouse.transaction() as con:
        replace_rejections(con, "raw/aapl.csv", second.assign(source="raw/aapl.csv"))
    left = _table(warehouse, "rejected_rows")
    assert left[["source", "location", "rule"]].values.tolist() == [
        ["raw/aapl.csv", "line 5", "date_on_weekend"],
        ["raw/msft.csv", "line 2", "date_on_weekend"],
    ]


def test_replace_rejections_with_nothing_clears_the_source(warehouse, read_csv):
    _, rejected = read_csv("aapl.csv", "2023-01-07,AAPL,,,,129.62,,\n")
    with warehouse.transaction() as con:
        replace_rejections(con, "raw/aapl.csv", rejected.assign(source="raw/aapl.csv"))
        replace_rejections(con, "raw/aapl.csv", rejected.iloc[:0])
    assert _table(warehouse, "rejected_rows").empty


def test_raw_file_manifest_keeps_the_latest_hash_per_path(warehouse):
    manifest = {"size_bytes": 10, "layout": "long", "rows_read": 2, "rows_valid": 2}
    with warehouse.transaction() as con:
        record_raw_file(
            con, path="raw/a.csv", sha256="a1", rows_rejected=0, tickers=["A"], **manifest
        )
        record_raw_file(
            con, path="raw/a.csv", sha256="a2", rows_rejected=0, tickers=["A"], **manifest
        )
        record_raw_file(
            con, path="raw/b.csv", sha256="b1", rows_rejected=0, tickers=["B"], **manifest
        )
        assert ingested_hashes(con) == {"raw/a.csv": "a2", "raw/b.csv": "b1"}


def test_refresh_instruments_gives_range_count_and_sources_per_ticker(warehouse, read_csv):
    aapl, _ = read_csv("aapl.csv", AAPL_ROWS)
    later, _ = read_csv("later.csv", "2023-01-06,AAPL,,,,129.62,,\n" + MSFT_ROWS)
    with warehouse.transaction() as con:
        upsert_prices(con, aapl.assign(source="raw/aapl.csv"))
        upsert_prices(con, later.assign(source="raw/later.csv"))
        assert refresh_instruments(con) == 2
    instruments = _table(warehouse, "instruments")
    assert instruments.to_dict("records") == [
        {
            "ticker": "AAPL",
            "first_date": pd.Timestamp("2023-01-03"),
            "last_date": pd.Timestamp("2023-01-06"),
            "row_count": 4,
            "source": "raw/aapl.csv, raw/later.csv",
        },
        {
            "ticker": "MSFT",
            "first_date": pd.Timestamp("2023-01-03"),
            "last_date": pd.Timestamp("2023-01-03"),
            "row_count": 1,
            "source": "raw/later.csv",
        },
    ]


def test_read_only_connection_before_any_write_sees_empty_tables(warehouse):
    with warehouse.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM prices").fetchone() == (0,)


# --- the write lock held by another process ---------------------------------------------------


class _FakeClock:
    """Stands in for the ``time`` module of the warehouse: waits advance a counter, not a clock."""

    def __init__(self, on_sleep=None) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep()


@pytest.fixture
def lock_holder(file_warehouse, tmp_path) -> Iterator[WarehouseLockHolder]:
    with file_warehouse.connect():
        pass  # the schema exists before the other process takes the lock
    holder = WarehouseLockHolder(file_warehouse.path, tmp_path / "lock_holder.log")
    yield holder
    holder.stop()


def test_connect_waits_for_another_process_lock_and_then_succeeds(
    file_warehouse, lock_holder, monkeypatch
):
    clock = _FakeClock(on_sleep=lock_holder.release)
    monkeypatch.setattr(warehouse_module, "time", clock)
    with file_warehouse.connect() as con:
        assert con.execute("SELECT count(*) FROM prices").fetchone() == (0,)
    assert len(clock.sleeps) == 1


def test_connect_gives_up_after_lock_timeout(file_warehouse, lock_holder, monkeypatch):
    clock = _FakeClock()
    monkeypatch.setattr(warehouse_module, "time", clock)
    with pytest.raises(duckdb.IOException, match="lock"), file_warehouse.connect():
        pass
    assert len(clock.sleeps) > 1
    assert clock.now >= file_warehouse.lock_timeout_s


def test_connect_without_wait_raises_at_once_when_locked(file_warehouse, lock_holder, monkeypatch):
    clock = _FakeClock()
    monkeypatch.setattr(warehouse_module, "time", clock)
    with pytest.raises(duckdb.IOException, match="lock"), file_warehouse.connect(wait=False):
        pass
    assert clock.sleeps == []
