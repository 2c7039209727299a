"""Storing detected corporate actions, confirming them with FMP, reading adjusted closes.

Raw ``prices`` stay as delivered; the ``adjusted_prices`` view (see
:mod:`quant_assets.warehouse.schema`) divides them by the product of later *applied*
actions' factors. Detection rules live in :mod:`quant_assets.ingest.corporate_actions`.

Unexplained jumps (moves beyond +/-50 % that no applied action or adj_close explains) are of
two kinds. A *reverting tick* (the next day undoes it: a misplaced decimal, a bad print) is a
bad bar: :func:`quarantine_reverting_ticks` takes it out of ``prices`` into ``rejected_rows``
(rule ``unexplained_jump``) with a ``price_revisions`` entry, and the blocking check on
``prices`` fails while one is left. A *level shift* that does not revert cannot be told from
a real crash or spin-off (EBAY -57 % on 2015-07-20, NI -63 % on 2015-07-02) without the
company's own records: it is kept, reported by the ``large_daily_moves`` warning, and where
it sits at a split ratio the detection waits in ``corporate_actions`` for FMP's confirmation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import duckdb
import pandas as pd

from quant_assets.ingest.corporate_actions import (
    RATIO_LOG_TOLERANCE,
    SplitPayloadError,
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
    """The applied actions of ``tickers`` (default all)."""
    return con.execute(
        "SELECT ticker, date, kind, factor FROM corporate_actions WHERE applied "
        "AND ($tickers IS NULL OR list_contains($tickers, ticker)) ORDER BY ticker, date",
        {"tickers": None if tickers is None else sorted(map(str, tickers))},
    ).df()


def refresh_detected_actions(
    con: duckdb.DuckDBPyConnection, tickers: Collection[str] | None = None
) -> int:
    """Re-detect actions in the raw closes of ``tickers`` (default all); returns how many.

    Unconfirmed detections are replaced by the new ones (a corrected price drops one, more
    volume can change whether it is applied); confirmed ones and their status stay. Run after
    every delivery that changed prices of these tickers.
    """
    found = detect_corporate_actions(_raw_prices(con, tickers))
    con.register("found_actions", found)
    try:
        con.execute(
            """
            DELETE FROM corporate_actions AS a
            WHERE a.source = 'detected' AND a.status = 'detected'
              AND ($tickers IS NULL OR list_contains($tickers, a.ticker))
            """,
            {"tickers": None if tickers is None else sorted(map(str, tickers))},
        )
        con.execute(
            """
            INSERT INTO corporate_actions
            SELECT ticker, CAST(date AS DATE), kind, factor, 'detected', 'detected', applied,
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
    """Mark ``symbol``'s detected splits that FMP's split history holds as ``confirmed``
    (and applied: a 3:2 split FMP confirms adjusts the series from then on).

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
            UPDATE corporate_actions AS a SET status = 'confirmed', applied = true
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
    """Moves beyond +/-50 % left after the applied actions (see ``unexplained_jumps``)."""
    return unexplained_jumps(_raw_prices(con, tickers), _actions(con, tickers))


def detected_actions(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every stored action (``ticker, date, kind, factor, source, status, applied``)."""
    return con.execute(
        "SELECT ticker, date, kind, factor, source, status, applied FROM corporate_actions "
        "ORDER BY ticker, date"
    ).df()


def unconfirmed_split_tickers(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Tickers with a detected split not yet confirmed: those to ask FMP's split history for."""
    rows = con.execute(
        "SELECT DISTINCT ticker FROM corporate_actions "
        "WHERE kind = 'split' AND status = 'detected' ORDER BY ticker"
    ).fetchall()
    return [r[0] for r in rows]


JUMP_RULE = "unexplained_jump"


def confirm_split_histories(
    con: duckdb.DuckDBPyConnection, histories: dict[str, object]
) -> tuple[int, list[str]]:
    """:func:`confirm_with_fmp_splits` for each ``{symbol: payload}``; returns the number of
    actions confirmed and one message per payload that is no split history (skipped)."""
    confirmed, problems = 0, []
    for symbol, payload in sorted(histories.items()):
        try:
            confirmed += confirm_with_fmp_splits(con, symbol, payload)
        except SplitPayloadError as exc:
            problems.append(str(exc))
    return confirmed, problems


def quarantine_reverting_ticks(
    con: duckdb.DuckDBPyConnection, run_id: str | None = None
) -> pd.DataFrame:
    """Take every reverting tick out of ``prices``; returns their ``ticker, date``.

    A reverting tick is a move beyond +/-50 % that no applied action explains and that the
    next day undoes. Its bar goes to ``rejected_rows`` (rule ``unexplained_jump``, location
    ``unexplained_jump TICKER DATE``, its values and source kept) and to ``price_revisions``
    (kind ``unexplained_jump``), so the days after it are recomputed. A bar quarantined before
    that a later delivery brought back (``prices`` holds it again) is judged anew.
    """
    location = "'unexplained_jump ' || {t}.ticker || ' ' || strftime({t}.date, '%Y-%m-%d')"
    con.execute(
        f"""
        DELETE FROM rejected_rows AS q USING prices AS p
        WHERE q.rule = '{JUMP_RULE}' AND q.location = {location.format(t="p")}
        """
    )
    ticks = find_unexplained_jumps(con)
    ticks = ticks[ticks["reason"] == "reverting_tick"]
    if ticks.empty:
        return ticks[["ticker", "date"]]
    con.register("reverting_ticks", ticks[["ticker", "date", "previous_close", "ratio"]])
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE quarantined_ticks AS "
            "SELECT p.*, t.previous_close, t.ratio FROM prices AS p JOIN reverting_ticks AS t "
            "ON t.ticker = p.ticker AND CAST(t.date AS DATE) = p.date"
        )
    finally:
        con.unregister("reverting_ticks")
    values = " || ', ' || ".join(
        f"'{c}=' || coalesce(CAST({c} AS VARCHAR), '')"
        for c in ("open", "high", "low", "close", "adj_close", "volume")
    )
    con.execute(
        f"""
        INSERT OR REPLACE INTO rejected_rows
        SELECT source, {location.format(t="q")}, ticker, strftime(date, '%Y-%m-%d'),
               '{JUMP_RULE}',
               '{JUMP_RULE}: close ' || CAST(close AS VARCHAR) || ' after '
                 || CAST(previous_close AS VARCHAR) || ' (x' || CAST(round(ratio, 4) AS VARCHAR)
                 || ') and back the next day: a bad tick, not a split or a crash',
               {values}, now()::TIMESTAMP
        FROM quarantined_ticks AS q
        """
    )
    con.execute(
        """
        INSERT INTO price_revisions
        SELECT ticker, date, 'unexplained_jump', open, high, low, close, adj_close, volume,
               NULL, NULL, NULL, NULL, NULL, NULL, source, NULL, now()::TIMESTAMP, ?
        FROM quarantined_ticks
        """,
        [run_id],
    )
    con.execute(
        "DELETE FROM prices AS p USING quarantined_ticks AS q "
        "WHERE p.ticker = q.ticker AND p.date = q.date"
    )
    removed = con.execute("SELECT ticker, date FROM quarantined_ticks ORDER BY 1, 2").df()
    con.execute("DROP TABLE quarantined_ticks")
    return removed


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


def applied_actions(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The applied actions (``ticker, date, kind, factor``): what the adjusted series uses."""
    return _actions(con, None)


def first_date_adjusted_differently(
    con: duckdb.DuckDBPyConnection, before: pd.DataFrame
) -> dt.date | None:
    """The first price date whose adjusted values may differ from when ``before`` (the
    :func:`applied_actions` of then) was read: the first date of every ticker whose applied
    actions changed since (an action rescales every earlier bar). None when none changed."""
    after = applied_actions(con)
    keys = ["ticker", "date", "kind", "factor"]
    both = before[keys].merge(after[keys], how="outer", indicator=True)
    changed = sorted(set(both.loc[both["_merge"] != "both", "ticker"].astype(str)))
    if not changed:
        return None
    first = con.execute(
        "SELECT min(date) FROM prices WHERE list_contains($tickers, ticker)", {"tickers": changed}
    ).fetchone()[0]
    return first
