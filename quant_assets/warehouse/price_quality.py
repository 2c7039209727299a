"""Finders over the stored ``prices`` table, one SQL query each, for the asset checks on it.

Each finder returns ``(count, examples)``: how many rows (or gaps) it found and the first
:data:`EXAMPLES` of them by ticker and date, for a preview in the Dagster UI.

Two kinds:

* **contract breaks** (:data:`CONTRACT_FINDERS`): rows the validator and the table's
  constraints should never have let in (a non-finite or non-positive price, a bar whose close
  lies outside its own low..high, a weekend or future date, a malformed ticker, a repeated
  key). A writer that skipped validation, a hand edit or a warehouse created before a
  constraint existed can still hold them; the checks on ``prices`` block downstream on them.
  A bad tick (a jump the next day undoes, :func:`reverting_ticks`) blocks too.
* **suspicious but possible** values (large moves, zero volumes, flat bars, gaps): kept, and
  reported as warnings so that a researcher sees them before a model trains on them.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pandas as pd

from quant_assets.ingest.schemas import TICKER_PATTERN

EXAMPLES = 10
BAR_COLUMNS = "ticker, date, open, high, low, close, adj_close, volume"

Finder = Callable[[duckdb.DuckDBPyConnection], tuple[int, pd.DataFrame]]


def _found(frame: pd.DataFrame) -> tuple[int, pd.DataFrame]:
    return len(frame), frame.head(EXAMPLES)


def _bars_where(
    con: duckdb.DuckDBPyConnection, condition: str, params: list | None = None
) -> tuple[int, pd.DataFrame]:
    """The bars matching ``condition`` (a fixed SQL predicate; values come as ``params``)."""
    return _found(
        con.execute(
            f"SELECT {BAR_COLUMNS} FROM prices WHERE {condition} ORDER BY ticker, date",
            params or [],
        ).df()
    )


# --- contract breaks: blocking ------------------------------------------------------------


def non_finite_or_non_positive(con: duckdb.DuckDBPyConnection) -> tuple[int, pd.DataFrame]:
    """Bars with a NaN or infinite value, a price <= 0, or a negative volume.

    Missing optional values are NULL in the table and pass; a stored NaN is not "missing".
    """
    prices = ("open", "high", "low", "close", "adj_close")
    bad_price = " OR ".join(f"NOT isfinite({c}) OR {c} <= 0" for c in prices)
    return _bars_where(con, f"{bad_price} OR NOT isfinite(volume) OR volume < 0")


def inconsistent_bars(con: duckdb.DuckDBPyConnection) -> tuple[int, pd.DataFrame]:
    """Bars whose high is below their low, or whose open or close lies outside low..high."""
    return _bars_where(
        con,
        "high < low OR close > high OR close < low OR open > high OR open < low",
    )


def invalid_dates(con: duckdb.DuckDBPyConnection) -> tuple[int, pd.DataFrame]:
    """Bars dated on a Saturday or Sunday, or after the day they were ingested."""
    return _bars_where(con, "dayofweek(date) IN (0, 6) OR date > CAST(ingested_at AS DATE)")


def malformed_tickers(con: duckdb.DuckDBPyConnection) -> tuple[int, pd.DataFrame]:
    """Bars whose ticker does not match :data:`~quant_assets.ingest.schemas.TICKER_PATTERN`."""
    return _bars_where(con, "NOT regexp_full_match(ticker, ?)", [TICKER_PATTERN])


def reverting_ticks(con: duckdb.DuckDBPyConnection) -> tuple[int, pd.DataFrame]:
    """Bars moving beyond +/-50 % that no applied corporate action explains and the next day
    undoes (see :mod:`quant_assets.warehouse.corporate_actions`). The ``prices`` asset
    quarantines them (rule ``unexplained_jump``): one left means the stored series holds a
    bad tick that factors and backtests would learn from."""
    from quant_assets.warehouse.corporate_actions import find_unexplained_jumps

    jumps = find_unexplained_jumps(con)
    return _found(jumps[jumps["reason"] == "reverting_tick"].reset_index(drop=True))


def duplicate_keys(con: duckdb.DuckDBPyConnection) -> tuple[int, pd.DataFrame]:
    """(ticker, date) keys held by more than one row (the primary key forbids it)."""
    return _found(
        con.execute(
            "SELECT ticker, date, count(*) AS rows FROM prices GROUP BY ticker, date "
            "HAVING count(*) > 1 ORDER BY ticker, date"
        ).df()
    )


# --- suspicious but possible: warnings ------------------------------------------------------


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
    return _found(found)


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
    return _found(found)
