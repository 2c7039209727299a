"""``kill -9`` in the middle of a warehouse write: the last committed state survives whole.

A child process ingests the real 619,040-row S&P 500 file (505 tickers, 12 rows that break
OHLC rules) the way ``price_files`` writes (one transaction: upsert, quarantine, manifest; see
:mod:`quant_assets_tests.test_faults.killable_ingest`) into a warehouse that already holds a
committed history: FMP's AAPL bars 2016-06-02..2021-06-02, whose dates overlap the file's
AAPL rows with other (split-adjusted) values, so the killed write was inserting *and*
updating. The parent waits for the child's marker line, sends ``SIGKILL``, reopens the
warehouse through the product's :class:`~quant_assets.resources.warehouse.Warehouse` (a write
connection, which replays DuckDB's write-ahead log as the next run would) and checks that:

* killed before ``COMMIT``, every statement of the transaction done and the new rows already
  in the database file, every table is exactly as before: none of the 619,028 valid rows,
  the 12 quarantined ones or the manifest entry;
* killed during ``COMMIT``, every table is exactly as before or exactly as after a complete
  write, never in between;
* the raw file is byte-for-byte unchanged;
* the rerun completes with every valid row of the file.

Both kills hit the same warehouse, one after the other, before a single rerun (the file takes
seconds to parse; one rerun keeps the suite fast).

An exception (rather than a kill) inside the transaction rolls back every table; that is
tested in ``quant_assets_tests/test_ingest/test_warehouse_tables.py::
test_failure_inside_a_transaction_rolls_back_every_table``.
"""

from __future__ import annotations

import os
import shutil
import signal

import duckdb
import pytest

from quant_assets.ingest import read_prices
from quant_assets.resources.raw_files import file_sha256
from quant_assets.resources.warehouse import Warehouse
from quant_assets.warehouse.prices import refresh_instruments, upsert_prices
from quant_assets_tests.test_faults.killable_ingest import ingest
from quant_assets_tests.test_faults.processes import DEADLINE_S, ChildProcess

FILE = "all_stocks_5yr.csv.gz"
SOURCE = f"raw/{FILE}"
VALID_ROWS, REJECTED_ROWS, TICKERS = 619_028, 12, 505
FMP_HISTORY = "aapl_historical_price_full_2016-06-02_2021-06-02.json"
# ingested_at of quarantined rows and of the manifest is rewritten by every ingestion.
COMPARED_TABLES = {"prices": (), "rejected_rows": ("ingested_at",), "raw_files": ("ingested_at",)}


def _fingerprint(con: duckdb.DuckDBPyConnection, table: str, skip: tuple[str, ...]) -> tuple:
    """(row count, order-independent hash of every row) of a table."""
    columns = [
        name
        for (name,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "ORDER BY ordinal_position",
            [table],
        ).fetchall()
        if name not in skip
    ]
    quoted = ", ".join(f'"{c}"' for c in columns)
    return con.execute(f"SELECT count(*), sum(hash({quoted})::HUGEINT) FROM {table}").fetchone()


def _state(warehouse: Warehouse) -> dict[str, tuple]:
    # A write connection, as the next run would open: DuckDB replays its WAL here.
    with warehouse.connect() as con:
        return {t: _fingerprint(con, t, skip) for t, skip in COMPARED_TABLES.items()}


def _kill_at(project, mode: str, marker: str) -> int:
    """Start the child, SIGKILL it when it prints ``marker``; its exit status."""
    child = ChildProcess(
        ["-m", "quant_assets_tests.test_faults.killable_ingest", mode, str(project.root), FILE],
        project.root / f"{mode}.log",
        stdin=True,
    )
    try:
        child.wait_for_line(marker)
        os.kill(child.process.pid, signal.SIGKILL)
        return child.process.wait(DEADLINE_S)
    finally:
        child.stop()


def _file_rows_in_warehouse(project) -> tuple[int, int]:
    counts = project.query(
        "SELECT count(*) AS n, count(DISTINCT ticker) AS tickers FROM prices WHERE source = ?",
        [SOURCE],
    )
    return int(counts["n"][0]), int(counts["tickers"][0])


@pytest.fixture
def warehouse(project, shared_data) -> Warehouse:
    """The big file in raw/ and a warehouse holding a committed FMP history of AAPL."""
    shutil.copy(shared_data / "sp500_5yr_2013_2018.csv.gz", project.raw / FILE)
    warehouse = Warehouse(path=str(project.warehouse_path))
    valid, _ = read_prices(shared_data / "fmp" / FMP_HISTORY)
    with warehouse.transaction() as con:
        upsert_prices(con, valid)
        refresh_instruments(con)
    return warehouse


def test_writes_killed_before_and_during_commit_leave_whole_states_and_the_rerun_completes(
    project, warehouse
):
    digest = file_sha256(project.raw / FILE)
    before = _state(warehouse)

    assert _kill_at(project, "before_commit", "written") == -signal.SIGKILL
    assert _state(warehouse) == before

    _kill_at(project, "mid_commit", "committing")
    after_commit_kill = _state(warehouse)

    ingest(project.root, FILE)  # the rerun
    complete = _state(warehouse)
    # SIGKILL lands during COMMIT or just after it returned: either whole state is right.
    assert after_commit_kill in (before, complete)
    assert _file_rows_in_warehouse(project) == (VALID_ROWS, TICKERS)
    assert (complete["rejected_rows"][0], complete["raw_files"][0]) == (REJECTED_ROWS, 1)
    assert file_sha256(project.raw / FILE) == digest
