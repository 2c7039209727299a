"""Storing detected corporate actions, confirming them with FMP, reading adjusted closes.

Raw ``prices`` stay as delivered; the ``adjusted_prices`` view (see
:mod:`quant_assets.warehouse.schema`) divides them by the product of later actions' factors.
Detection rules live in :mod:`quant_assets.ingest.corporate_actions`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import duckdb
import pandas as pd

from quant_assets.ingest.corporate_actions import (
    RATIO_LOG_TOLERANCE,
    detect_corporate_actions,
    parse_fmp_splits,
    unexplained_jumps,
)

CONFIRM_WINDOW_DAYS = 3
"""An FMP split confirms a detection of the same ticker within this many calendar days."""


def _raw_prices(con: duckdb.DuckDBPyConnection, tickers: Collection[str] | None) -> pd.DataFrame:
    return con.execute(
        "SELECT ticker, date, close, adj_close, volume FROM prices "
        "WHERE $tickers IS NULL OR list_contains($tickers, ticker) ORDER BY ticker, date",
        {"tickers": None if tickers is None else sorted(map(str, tickers))},
    ).df()


def _actions(con: duckdb.DuckDBPyConnection, tickers: Collection[str] | None) -> pd.DataFrame:
    return con.execute(
        "SELECT ticker, date, kind, factor FROM corporate_actions "
        "WHERE $tickers IS NULL OR list_contains($tickers, ticker) ORDER BY ticker, date",
        {"tickers": None if tickers is None else sorted(map(str, tickers))},
    ).df()


def refresh_detected_actions(
    con: duckdb.DuckDBPyConnection, tickers: Collection[str] | None = None
) -> int:
    """Re-detect actions in the raw closes of ``tickers`` (default all); returns how many.

    Detected actions no longer found (a corrected price) are dropped; confirmed ones and
    their status stay. Run after every delivery that changed prices of these tickers.
    """
    found = detect_corporate_actions(_raw_prices(con, tickers))
    con.register("found_actions", found)
    try:
        con.execute(
            """
            DELETE FROM corporate_actions AS a
            WHERE a.source = 'detected' AND a.status = 'detected'
              AND ($tickers IS NULL OR list_contains($tickers, a.ticker))
              AND NOT EXISTS (SELECT 1 FROM found_actions AS f WHERE f.ticker = a.ticker
                              AND CAST(f.date AS DATE) = a.date AND f.kind = a.kind)
            """,
            {"tickers": None if tickers is None else sorted(map(str, tickers))},
        )
        con.execute(
            """
            INSERT INTO corporate_actions
            SELECT ticker, CAST(date AS DATE), kind, factor, 'detected', 'detected',
                   now()::TIMESTAMP
            FROM found_actions AS f
            -- not ON CONFLICT: DuckLake tables have no primary key
            WHERE NOT EXISTS (SELECT 1 FROM corporate_actions AS a WHERE a.ticker = f.ticker
                              AND a.date = CAST(f.date AS DATE) AND a.kind = f.kind)
            """
        )
    finally:
        con.unregister("found_actions")
    return len(found)


def confirm_with_fmp_splits(con: duckdb.DuckDBPyConnection, symbol: str, payload: object) -> int:
    """Mark ``symbol``'s detected splits that FMP's split history holds as ``confirmed``.

    A detection matches an FMP split within :data:`CONFIRM_WINDOW_DAYS` whose factor is
    within the detection tolerance. FMP splits with no detection are not added: FMP's own
    prices are split-adjusted, so such a split needs no adjustment. Returns how many rows
    were confirmed. A malformed payload raises ``SplitPayloadError`` naming the symbol.
    """
    splits = parse_fmp_splits(symbol, payload)
    if splits.empty:
        return 0
    con.register("fmp_splits", splits)
    try:
        return con.execute(
            """
            UPDATE corporate_actions AS a SET status = 'confirmed'
            FROM fmp_splits AS s
            WHERE a.ticker = $symbol AND a.kind = 'split' AND a.status <> 'confirmed'
              AND abs(date_diff('day', CAST(s.date AS DATE), a.date)) <= $window
              AND abs(ln(a.factor / s.factor)) < $tolerance
            """,
            {"symbol": symbol, "window": CONFIRM_WINDOW_DAYS, "tolerance": RATIO_LOG_TOLERANCE},
        ).fetchone()[0]
    finally:
        con.unregister("fmp_splits")


def find_unexplained_jumps(
    con: duckdb.DuckDBPyConnection, tickers: Collection[str] | None = None
) -> pd.DataFrame:
    """Moves beyond +/-50 % left after the stored actions (see ``unexplained_jumps``)."""
    return unexplained_jumps(_raw_prices(con, tickers), _actions(con, tickers))


def load_adjusted_closes(
    con: duckdb.DuckDBPyConnection,
    tickers: Collection[str] | None = None,
    end: dt.date | None = None,
) -> pd.DataFrame:
    """Long split-adjusted bars (``ticker, date, close, adj_close, adjustment``) up to ``end``."""
    return con.execute(
        "SELECT ticker, date, close, adj_close, adjustment FROM adjusted_prices "
        "WHERE ($tickers IS NULL OR list_contains($tickers, ticker)) "
        "AND ($end IS NULL OR date <= $end) ORDER BY ticker, date",
        {"tickers": None if tickers is None else sorted(map(str, tickers)), "end": end},
    ).df()
