"""Writing one delivery of prices: sources reconciled, corrections and retractions kept in history.

A *delivery* is the rows of one price file, or one batch of FMP bars. Its rows are written
with :func:`apply_delivery` (instead of a last-writer-wins upsert), which follows these rules:

* **Feeds.** Every row comes from a *feed*: a price file is its own feed (its ``source``
  path, e.g. ``raw/aapl.csv``), and FMP is one feed whatever the endpoint or window
  (every source starting with ``fmp/`` or ``fmp:``). ``delivered_prices`` keeps the latest
  row of every feed for each (ticker, date); ``prices`` is resolved from it.
* **Merge.** Feeds whose rows agree (every value equal within :data:`VALUE_RTOL`, a missing
  value agreeing with anything) merge: the row already in ``prices`` stays, untouched.
* **Correction.** A feed re-delivering a (ticker, date) with other values replaces its row;
  ``prices`` follows and the old values go to ``price_revisions`` (kind ``correction``).
* **Retraction.** With ``full_delivery=True`` the delivery is the feed's whole truth for the
  tickers (and dates) it covers: a stored row of that feed it no longer holds is retracted,
  and a price no other feed backs leaves ``prices`` (kind ``retraction``).
* **Conflict.** Feeds that disagree on a (ticker, date) leave no price: every one of their
  rows is quarantined in ``rejected_rows`` as ``source_conflict``, naming all the sources,
  and a stored price is withdrawn (kind ``source_conflict``) -- never one silently kept.
* **Priority.** ``source_priority`` ranks feeds, best first: ``"fmp"`` names the FMP feed,
  ``"file"`` (or ``"csv"``) every file, and any other entry the files whose path starts with
  it (``"raw/vendor_a/"``). The best-ranked agreeing rows win; a lower feed's disagreeing row
  is recorded in ``price_revisions`` (kind ``source_priority``) and not quarantined. Feeds
  that no entry names rank below every named one and, among themselves, conflict.

Re-applying the same delivery changes nothing. Every function runs inside the caller's
transaction (:meth:`quant_assets.resources.warehouse.Warehouse.transaction`).

Large deliveries are staged block by block (:func:`start_delivery`,
:func:`stage_delivery_rows`, :func:`apply_staged_delivery`; the ``price_files`` asset does so
through :mod:`quant_assets.warehouse.staging`) and applied in SQL, never whole in memory;
:func:`apply_delivery` is the same for rows already in a DataFrame.

Recomputing what a delivery changed: :class:`DeliveryResult` carries, per ticker, the earliest
date whose ``prices`` row was inserted, changed or withdrawn; :func:`affected_days` reads the same
from the tables for everything since a moment (a run's start), for the daily run to
recompute factors, predictions and backtests from each ticker's earliest affected day.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Collection, Iterator
from dataclasses import dataclass

import duckdb
import pandas as pd

from quant_assets.warehouse.prices import VALUE_COLUMNS

FMP_FEED = "fmp"
FILE_FEED_CLASSES: tuple[str, ...] = ("file", "csv")
"""``source_priority`` entries that name every file feed at once."""
VALUE_RTOL = 1e-9
"""Two deliveries' values 'agree' within this relative difference (float printing noise only)."""
CONFLICT_RULE = "source_conflict"
UNRANKED = 1_000_000

_FEED_SQL = "CASE WHEN regexp_matches({col}, '^fmp[:/]') THEN 'fmp' ELSE {col} END"


def feed_of(source: str) -> str:
    """The feed a ``source`` belongs to: ``"fmp"`` for FMP sources, else the file path itself."""
    return FMP_FEED if source.startswith(("fmp/", "fmp:")) else source


@dataclass(frozen=True)
class DeliveryCounts:
    """What a delivery did to its feed and to ``prices``.

    ``inserted``/``corrected``/``unchanged`` count the delivery's rows (new to the feed,
    changing the feed's row, identical to it); ``retracted`` the feed's rows a full delivery
    dropped; ``conflicts`` the (ticker, date) keys it touched that are left in conflict;
    ``prices_changed`` the ``prices`` rows whose values were inserted, changed or withdrawn
    (a row that only passes to another feed backing the same values does not count).
    """

    inserted: int
    corrected: int
    unchanged: int
    retracted: int
    conflicts: int
    prices_changed: int


@dataclass(frozen=True)
class DeliveryResult:
    """Counts plus, per ticker, the earliest date whose ``prices`` row changed
    (``first_affected``: columns ticker, date; one row per ticker, sorted by ticker).

    One row per ticker, not per changed key: a first load of a 20-million-row file changes
    20 million keys, and the recomputation only needs where each ticker's starts.
    """

    counts: DeliveryCounts
    first_affected: pd.DataFrame

    def first_affected_dates(self) -> dict[str, dt.date]:
        """``{ticker: earliest changed date}``: where each ticker's recomputation must start."""
        return {
            str(t): pd.Timestamp(d).date()
            for t, d in zip(self.first_affected["ticker"], self.first_affected["date"], strict=True)
        }


def _no_affected() -> pd.DataFrame:
    return pd.DataFrame({"ticker": pd.Series(dtype=str), "date": pd.Series(dtype="datetime64[ns]")})


def combine_results(results: list[DeliveryResult]) -> DeliveryResult:
    """The sum of several deliveries' results (one run's files), the earliest date per ticker."""
    fields = DeliveryCounts.__dataclass_fields__
    counts = DeliveryCounts(**{f: sum(getattr(r.counts, f) for r in results) for f in fields})
    frames = [r.first_affected for r in results if len(r.first_affected)]
    if not frames:
        return DeliveryResult(counts, _no_affected())
    first = pd.concat(frames, ignore_index=True).groupby("ticker", sort=True)["date"].min()
    return DeliveryResult(counts, first.reset_index())


def _rank_sql(feed: str) -> str:
    """SQL rank of a feed column against the ``delivery_ranks(entry, rank)`` temp table."""
    classes = ", ".join(f"'{c}'" for c in FILE_FEED_CLASSES)
    return (
        f"coalesce((SELECT min(r.rank) FROM delivery_ranks AS r WHERE "
        f"(r.entry = '{FMP_FEED}' AND {feed} = '{FMP_FEED}') OR ({feed} <> '{FMP_FEED}' AND "
        f"(r.entry IN ({classes}) OR starts_with({feed}, r.entry)))), {UNRANKED})"
    )


def _agree_sql(a: str, b: str) -> str:
    """Row aliases ``a`` and ``b`` agree: every value equal within VALUE_RTOL or missing in one."""
    return " AND ".join(
        f"({a}.{c} IS NULL OR {b}.{c} IS NULL OR "
        f"abs({a}.{c} - {b}.{c}) <= {VALUE_RTOL} * greatest(abs({a}.{c}), abs({b}.{c})))"
        for c in VALUE_COLUMNS
    )


def _distinct_sql(a: str, b: str) -> str:
    return " OR ".join(f"{a}.{c} IS DISTINCT FROM {b}.{c}" for c in VALUE_COLUMNS)


INCOMING_TABLE = "delivery_incoming"
"""The temp table a delivery's rows are staged in (:func:`start_delivery`)."""


def start_delivery(con: duckdb.DuckDBPyConnection) -> None:
    """An empty ``delivery_incoming`` table for a delivery staged block by block.

    Stage rows with :func:`stage_delivery_rows` (as many times as there are blocks), then
    apply them with :func:`apply_staged_delivery`: the delivery is never whole in memory.
    """
    values = ", ".join(f"{c} DOUBLE" for c in VALUE_COLUMNS)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {INCOMING_TABLE} "
        f"(ticker VARCHAR, date DATE, {values}, source VARCHAR, feed VARCHAR)"
    )


def stage_delivery_rows(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame, source: str) -> None:
    """Append validated rows to ``delivery_incoming``; a missing ``source`` column means
    every row is ``source``. Tickers are stored stripped and upper case, dates as days."""
    if rows.empty:
        return
    frame = rows if "source" in rows.columns else rows.assign(source=source)
    con.register("delivery_rows", frame)
    try:
        con.execute(
            f"INSERT INTO {INCOMING_TABLE} "
            "SELECT upper(trim(CAST(ticker AS VARCHAR))), CAST(date AS DATE), "
            + ", ".join(f"CAST({c} AS DOUBLE)" for c in VALUE_COLUMNS)
            + ", CAST(source AS VARCHAR), "
            + _FEED_SQL.format(col="CAST(source AS VARCHAR)")
            + " FROM delivery_rows"
        )
    finally:
        con.unregister("delivery_rows")


def _check_incoming(con: duckdb.DuckDBPyConnection, source: str) -> None:
    feeds = {r[0] for r in con.execute(f"SELECT DISTINCT feed FROM {INCOMING_TABLE}").fetchall()}
    if feeds - {feed_of(source)}:
        raise ValueError(
            f"delivery {source!r} holds rows of other feeds {sorted(feeds - {feed_of(source)})}: "
            "apply one delivery per file or per FMP batch"
        )
    dup = con.execute(
        f"SELECT ticker, date FROM {INCOMING_TABLE} GROUP BY ALL HAVING count(*) > 1 LIMIT 1"
    ).fetchone()
    if dup:
        raise ValueError(f"delivery {source!r} holds {dup[0]} {dup[1]} more than once")


def _feed_changes(
    con: duckdb.DuckDBPyConnection,
    feed: str,
    full_delivery: bool,
    covered_tickers: Collection[str] | None,
    covered_dates: tuple[dt.date, dt.date] | None,
) -> None:
    """``delivery_changes``: per key, the feed's ``insert``/``correction``/``retraction``."""
    old = ", ".join(f"d.{c} AS old_{c}" for c in VALUE_COLUMNS)
    new = ", ".join(f"i.{c} AS new_{c}" for c in VALUE_COLUMNS)
    nulls_old = ", ".join(f"NULL::DOUBLE AS old_{c}" for c in VALUE_COLUMNS)
    nulls_new = ", ".join(f"NULL::DOUBLE AS new_{c}" for c in VALUE_COLUMNS)
    retraction = ""
    params: dict[str, object] = {"feed": feed}
    if full_delivery:
        params.update(
            tickers=None if covered_tickers is None else sorted(map(str, covered_tickers)),
            start=covered_dates[0] if covered_dates else None,
            end=covered_dates[1] if covered_dates else None,
        )
        retraction = f"""
        UNION ALL
        SELECT d.ticker, d.date, 'retraction' AS change, {old}, d.source AS old_source,
               {nulls_new}, NULL AS new_source
        FROM delivered_prices AS d
        WHERE d.feed = $feed
          AND ($tickers IS NULL OR list_contains($tickers, d.ticker))
          AND ($start IS NULL OR d.date >= $start) AND ($end IS NULL OR d.date <= $end)
          AND NOT EXISTS (SELECT 1 FROM delivery_incoming AS i
                          WHERE i.ticker = d.ticker AND i.date = d.date)
        """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE delivery_changes AS
        SELECT i.ticker, i.date, 'insert' AS change, {nulls_old}, NULL AS old_source,
               {new}, i.source AS new_source
        FROM delivery_incoming AS i
        WHERE NOT EXISTS (SELECT 1 FROM delivered_prices AS d
                          WHERE d.feed = $feed AND d.ticker = i.ticker AND d.date = i.date)
        UNION ALL
        SELECT i.ticker, i.date, 'correction' AS change, {old}, d.source AS old_source,
               {new}, i.source AS new_source
        FROM delivery_incoming AS i JOIN delivered_prices AS d
          ON d.feed = $feed AND d.ticker = i.ticker AND d.date = i.date
        WHERE {_distinct_sql("d", "i")}
        {retraction}
        """,
        params,
    )


def _record_feed_rows(con: duckdb.DuckDBPyConnection, feed: str) -> None:
    con.execute(
        """
        DELETE FROM delivered_prices AS d USING delivery_changes AS c
        WHERE d.feed = ? AND d.ticker = c.ticker AND d.date = c.date
        """,
        [feed],
    )
    con.execute(
        f"""
        INSERT INTO delivered_prices
        SELECT i.ticker, i.date, i.feed, {", ".join(f"i.{c}" for c in VALUE_COLUMNS)},
               i.source, now()::TIMESTAMP
        FROM delivery_incoming AS i SEMI JOIN delivery_changes AS c
          ON c.ticker = i.ticker AND c.date = i.date AND c.change <> 'retraction'
        """
    )


def _adopt_stored_prices(
    con: duckdb.DuckDBPyConnection, feed: str, covered_tickers: Collection[str] | None
) -> None:
    """Rows written to ``prices`` before feeds were tracked become their feed's delivery.

    With ``covered_tickers`` (a group of a large delivery) only those tickers and the
    delivery's are looked at, on both sides: the retractions are confined to them, and a scan
    of every row the feed ever wrote against all of ``delivered_prices`` does not fit a
    bounded memory limit on a 20-million-row file.
    """
    in_group = "{t}.ticker IN (SELECT ticker FROM delivery_incoming) OR list_contains($tickers, {t}.ticker)"
    if covered_tickers is None:
        mine = f"({in_group.format(t='p')} OR {_FEED_SQL.format(col='p.source')} = $feed)"
        theirs = "TRUE"
    else:
        mine, theirs = f"({in_group.format(t='p')})", f"({in_group.format(t='d')})"
    con.execute(
        f"""
        INSERT INTO delivered_prices
        SELECT p.ticker, p.date, {_FEED_SQL.format(col="p.source")},
               {", ".join(f"p.{c}" for c in VALUE_COLUMNS)}, p.source, p.ingested_at
        FROM prices AS p
        WHERE {mine}
          AND NOT EXISTS (SELECT 1 FROM delivered_prices AS d
                          WHERE {theirs} AND d.ticker = p.ticker AND d.date = p.date)
        """,
        {"tickers": sorted(map(str, covered_tickers or ()))}
        | ({"feed": feed} if covered_tickers is None else {}),
    )


def _resolve(con: duckdb.DuckDBPyConnection) -> None:
    """``delivery_resolved``: the price (or conflict) of every key the delivery touched.

    The best-ranked feeds' rows must agree; the winner among them is the feed already in
    ``prices`` if it is one of them, else the earliest delivered.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE delivery_candidates AS
        WITH touched AS (
            SELECT ticker, date FROM delivery_incoming UNION SELECT ticker, date FROM delivery_changes
        )
        SELECT d.*, {_rank_sql("d.feed")} AS rank,
               d.feed = {_FEED_SQL.format(col="p.source")} AS is_stored
        FROM delivered_prices AS d SEMI JOIN touched AS t ON t.ticker = d.ticker AND t.date = d.date
        LEFT JOIN prices AS p ON p.ticker = d.ticker AND p.date = d.date
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE delivery_best AS
        SELECT c.* FROM delivery_candidates AS c
        QUALIFY c.rank = min(c.rank) OVER (PARTITION BY c.ticker, c.date)
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE delivery_resolved AS
        WITH disagreeing AS (
            SELECT DISTINCT a.ticker, a.date FROM delivery_best AS a JOIN delivery_best AS b
              ON a.ticker = b.ticker AND a.date = b.date AND a.feed < b.feed
            WHERE NOT ({_agree_sql("a", "b")})
        ),
        winners AS (
            SELECT b.* FROM delivery_best AS b
            QUALIFY row_number() OVER (PARTITION BY b.ticker, b.date
                                       ORDER BY b.is_stored DESC NULLS LAST, b.delivered_at, b.feed) = 1
        ),
        touched AS (
            SELECT ticker, date FROM delivery_incoming UNION SELECT ticker, date FROM delivery_changes
        )
        SELECT t.ticker, t.date,
               CASE WHEN x.ticker IS NOT NULL THEN 'conflict'
                    WHEN w.ticker IS NULL THEN 'none' ELSE 'priced' END AS state,
               {", ".join(f"CASE WHEN x.ticker IS NULL THEN w.{c} END AS {c}" for c in VALUE_COLUMNS)},
               CASE WHEN x.ticker IS NULL THEN w.source END AS source,
               CASE WHEN x.ticker IS NULL THEN w.feed END AS feed
        FROM touched AS t
        LEFT JOIN disagreeing AS x ON x.ticker = t.ticker AND x.date = t.date
        LEFT JOIN winners AS w ON w.ticker = t.ticker AND w.date = t.date
        """
    )


def _write_prices(con: duckdb.DuckDBPyConnection, run_id: str | None) -> int:
    """Bring ``prices`` to the resolved rows, logging every departure in ``price_revisions``."""
    old = ", ".join(f"p.{c}" for c in VALUE_COLUMNS)
    new = ", ".join(f"r.{c}" for c in VALUE_COLUMNS)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE delivery_prices_diff AS
        SELECT r.ticker, r.date, r.state,
               r.state <> 'priced' OR p.ticker IS NULL OR {_distinct_sql("p", "r")} AS changed,
               CASE
                 WHEN r.state = 'conflict' THEN 'source_conflict'
                 WHEN r.state = 'none' OR c.change = 'retraction' THEN 'retraction'
                 WHEN {_FEED_SQL.format(col="p.source")} <> r.feed THEN 'source_priority'
                 ELSE 'correction'
               END AS kind
        FROM delivery_resolved AS r
        LEFT JOIN prices AS p ON p.ticker = r.ticker AND p.date = r.date
        LEFT JOIN delivery_changes AS c ON c.ticker = r.ticker AND c.date = r.date
        WHERE (p.ticker IS NOT NULL AND r.state <> 'priced')
           OR (r.state = 'priced' AND (p.ticker IS NULL OR {_distinct_sql("p", "r")}
                                       OR {_FEED_SQL.format(col="p.source")} <> r.feed))
        """
    )
    con.execute(
        f"""
        INSERT INTO price_revisions
        SELECT p.ticker, p.date, x.kind, {old},
               {", ".join(f"CASE WHEN r.state = 'priced' THEN r.{c} END" for c in VALUE_COLUMNS)},
               p.source, CASE WHEN r.state = 'priced' THEN r.source END, now()::TIMESTAMP, ?
        FROM delivery_prices_diff AS x
        JOIN prices AS p ON p.ticker = x.ticker AND p.date = x.date
        JOIN delivery_resolved AS r ON r.ticker = x.ticker AND r.date = x.date
        WHERE x.changed
        """,
        [run_id],
    )
    # A row of this delivery that lost to a higher-ranked feed leaves ``prices`` as it is.
    losing = ", ".join(f"c.new_{v}" for v in VALUE_COLUMNS)
    con.execute(
        f"""
        INSERT INTO price_revisions
        SELECT c.ticker, c.date, 'source_priority', {losing}, {new}, c.new_source, r.source,
               now()::TIMESTAMP, ?
        FROM delivery_changes AS c
        JOIN delivery_candidates AS k
          ON k.ticker = c.ticker AND k.date = c.date AND k.source = c.new_source
        JOIN delivery_resolved AS r ON r.ticker = c.ticker AND r.date = c.date
        WHERE c.change <> 'retraction' AND r.state = 'priced' AND k.feed <> r.feed
          AND NOT ({_agree_sql("k", "r")})
        """,
        [run_id],
    )
    con.execute(
        "DELETE FROM prices AS p USING delivery_prices_diff AS x "
        "WHERE p.ticker = x.ticker AND p.date = x.date"
    )
    con.execute(
        f"""
        INSERT INTO prices
        SELECT r.ticker, r.date, {new}, r.source, now()::TIMESTAMP
        FROM delivery_resolved AS r SEMI JOIN delivery_prices_diff AS x
          ON x.ticker = r.ticker AND x.date = r.date
        WHERE r.state = 'priced'
        """
    )
    return con.execute("SELECT count(*) FROM delivery_prices_diff WHERE changed").fetchone()[0]


def _quarantine_conflicts(con: duckdb.DuckDBPyConnection) -> int:
    """Make ``rejected_rows`` hold one ``source_conflict`` row per source of each conflicted key."""
    location = "'source_conflict ' || {t}.ticker || ' ' || strftime({t}.date, '%Y-%m-%d')"
    con.execute(
        f"""
        DELETE FROM rejected_rows AS q USING delivery_resolved AS r
        WHERE q.rule = '{CONFLICT_RULE}' AND q.location = {location.format(t="r")}
        """
    )
    values = " || ', ' || ".join(
        f"'{c}=' || coalesce(CAST(c.{c} AS VARCHAR), '')" for c in VALUE_COLUMNS
    )
    con.execute(
        f"""
        INSERT INTO rejected_rows
        WITH conflicted AS (
            SELECT c.*, {values} AS raw_values FROM delivery_candidates AS c
            SEMI JOIN delivery_resolved AS r
              ON r.ticker = c.ticker AND r.date = c.date AND r.state = 'conflict'
        )
        SELECT c.source, {location.format(t="c")}, c.ticker, strftime(c.date, '%Y-%m-%d'),
               '{CONFLICT_RULE}',
               c.ticker || ' ' || strftime(c.date, '%Y-%m-%d') || ': sources disagree, none kept: '
                 || string_agg(c.source || ' (close ' || CAST(c.close AS VARCHAR) || ')', ' vs '
                               ORDER BY c.source) OVER (PARTITION BY c.ticker, c.date),
               c.raw_values, now()::TIMESTAMP
        FROM conflicted AS c
        """
    )
    return con.execute(
        "SELECT count(*) FROM delivery_resolved WHERE state = 'conflict'"
    ).fetchone()[0]


def apply_delivery(
    con: duckdb.DuckDBPyConnection,
    rows: pd.DataFrame,
    *,
    source: str,
    full_delivery: bool,
    source_priority: tuple[str, ...] = (),
    covered_tickers: Collection[str] | None = None,
    covered_dates: tuple[dt.date, dt.date] | None = None,
    run_id: str | None = None,
) -> DeliveryResult:
    """Write one delivery's validated rows under the rules of this module.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        An open write connection, inside the caller's transaction.
    rows : DataFrame
        Validated rows (``PRICES_TABLE_SCHEMA`` columns), one per (ticker, date), all of
        ``source``'s feed. A missing ``source`` column means every row is ``source``.
    source : str
        The delivery's name: the file's source path, or any ``fmp/...`` name for FMP bars.
    full_delivery : bool
        The rows are the feed's whole truth for ``covered_tickers`` x ``covered_dates``: the
        feed's stored rows there that ``rows`` no longer holds are retracted.
    source_priority : tuple of str
        Feeds ranked best first (see the module docstring); empty: every conflict quarantined.
    covered_tickers, covered_dates : optional
        What a full delivery covers; default every ticker and date the feed has delivered.
        A ticker-partitioned run passes its partition tickers; an FMP batch its tickers and
        (first, last) trading day.
    run_id : str, optional
        Dagster run id stored with each revision.

    Returns
    -------
    DeliveryResult
        Counts and, per ticker, the earliest date whose ``prices`` row changed.

    The same as :func:`start_delivery`, :func:`stage_delivery_rows` once with all ``rows``,
    then :func:`apply_staged_delivery`.
    """
    start_delivery(con)
    stage_delivery_rows(con, rows, source)
    return apply_staged_delivery(
        con,
        source=source,
        full_delivery=full_delivery,
        source_priority=source_priority,
        covered_tickers=covered_tickers,
        covered_dates=covered_dates,
        run_id=run_id,
    )


APPLY_GROUP_ROWS = 200_000
"""Staged rows applied at once: a large delivery is applied in groups of whole tickers of
about this many rows, so that DuckDB's joins stay small (the rules are per (ticker, date)
key, so the groups give exactly what one pass would)."""
_STAGED_TABLE = "delivery_staged"


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """``BEGIN ... COMMIT`` on ``con`` (which must not be in a transaction); ROLLBACK on error."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def apply_staged_delivery(
    con: duckdb.DuckDBPyConnection,
    *,
    source: str,
    full_delivery: bool,
    source_priority: tuple[str, ...] = (),
    covered_tickers: Collection[str] | None = None,
    covered_dates: tuple[dt.date, dt.date] | None = None,
    run_id: str | None = None,
    commit_groups: bool = False,
) -> DeliveryResult:
    """Apply the rows staged in ``delivery_incoming`` as one delivery (see
    :func:`apply_delivery` for the arguments), all in SQL; the staged rows are dropped.

    With ``covered_tickers`` given, the tickers are applied in consecutive groups of about
    :data:`APPLY_GROUP_ROWS` staged rows (each group retracting within its own tickers).

    ``commit_groups=True`` (``con`` outside any transaction) commits each group on its own:
    within one transaction DuckDB keeps the primary-key indexes of the rows it inserts, and
    the temp tables it drops, in memory until the commit, so a 20-million-row delivery in one
    transaction does not fit a bounded ``memory_limit``. Each group is whole tickers and the
    rules are per (ticker, date), so every committed state is the delivery applied to some
    tickers and not yet to the others; applying the delivery again completes it and changes
    nothing already applied.
    """
    _check_incoming(con, source)
    if any(not isinstance(e, str) or not e for e in source_priority):
        raise ValueError(f"source_priority entries must be non-empty strings: {source_priority!r}")
    ranks = pd.DataFrame({"entry": list(source_priority), "rank": range(len(source_priority))})
    con.register("delivery_ranks_frame", ranks.astype({"entry": str, "rank": "int64"}))
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE delivery_ranks AS "
            "SELECT CAST(entry AS VARCHAR) AS entry, CAST(rank AS INTEGER) AS rank "
            "FROM delivery_ranks_frame"
        )
    finally:
        con.unregister("delivery_ranks_frame")
    feed = feed_of(source)
    in_group = transaction if commit_groups else (lambda _con: contextlib.nullcontext())
    bounds = [] if covered_tickers is None else _group_bounds(con)
    if not bounds:
        with in_group(con):
            result = _apply_incoming(
                con, feed, full_delivery, covered_tickers, covered_dates, run_id
            )
        con.execute("DROP TABLE IF EXISTS delivery_ranks")
        return result
    con.execute(f"ALTER TABLE {INCOMING_TABLE} RENAME TO {_STAGED_TABLE}")
    covered = sorted(map(str, covered_tickers))
    results = []
    for low, high in zip([None, *bounds], [*bounds, None], strict=True):
        group = [t for t in covered if (low is None or t >= low) and (high is None or t < high)]
        with in_group(con):
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {INCOMING_TABLE} AS SELECT * FROM {_STAGED_TABLE} "
                "WHERE ($low IS NULL OR ticker >= $low) AND ($high IS NULL OR ticker < $high)",
                {"low": low, "high": high},
            )
            results.append(_apply_incoming(con, feed, full_delivery, group, covered_dates, run_id))
    con.execute(f"DROP TABLE IF EXISTS {_STAGED_TABLE}")
    con.execute("DROP TABLE IF EXISTS delivery_ranks")
    return combine_results(results)


def _group_bounds(con: duckdb.DuckDBPyConnection) -> list[str]:
    """First tickers of the 2nd, 3rd, ... groups of staged rows (none: one group will do)."""
    rows = con.execute(
        f"""
        WITH per_ticker AS (SELECT ticker, count(*) AS n FROM {INCOMING_TABLE} GROUP BY ticker),
        running AS (SELECT ticker, sum(n) OVER (ORDER BY ticker) - n AS before FROM per_ticker)
        SELECT ticker FROM running
        QUALIFY before > 0 AND before // {APPLY_GROUP_ROWS}
            > lag(before // {APPLY_GROUP_ROWS}, 1, 0) OVER (ORDER BY ticker)
        ORDER BY ticker
        """
    ).fetchall()
    return [r[0] for r in rows]


def _apply_incoming(
    con: duckdb.DuckDBPyConnection,
    feed: str,
    full_delivery: bool,
    covered_tickers: Collection[str] | None,
    covered_dates: tuple[dt.date, dt.date] | None,
    run_id: str | None,
) -> DeliveryResult:
    """Apply ``delivery_incoming`` (with ``delivery_ranks`` in place); drops what it made."""
    _adopt_stored_prices(con, feed, covered_tickers)
    _feed_changes(con, feed, full_delivery, covered_tickers, covered_dates)
    _record_feed_rows(con, feed)
    _resolve(con)
    prices_changed = _write_prices(con, run_id)
    conflicts = _quarantine_conflicts(con)
    by_change = dict(
        con.execute("SELECT change, count(*) FROM delivery_changes GROUP BY change").fetchall()
    )
    first_affected = con.execute(
        "SELECT ticker, min(date) AS date FROM delivery_prices_diff WHERE changed "
        "GROUP BY ticker ORDER BY ticker"
    ).df()
    delivered = con.execute(f"SELECT count(*) FROM {INCOMING_TABLE}").fetchone()[0]
    for table in (
        INCOMING_TABLE,
        "delivery_changes",
        "delivery_candidates",
        "delivery_best",
        "delivery_resolved",
        "delivery_prices_diff",
    ):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    inserted, corrected = by_change.get("insert", 0), by_change.get("correction", 0)
    counts = DeliveryCounts(
        inserted=int(inserted),
        corrected=int(corrected),
        unchanged=int(delivered) - int(inserted) - int(corrected),
        retracted=int(by_change.get("retraction", 0)),
        conflicts=int(conflicts),
        prices_changed=int(prices_changed),
    )
    if first_affected.empty:
        first_affected = _no_affected()
    return DeliveryResult(counts, first_affected)


def affected_days(con: duckdb.DuckDBPyConnection, since: dt.datetime) -> pd.DataFrame:
    """Earliest day per ticker whose price was inserted, changed or withdrawn at or after ``since``.

    ``since`` is a naive timestamp in the warehouse's clock (``now()::TIMESTAMP``, e.g. read
    with ``SELECT now()::TIMESTAMP`` when a run starts). Returns columns ``ticker``,
    ``first_date`` sorted by ticker: recompute each ticker's factors from ``first_date`` (with
    the factors' warm-up before it), then predictions, weights and backtests from there.
    """
    return con.execute(
        """
        SELECT ticker, min(date) AS first_date FROM (
            SELECT ticker, date FROM prices WHERE ingested_at >= $since
            UNION ALL
            SELECT ticker, date FROM price_revisions WHERE revised_at >= $since
        ) GROUP BY ticker ORDER BY ticker
        """,
        {"since": since},
    ).df()
