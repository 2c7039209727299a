"""Price files written block by block: each file staged in temp tables, then applied in SQL.

The ``price_files`` asset writes through :func:`store_price_file_streams`. Per file, every
block the reader yields (:class:`quant_assets.ingest.batches.PriceFileStream`) is appended to
two temp tables: its valid rows to ``delivery_incoming``
(:func:`quant_assets.warehouse.deliveries.stage_delivery_rows`), its rejected rows to
``staged_rejections``. Once the file is read to the end, its quarantine replaces that of its
earlier version and its staged rows are applied as one full delivery
(:func:`quant_assets.warehouse.deliveries.apply_staged_delivery`: merge, corrections and
retractions in ``price_revisions``, source conflicts and priority), all in SQL.

Bounded memory: no file is ever one DataFrame on the Python side (the reader holds one block
of :data:`quant_assets.ingest.batches.STREAM_BLOCK_ROWS` lines), DuckDB works within the
warehouse's ``ingest_memory_limit`` (spilling to its temp folder), and each file is written
in its own transactions, one per group of whole tickers
(:data:`quant_assets.warehouse.deliveries.APPLY_GROUP_ROWS` rows): inside one transaction
DuckDB keeps the primary-key index entries of every row inserted, and every temp table
dropped, in memory until the commit, and a 20-million-row file in one transaction ran out
of a 512 MiB limit (``benchmarks/ingest.py --big``).

Failures: a file the reader gives up on half-way writes nothing (its staged rows are
dropped before any commit) and the other files go on. A file is entered in the manifest
(``raw_files``) only after all its groups are committed; if the process dies in between,
some of its tickers hold the new delivery and the others the old one (each ticker whole),
and ingesting the file again completes it (re-applying changes nothing already applied).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterable, Iterator
from typing import TYPE_CHECKING

import duckdb
import pandas as pd

from quant_assets.ingest.memory import return_freed_memory
from quant_assets.warehouse.deliveries import (
    DeliveryResult,
    apply_staged_delivery,
    combine_results,
    stage_delivery_rows,
    start_delivery,
    transaction,
)
from quant_assets.warehouse.prices import record_raw_file

if TYPE_CHECKING:
    from quant_assets.ingest.batches import PriceFileStream

REJECTED_TABLE = "staged_rejections"
_REJECTED_COLUMNS = ("source", "location", "ticker", "date", "rule", "reason", "raw_values")


INGEST_THREADS = 1
"""DuckDB threads while files are staged and applied (each thread has its own working
state). On the 1 GB file of ``benchmarks/ingest.py --big`` the process peaked at 0.96 GB
with 2 threads and a 384MiB limit, DuckDB holding ~0.6 GB, well past its limit; with 1
thread and 256MiB (the default ``ingest_memory_limit``) at 0.76 GB (the two changes were
measured together, not apart)."""


@contextlib.contextmanager
def duckdb_memory_limit(
    con: duckdb.DuckDBPyConnection, limit: str | None, threads: int = INGEST_THREADS
) -> Iterator[None]:
    """DuckDB's ``memory_limit`` set to ``limit`` (e.g. ``'512MiB'``; None: left as it is), its
    ``threads`` to ``threads`` and insertion order not preserved (less memory for large
    inserts), all restored on exit."""
    names = ("memory_limit", "preserve_insertion_order", "threads")
    before = {n: con.execute(f"SELECT current_setting('{n}')").fetchone()[0] for n in names}
    if limit is not None:
        con.execute(f"SET memory_limit = '{limit}'")
    con.execute(f"SET threads = {int(threads)}")
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
    for table in (REJECTED_TABLE, "delivery_incoming", "delivery_staged", "delivery_ranks"):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def store_price_file_streams(
    con: duckdb.DuckDBPyConnection,
    streams: Iterable[PriceFileStream],
    *,
    scope: Collection[str],
    source_priority: tuple[str, ...] = (),
    run_id: str | None = None,
    memory_limit: str | None = None,
) -> DeliveryResult:
    """Read and write a run of raw files, one delivery per file, block by block.

    Per file: each block's valid rows (of the ``scope`` tickers) and rejected rows are
    staged; then its quarantined rows replace the ones of its earlier version, and its
    staged rows are applied as the file's whole truth for the ``scope`` tickers (a row it no
    longer holds is retracted), reconciled with every other source. Each file the run
    covered whole is recorded in the manifest. A file that cannot be read is left as it was
    (its stream's ``error`` says why) and the others are still written.

    ``con`` must be outside any transaction: each file is committed on its own, in groups of
    whole tickers (see the module docstring). ``memory_limit`` is DuckDB's memory limit
    meanwhile (e.g. ``'512MiB'``; None: left as it is). Returns the summed result.
    """
    results = []
    with duckdb_memory_limit(con, memory_limit):
        for stream in streams:
            try:
                result = _store_stream(con, stream, scope, source_priority, run_id)
            finally:
                _drop_staging(con)
            if result is not None:
                results.append(result)
    return combine_results(results)


def _store_stream(
    con: duckdb.DuckDBPyConnection,
    stream: PriceFileStream,
    scope: Collection[str],
    source_priority: tuple[str, ...],
    run_id: str | None,
) -> DeliveryResult | None:
    """One file staged and committed (None: unreadable, nothing written)."""
    start_delivery(con)
    _start_rejections(con)
    for kept, rejected in stream.blocks():
        stage_delivery_rows(con, kept, stream.source)
        _stage_rejections(con, rejected)
        del kept, rejected  # not held while the next block is read
        return_freed_memory()
    if stream.error is not None:
        return None
    with transaction(con):
        _replace_rejections(con, stream.source)
    result = apply_staged_delivery(
        con,
        source=stream.source,
        full_delivery=True,
        covered_tickers=sorted(scope),
        source_priority=source_priority,
        run_id=run_id,
        commit_groups=True,
    )
    if stream.complete:
        with transaction(con):
            record_raw_file(con, **stream.manifest())
    return result
