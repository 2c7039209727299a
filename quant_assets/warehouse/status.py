"""Read-only summaries of the warehouse for ``quant-assets status`` and ``quant-assets ingest``.

Every function takes an open (read-only is enough) connection and only reads.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

# The trading-day partitioned tables, each with a ``date`` column, that follow ``prices``.
DATE_PARTITIONED_TABLES: tuple[str, ...] = ("factor_values", "predictions", "weights")


@dataclass(frozen=True)
class PriceSpan:
    """How many tickers ``prices`` holds and the first and last day of any of them."""

    tickers: int
    first_date: dt.date | None
    last_date: dt.date | None


@dataclass(frozen=True)
class FileCounts:
    """What the ``raw_files`` manifest recorded for one file at its last complete ingestion."""

    rows_valid: int
    rows_rejected: int
    sha256: str


@dataclass(frozen=True)
class StaleDays:
    """Days ``prices`` holds after the newest day of a date-partitioned table."""

    table: str
    newest_date: dt.date | None
    missing_days: int
    first_missing: dt.date | None
    last_missing: dt.date | None


def table_row_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """``{table: rows}`` for every table of the main schema, by name."""
    names = [
        name
        for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY table_name"
        ).fetchall()
    ]
    if not names:
        return {}
    union = " UNION ALL ".join(
        f"SELECT '{name}' AS name, count(*) AS n FROM \"{name}\"" for name in names
    )
    return dict(con.execute(f"SELECT name, n FROM ({union}) ORDER BY name").fetchall())


def price_span(con: duckdb.DuckDBPyConnection) -> PriceSpan:
    tickers, first, last = con.execute(
        "SELECT count(DISTINCT ticker), min(date), max(date) FROM prices"
    ).fetchone()
    return PriceSpan(int(tickers), first, last)


def instrument_tickers(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tickers of ``instruments``, sorted."""
    return [t for (t,) in con.execute("SELECT ticker FROM instruments ORDER BY ticker").fetchall()]


def quarantine_by_rule(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int]]:
    """``[(rule, rows)]`` held in ``rejected_rows``, most rows first."""
    return con.execute(
        "SELECT rule, count(*) AS n FROM rejected_rows GROUP BY rule ORDER BY n DESC, rule"
    ).fetchall()


def file_counts(con: duckdb.DuckDBPyConnection, sources: list[str]) -> dict[str, FileCounts]:
    """The manifest's valid and rejected row counts of ``sources`` (``raw/<relative path>``).

    Files the manifest does not hold (never ingested in full) are absent from the result.
    """
    if not sources:
        return {}
    rows = con.execute(
        "SELECT path, rows_valid, rows_rejected, sha256 FROM raw_files "
        "WHERE list_contains(?, path)",
        [list(sources)],
    ).fetchall()
    return {path: FileCounts(int(v), int(r), sha) for path, v, r, sha in rows}


def stale_days(con: duckdb.DuckDBPyConnection) -> list[StaleDays]:
    """For each table of :data:`DATE_PARTITIONED_TABLES`: the price days after its newest day.

    A day counts when ``prices`` holds any bar on it; those are the date partitions still to
    materialize for the table to catch up with the prices.
    """
    found = []
    for table in DATE_PARTITIONED_TABLES:
        newest, missing, first, last = con.execute(
            f"""
            WITH newest AS (SELECT max(date) AS d FROM "{table}")
            SELECT (SELECT d FROM newest), count(DISTINCT p.date), min(p.date), max(p.date)
            FROM prices AS p
            WHERE p.date > coalesce((SELECT d FROM newest), DATE '0001-01-01')
            """
        ).fetchone()
        found.append(StaleDays(table, newest, int(missing), first, last))
    return found
