"""DuckLake with a real PostgreSQL catalog: two processes write at once, readers see snapshots.

Each writer process upserts the real bars of its own years (a date partition) inside one
transaction; both start together behind a barrier. Meanwhile this process reads the row count
again and again: every count it sees is a whole number of committed writes, never half of one.
"""

from __future__ import annotations

import multiprocessing

import pandas as pd
import pytest

from quant_assets.resources.warehouse import Warehouse
from quant_assets.warehouse.prices import upsert_prices

pytest.importorskip("duckdb_extension_ducklake", reason="pip install 'quant_assets[ducklake]'")
pytest.importorskip("duckdb_extension_postgres_scanner", reason="pip install 'quant_assets[ducklake]'")


def _write_partition(config: dict, rows: pd.DataFrame, barrier, results) -> None:
    warehouse = Warehouse(**config)
    with warehouse.connect():
        pass  # attached and the schema seen before the race starts
    barrier.wait(timeout=60)
    with warehouse.transaction() as con:
        counts = upsert_prices(con, rows)
    results.put((int(rows["date"].dt.year.min()), counts.inserted))


@pytest.fixture
def lake(postgres_database, tmp_path) -> Warehouse:
    return Warehouse(
        backend="ducklake", catalog=postgres_database, data_path=str(tmp_path / "files")
    )


def _count(warehouse: Warehouse) -> int:
    with warehouse.connect(read_only=True) as con:
        return con.execute("SELECT count(*) FROM prices").fetchone()[0]


def test_two_processes_upserting_different_years_both_land(lake, real_bars):
    parts = [
        real_bars[real_bars["date"].dt.year.isin(years)] for years in ([2014, 2015], [2016, 2017])
    ]
    assert _count(lake) == 0  # creates the schema in the PostgreSQL catalog
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(3), context.Queue()
    config = {"backend": "ducklake", "catalog": lake.catalog, "data_path": lake.data_path}
    writers = [
        context.Process(target=_write_partition, args=(config, part, barrier, results))
        for part in parts
    ]
    for writer in writers:
        writer.start()
    barrier.wait(timeout=120)
    whole = {0, len(parts[0]), len(parts[1]), len(real_bars)}
    seen = []
    while any(w.is_alive() for w in writers):
        seen.append(_count(lake))
    for writer in writers:
        writer.join(timeout=120)
        assert writer.exitcode == 0
    assert sorted(results.get(timeout=5) for _ in writers) == [
        (2014, len(parts[0])),
        (2016, len(parts[1])),
    ]
    assert set(seen) <= whole, f"a reader saw a partial write: {sorted(set(seen) - whole)}"
    with lake.connect(read_only=True) as con:
        stored = con.execute("SELECT ticker, date, close FROM prices ORDER BY ticker, date").df()
    expected = real_bars[["ticker", "date", "close"]].astype({"ticker": str})
    expected = expected.sort_values(["ticker", "date"])
    pd.testing.assert_frame_equal(
        stored.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False
    )


def test_a_reader_keeps_its_snapshot_while_a_writer_commits(lake, real_bars):
    first = real_bars[real_bars["date"].dt.year == 2014]
    later = real_bars[real_bars["date"].dt.year == 2015]
    with lake.transaction() as con:
        upsert_prices(con, first)
    with lake.connect(read_only=True) as reader:
        reader.execute("BEGIN TRANSACTION")
        before = reader.execute("SELECT count(*), max(date) FROM prices").fetchone()
        with lake.transaction() as con:
            upsert_prices(con, later)
        during = reader.execute("SELECT count(*), max(date) FROM prices").fetchone()
        reader.execute("COMMIT")
        after = reader.execute("SELECT count(*), max(date) FROM prices").fetchone()
    assert before == during == (len(first), first["date"].max().date())
    assert after == (len(first) + len(later), later["date"].max().date())
