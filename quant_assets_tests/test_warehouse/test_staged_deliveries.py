"""The streamed path of ``price_files`` writes exactly what the in-memory path writes.

Streamed: each file read in blocks of a few lines (``price_file_streams(..., chunk_rows=2)``),
every block staged in DuckDB and the delivery applied in SQL in groups of a few rows
(:data:`~quant_assets.warehouse.deliveries.APPLY_GROUP_ROWS`). In memory: the whole file read
at once (``read_price_files``) and applied from one DataFrame (``store_price_files``). Both
run on real rows made hostile: text tickers in odd case and spacing under a generic file
name, rows out of order, an exact and a conflicting duplicate split across blocks, bad
values, blank lines, a second file conflicting with the first on one day, then a
re-delivery that corrects one row and drops another. Every table must come out equal.
"""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import pandas as pd
import pytest

import quant_assets.warehouse.deliveries as deliveries
from quant_assets.ingest import iter_validated_chunks
from quant_assets.ingest.batches import price_file_streams, read_price_files
from quant_assets.resources.warehouse import Warehouse
from quant_assets.warehouse.prices import store_price_files
from quant_assets.warehouse.staging import store_price_file_streams

TICKERS = ("AAL", "AAPL", "ABBV")
TABLES = {
    "prices": "ticker, date",
    "delivered_prices": "ticker, date, feed",
    "rejected_rows": "source, location",
    "price_revisions": "ticker, date, kind, old_source",
    "raw_files": "path",
}
TIMESTAMPS = {"ingested_at", "delivered_at", "revised_at"}


def _real_lines(shared_data: Path) -> dict[str, list[str]]:
    """The first 8 lines of each of :data:`TICKERS` in the S&P 500 file, as written."""
    found: dict[str, list[str]] = {t: [] for t in TICKERS}
    with gzip.open(shared_data / "sp500_5yr_2013_2018.csv.gz", "rt") as handle:
        next(handle)
        for line in itertools.islice(handle, 8000):
            ticker = line.split(",")[1]
            if ticker in found and len(found[ticker]) < 8:
                found[ticker].append(line.rstrip("\n"))
    return found


def _hostile_export(lines: dict[str, list[str]], version: int) -> str:
    """A generic ``export.csv``: tickers as text in odd case, rows interleaved out of order,
    duplicates far apart, a bad value, blank lines; version 2 corrects and drops a row."""
    rows = [r for pair in itertools.zip_longest(*lines.values()) for r in pair if r]
    rows = rows[::-1]  # newest first
    rows = [r.replace(",AAPL,", ",  aapl ,") for r in rows]
    first, conflicting = rows[0], rows[1].rsplit(",", 2)
    rows.append(first)  # an exact duplicate, many blocks after its twin
    rows.append(f"{conflicting[0]},{float(conflicting[1]) + 1},{conflicting[2]}")
    rows.insert(5, rows[5].rsplit(",", 2)[0] + ",inf,100")  # a non-finite close
    rows.insert(7, "")
    if version == 2:
        date, ticker, *values = rows[4].split(",")  # an AAPL row (ABBV has a second source)
        values[4] = str(int(values[4]) + 7)  # a correction of the volume
        rows[4] = ",".join([date, ticker, *values])
        del rows[9]  # a retraction
    return "date,ticker,open,high,low,close,volume\n" + "\n".join(rows) + "\n\n"


def _second_source(lines: dict[str, list[str]]) -> str:
    """``ABBV.csv`` with the ABBV rows, one volume changed: a source conflict on that day."""
    rows = [",".join(r.split(",")[i] for i in (0, 2, 3, 4, 5, 6)) for r in lines["ABBV"]]
    date, o, h, low, close, volume = rows[2].split(",")
    rows[2] = ",".join([date, o, h, low, close, str(int(volume) + 1000)])
    return "date,open,high,low,close,volume\n" + "\n".join(rows) + "\n"


def _tables(warehouse: Warehouse) -> dict[str, pd.DataFrame]:
    with warehouse.connect(read_only=True) as con:
        out = {}
        for table, order in TABLES.items():
            frame = con.execute(f"SELECT * FROM {table} ORDER BY {order}").df()
            out[table] = frame.drop(columns=[c for c in frame.columns if c in TIMESTAMPS])
    return out


def _in_memory(warehouse: Warehouse, files, scope, priority) -> object:
    read = read_price_files(files, scope)
    with warehouse.transaction() as con:
        return store_price_files(
            con, read.files, scope=sorted(scope), source_priority=priority, run_id="r"
        )


def _streamed(warehouse: Warehouse, files, scope, priority) -> object:
    streams = price_file_streams(files, scope, chunk_rows=2)
    with warehouse.connect() as con:  # each file commits on its own
        return store_price_file_streams(
            con, streams, scope=sorted(scope), source_priority=priority, run_id="r"
        )


@pytest.mark.parametrize("priority", [(), ("raw/ABBV",)], ids=["no_priority", "file_ranked"])
def test_streamed_blocks_write_exactly_what_the_in_memory_path_writes(
    tmp_path, shared_data, monkeypatch, priority
):
    monkeypatch.setattr(deliveries, "APPLY_GROUP_ROWS", 3)  # several groups per delivery
    lines = _real_lines(shared_data)
    raw = tmp_path / "raw"
    raw.mkdir()
    export, second = raw / "export.csv", raw / "ABBV.csv"
    export.write_text(_hostile_export(lines, 1))
    second.write_text(_second_source(lines))
    assert len(list(iter_validated_chunks(export, rows=2))) > 10
    files = [("raw/export.csv", export), ("raw/ABBV.csv", second)]
    scope = set(TICKERS)
    old = Warehouse(path=str(tmp_path / "in_memory.duckdb"))
    new = Warehouse(path=str(tmp_path / "streamed.duckdb"))

    results = []
    for version in (1, 2):  # a first delivery, then a correction and a deletion
        export.write_text(_hostile_export(lines, version))
        results.append(
            (_in_memory(old, files, scope, priority), _streamed(new, files, scope, priority))
        )
        for table, frame in _tables(old).items():
            pd.testing.assert_frame_equal(frame, _tables(new)[table], obj=f"{table} v{version}")

    for in_memory, streamed in results:
        assert streamed.counts == in_memory.counts
        pd.testing.assert_frame_equal(streamed.first_affected, in_memory.first_affected)
    stored = _tables(new)
    rules = set(stored["rejected_rows"]["rule"])
    assert {"duplicate_exact", "duplicate_conflict", "non_finite"} <= rules
    assert ("source_conflict" in rules) == (priority == ())
    kinds = set(stored["price_revisions"]["kind"])
    assert {"correction", "retraction"} <= kinds
    assert set(stored["prices"]["ticker"]) == set(TICKERS)
    # The rerun of the same files changes nothing on either path.
    again = _streamed(new, files, scope, priority)
    assert again.counts.prices_changed == 0 and again.first_affected.empty
    # No primary key on prices / delivered_prices: the delivery SQL alone keeps keys unique.
    for warehouse in (old, new):
        again = _in_memory(warehouse, files, scope, priority)
        with warehouse.connect(read_only=True) as con:
            for table, key in (
                ("prices", "ticker, date"),
                ("delivered_prices", "ticker, date, feed"),
            ):
                repeated = f"SELECT count(*) FROM (SELECT {key} FROM {table} GROUP BY ALL HAVING count(*) > 1)"
                assert con.execute(repeated).fetchone()[0] == 0, table
