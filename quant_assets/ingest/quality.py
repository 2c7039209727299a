"""Suspicious but possible values in ``prices``: kept in the table, reported by asset checks.

Each finder runs one SQL query over the whole table and returns ``(count, examples)``; the
examples are the first rows by ticker and date, for a preview in the Dagster UI.
"""

from __future__ import annotations

import duckdb
import pandas as pd

EXAMPLES = 10


def large_moves(con: duckdb.DuckDBPyConnection, threshold: float = 0.5) -> tuple[int, pd.DataFrame]:
    """Close-to-close moves beyond ``threshold`` (0.5 = 50%) between a ticker's consecutive rows.

    Uses ``adj_close`` where present so that dividends and splits in adjusted series do not
    count; real crashes, unadjusted splits and bad ticks all show up here.
    """
    found = con.execute(
        """
        WITH px AS (
            SELECT ticker, date, coalesce(adj_close, close) AS px,
                   lag(coalesce(adj_close, close)) OVER (PARTITION BY ticker ORDER BY date) AS prev_px,
                   lag(date) OVER (PARTITION BY ticker ORDER BY date) AS prev_date
            FROM prices
        )
        SELECT ticker, date, prev_date, prev_px, px, px / prev_px - 1 AS move
        FROM px WHERE abs(px / prev_px - 1) > ?
        ORDER BY ticker, date
        """,
        [threshold],
    ).df()
    return len(found), found.head(EXAMPLES)


def _bars_where(con: duckdb.DuckDBPyConnection, condition: str) -> tuple[int, pd.DataFrame]:
    found = con.execute(
        "SELECT ticker, date, open, high, low, close, volume FROM prices "
        f"WHERE {condition} ORDER BY ticker, date"
    ).df()
    return len(found), found.head(EXAMPLES)


def zero_volume(con: duckdb.DuckDBPyConnection) -> tuple[int, pd.DataFrame]:
    """Bars with volume exactly 0 (feed gaps, halted days)."""
    return _bars_where(con, "volume = 0")


def flat_bars(con: duckdb.DuckDBPyConnection) -> tuple[int, pd.DataFrame]:
    """Bars with open = high = low = close (only one price recorded that day)."""
    return _bars_where(con, "open = high AND high = low AND low = close")


def trading_day_gaps(con: duckdb.DuckDBPyConnection) -> tuple[int, pd.DataFrame]:
    """Calendar days missing inside a ticker's own first..last range.

    The calendar is the set of dates on which at least half of the tickers then listed (their
    first..last range covers the date) have a bar; a gap is a calendar date inside a ticker's
    range with no row for it.
    """
    found = con.execute(
        """
        WITH spans AS (
            SELECT ticker, min(date) AS first_date, max(date) AS last_date FROM prices GROUP BY ticker
        ),
        bars AS (SELECT date, count(*) AS n FROM prices GROUP BY date),
        listed AS (
            SELECT b.date, b.n, count(*) AS n_listed
            FROM bars b JOIN spans s ON b.date BETWEEN s.first_date AND s.last_date
            GROUP BY b.date, b.n
        ),
        calendar AS (SELECT date FROM listed WHERE n >= 0.5 * n_listed)
        SELECT s.ticker, c.date
        FROM spans s JOIN calendar c ON c.date BETWEEN s.first_date AND s.last_date
        ANTI JOIN prices p ON p.ticker = s.ticker AND p.date = c.date
        ORDER BY s.ticker, c.date
        """
    ).df()
    return len(found), found.head(EXAMPLES)
