"""Price files written block by block: each file staged in temp tables, then applied in SQL.

The ``price_files`` asset writes through :func:`store_price_file_streams`. Per file, every
block the reader yields (:class:`quant_assets.ingest.batches.PriceFileStream`) is appended to
two temp tables: its valid rows to ``delivery_incoming``
(:func:`quant_assets.warehouse.deliveries.stage_delivery_rows`), its rejected rows to
``staged_rejections``. Once the file is read to the end, its quarantine replaces that of its
earlier version and its staged rows are applied as one full delivery
(:func:`quant_assets.warehouse.deliveries.apply_staged_delivery`: merge, corrections and
retractions in ``price_revisions``, source conflicts and priority), all in SQL. A file the
reader gives up on half-way leaves nothing: its staged rows are dropped and the other files
go on. No file is ever one DataFrame on the Python side (the reader holds one block); DuckDB
works within :data:`STAGING_MEMORY_LIMIT`, spilling temp tables to its temp folder.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterable, Iterator
from typing import TYPE_CHECKING

import duckdb
import pandas as pd

from quant_assets.warehouse.deliveries import (
    DeliveryResult,
    apply_staged_delivery,
    combine_results,
    stage_delivery_rows,
    start_delivery,
)
from quant_assets.warehouse.prices import record_raw_file

if TYPE_CHECKING:
    from quant_assets.ingest.batches import PriceFileStream

STAGING_MEMORY_LIMIT: str | None = None
"""DuckDB's memory limit while files are staged and applied (restored afterwards); None keeps
DuckDB's own (80 % of RAM). Not set lower yet: within the run's one transaction the primary-key
indexes of ``prices`` and ``delivered_prices`` cannot spill, and a 20-million-row file
(1 GB CSV) ran out of memory under 512 MiB (benchmarks/ingest.py --big)."""
REJECTED_TABLE = "staged_rejections"
_REJECTED_COLUMNS = ("source", "location", "ticker", "date", "rule", "reason", "raw_values")


@contextlib.contextmanager
def memory_limit(con: duckdb.DuckDBPyConnection, limit: str | None) -> Iterator[None]:
    """DuckDB's ``memory_limit`` set to ``limit`` (e.g. ``'512MiB'``; None: left as it is) and
    insertion order not preserved (less memory for large inserts), both restored on exit."""
    names = ("memory_limit", "preserve_insertion_order")
    before = {n: con.execute(f"SELECT current_setting('{n}')").fetchone()[0] for n in names}
    if limit is not None:
        con.execute(f"SET memory_limit = '{limit}'")
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        with contextlib.suppress(duckdb.TransactionException):  # an aborted transaction
            for name, value in before.items():
                con.execute(f"SET {name} = '{value}'")


def _start_rejections(con: duckdb.DuckDBPyConnection) -> None:
    columns = ", ".join(f"{c} VARCHAR" for c in _REJECTED_COLUMNS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {REJECTED_TABLE} ({columns})")


def _stage_rejections(con: duckdb.DuckDBPyConnection, rejected: pd.DataFrame) -> None:
    if rejected.empty:
        return
    con.register("staged_rejected_rows", rejected)
    try:
        casts = ", ".join(f"CAST({c} AS VARCHAR)" for c in _REJECTED_COLUMNS)
        con.execute(f"INSERT INTO {REJECTED_TABLE} SELECT {casts} FROM staged_rejected_rows")
    finally:
        con.unregister("staged_rejected_rows")


def _replace_rejections(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """``rejected_rows`` of ``source`` become exactly the staged ones (a fixed row leaves)."""
    con.execute("DELETE FROM rejected_rows WHERE source = ?", [source])
    con.execute(
        f"INSERT INTO rejected_rows SELECT {', '.join(_REJECTED_COLUMNS)}, now()::TIMESTAMP "
        f"FROM {REJECTED_TABLE}"
    )


def _drop_staging(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"DROP TABLE IF EXISTS {REJECTED_TABLE}")
    con.execute("DROP TABLE IF EXISTS delivery_incoming")


def store_price_file_streams(
    con: duckdb.DuckDBPyConnection,
    streams: Iterable[PriceFileStream],
    *,
    scope: Collection[str],
    source_priority: tuple[str, ...] = (),
    run_id: str | None = None,
) -> DeliveryResult:
    """Read and write a run of raw files, one delivery per file, block by block.

    Per file: each block's valid rows (of the ``scope`` tickers) and rejected rows are
    staged; then its quarantined rows replace the ones of its earlier version, and its
    staged rows are applied as the file's whole truth for the ``scope`` tickers (a row it no
    longer holds is retracted), reconciled with every other source. Each file the run
    covered whole is recorded in the manifest. A file that cannot be read is left as it was
    (its stream's ``error`` says why). Runs inside the caller's transaction; returns the
    summed result.
    """
    results = []
    with memory_limit(con, STAGING_MEMORY_LIMIT):
        for stream in streams:
            start_delivery(con)
            _start_rejections(con)
            for kept, rejected in stream.blocks():
                stage_delivery_rows(con, kept, stream.source)
                _stage_rejections(con, rejected)
            if stream.error is not None:
                _drop_staging(con)
                continue
            _replace_rejections(con, stream.source)
            results.append(
                apply_staged_delivery(
                    con,
                    source=stream.source,
                    full_delivery=True,
                    covered_tickers=sorted(scope),
                    source_priority=source_priority,
                    run_id=run_id,
                )
            )
            _drop_staging(con)
            if stream.complete:
                record_raw_file(con, **stream.manifest())
    return combine_results(results)
