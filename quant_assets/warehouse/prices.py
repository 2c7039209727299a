"""Writing validated prices, quarantined rows and the file manifest; refreshing instruments.

The ingest assets write through :func:`store_price_files` and :func:`store_fetched_bars`,
which apply each file (and each run of FMP bars) as a delivery
(:func:`quant_assets.warehouse.deliveries.apply_delivery`): sources reconciled, corrections
and retractions kept in ``price_revisions``. :func:`upsert_prices` is the plain writer for
tools and tests that need no provenance.

All functions take an open connection and expect to run inside the caller's transaction
(:meth:`quant_assets.resources.warehouse.Warehouse.transaction`), so a batch lands whole or
not at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import pandas as pd

if TYPE_CHECKING:
    from quant_assets.ingest.batches import FileRead
    from quant_assets.warehouse.deliveries import DeliveryResult

VALUE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close", "volume")
FMP_DELIVERY_SOURCE = "fmp/daily_bars"
"""The delivery name of a run of FMP bars (its rows keep their own request's source)."""


@dataclass(frozen=True)
class UpsertCounts:
    """What an upsert did: rows new to the table, rows whose values changed, rows unchanged."""

    inserted: int
    updated: int
    unchanged: int


def upsert_prices(con: duckdb.DuckDBPyConnection, valid: pd.DataFrame) -> UpsertCounts:
    """Insert new (ticker, date) rows and update rows whose values differ; leave the rest.

    Re-writing identical values changes nothing, not even ``ingested_at`` or ``source``: a
    second ingestion of the same file is a no-op. ``valid`` has the columns of
    :data:`quant_assets.ingest.schemas.PRICES_TABLE_SCHEMA`, one row per (ticker, date).
    """
    if valid.empty:
        return UpsertCounts(0, 0, 0)
    con.register("incoming_prices", valid)
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE incoming AS "
            "SELECT CAST(ticker AS VARCHAR) AS ticker, CAST(date AS DATE) AS date, "
            + ", ".join(f"CAST({c} AS DOUBLE) AS {c}" for c in VALUE_COLUMNS)
            + ", CAST(source AS VARCHAR) AS source FROM incoming_prices"
        )
    finally:
        con.unregister("incoming_prices")
    differs = " OR ".join(f"p.{c} IS DISTINCT FROM i.{c}" for c in VALUE_COLUMNS)
    updated = con.execute(
        f"""
        UPDATE prices AS p SET
            {", ".join(f"{c} = i.{c}" for c in VALUE_COLUMNS)},
            source = i.source, ingested_at = now()::TIMESTAMP
        FROM incoming AS i
        WHERE p.ticker = i.ticker AND p.date = i.date AND ({differs})
        """
    ).fetchone()[0]
    inserted = con.execute(
        f"""
        INSERT INTO prices
        SELECT i.ticker, i.date, {", ".join(f"i.{c}" for c in VALUE_COLUMNS)},
               i.source, now()::TIMESTAMP
        FROM incoming AS i ANTI JOIN prices AS p ON p.ticker = i.ticker AND p.date = i.date
        """
    ).fetchone()[0]
    con.execute("DROP TABLE incoming")
    return UpsertCounts(int(inserted), int(updated), len(valid) - int(inserted) - int(updated))


def replace_rejections(con: duckdb.DuckDBPyConnection, source: str, rejected: pd.DataFrame) -> None:
    """Make ``rejected_rows`` hold exactly this file's current bad rows.

    Rows quarantined by an earlier version of the file that are now fixed disappear from the
    quarantine; the file itself is never touched.
    """
    con.execute("DELETE FROM rejected_rows WHERE source = ?", [source])
    if rejected.empty:
        return
    con.register("incoming_rejected", rejected)
    try:
        con.execute(
            "INSERT INTO rejected_rows SELECT source, location, ticker, date, rule, reason, "
            "raw_values, now()::TIMESTAMP FROM incoming_rejected"
        )
    finally:
        con.unregister("incoming_rejected")


def record_raw_file(
    con: duckdb.DuckDBPyConnection,
    *,
    path: str,
    sha256: str,
    size_bytes: int,
    layout: str,
    rows_read: int,
    rows_valid: int,
    rows_rejected: int,
    tickers: list[str],
) -> None:
    """Upsert the manifest row of an ingested file (the sensor skips files already here)."""
    # DELETE + INSERT, not INSERT OR REPLACE: DuckLake tables have no primary key.
    con.execute("DELETE FROM raw_files WHERE path = ?", [path])
    con.execute(
        "INSERT INTO raw_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP)",
        [path, sha256, size_bytes, layout, rows_read, rows_valid, rows_rejected, tickers],
    )


def ingested_hashes(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """``{path: sha256}`` of every file in the manifest."""
    return dict(con.execute("SELECT path, sha256 FROM raw_files").fetchall())


def refresh_instruments(con: duckdb.DuckDBPyConnection) -> int:
    """Rebuild ``instruments`` from ``prices``; returns the number of tickers."""
    con.execute("DELETE FROM instruments")
    con.execute(
        """
        INSERT INTO instruments
        SELECT ticker, min(date), max(date), count(*), string_agg(DISTINCT source, ', ' ORDER BY source)
        FROM prices GROUP BY ticker
        """
    )
    return con.execute("SELECT count(*) FROM instruments").fetchone()[0]


def store_price_files(
    con: duckdb.DuckDBPyConnection,
    files: Iterable[FileRead],
    *,
    scope: Collection[str],
    source_priority: tuple[str, ...] = (),
    run_id: str | None = None,
) -> DeliveryResult:
    """Write a run of raw files, one delivery per file (see :mod:`.deliveries`).

    Per file: its quarantined rows replace the ones of its earlier version, then its valid
    rows of the ``scope`` tickers are applied as the file's whole truth for those tickers
    (a row it no longer holds is retracted), reconciled with every other source. Each file
    the run covered whole is recorded in the manifest. Returns the summed result.
    """
    from quant_assets.warehouse.deliveries import apply_delivery, combine_results

    results = []
    for read in files:
        path = read.manifest["path"]
        replace_rejections(con, path, read.rejected)
        results.append(
            apply_delivery(
                con,
                read.valid,
                source=path,
                full_delivery=True,
                covered_tickers=sorted(scope),
                source_priority=source_priority,
                run_id=run_id,
            )
        )
        if read.complete:
            record_raw_file(con, **read.manifest)
    return combine_results(results)


def store_fetched_bars(
    con: duckdb.DuckDBPyConnection,
    valid: pd.DataFrame,
    rejected: pd.DataFrame,
    *,
    sources: Iterable[str],
    tickers: Collection[str],
    dates: tuple[dt.date, dt.date],
    source_priority: tuple[str, ...] = (),
    run_id: str | None = None,
) -> DeliveryResult:
    """Write a run of API bars as one delivery of the FMP feed.

    ``valid`` is FMP's whole truth for the fetched ``tickers`` over ``dates``: a bar FMP sent
    before and no longer sends there is retracted. The quarantine of every request the run
    sent (``sources``) is replaced by this run's rejections, so a good rerun clears a stale
    one.
    """
    from quant_assets.warehouse.deliveries import apply_delivery

    rows = rejected if len(rejected) else pd.DataFrame(columns=["source"])
    by_source = {str(k): g for k, g in rows.groupby("source", sort=True)}
    for source in sorted(set(map(str, sources)) | set(by_source)):
        replace_rejections(con, source, by_source.get(source, rows.iloc[:0]))
    return apply_delivery(
        con,
        valid,
        source=FMP_DELIVERY_SOURCE,
        full_delivery=True,
        covered_tickers=sorted(tickers),
        covered_dates=dates,
        source_priority=source_priority,
        run_id=run_id,
    )


def instrument_tickers(con: duckdb.DuckDBPyConnection, exclude: str | None = None) -> list[str]:
    """The tickers of ``instruments`` in order, without ``exclude`` (say, the benchmark)."""
    rows = con.execute(
        "SELECT ticker FROM instruments WHERE ticker IS DISTINCT FROM ? ORDER BY ticker", [exclude]
    ).fetchall()
    return [r[0] for r in rows]


@dataclass(frozen=True)
class PricesSummary:
    """The ``prices`` table at a glance, with ``instruments`` (one row per ticker)."""

    rows: int
    tickers: int
    first_date: dt.date | None
    last_date: dt.date | None
    rejected_rows: int
    instruments: pd.DataFrame


def summarize_prices(con: duckdb.DuckDBPyConnection) -> PricesSummary:
    """Row count, date range and tickers of ``prices``, and the size of the quarantine."""
    rows, first, last = con.execute("SELECT count(*), min(date), max(date) FROM prices").fetchone()
    rejected = con.execute("SELECT count(*) FROM rejected_rows").fetchone()[0]
    instruments = con.execute(
        "SELECT ticker, first_date, last_date, row_count, source FROM instruments ORDER BY ticker"
    ).df()
    return PricesSummary(int(rows), len(instruments), first, last, int(rejected), instruments)
