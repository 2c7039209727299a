"""Factor tables: ``factor_definitions``, ``factor_values`` and the wide ``features`` view.

``factor_values(ticker, date, factor, value)`` holds one row per non-NULL value: a factor in its
warm-up, or one the data cannot support (close-only files have no ATR), simply has no row, and
reads as NULL in ``features``. A run replaces whole dates in one transaction, which keeps the
table free of duplicates and re-runs idempotent; there is no primary key because DuckDB's ART
index made writes 8x slower and the file 12x larger at 4M rows (an asset check counts
duplicates instead).

All functions take an open connection; the writers expect the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import re

import duckdb
import pandas as pd

from quant_assets.factors import FACTOR_REGISTRY, factor_definitions_frame
from quant_assets.factors.registry import FactorDefinition
from quant_assets.warehouse.dated import replace_dated_rows

PRICE_COLUMNS = ("ticker", "date", "open", "high", "low", "close", "adj_close", "volume")
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")


def write_factor_definitions(con: duckdb.DuckDBPyConnection) -> int:
    """Make ``factor_definitions`` hold exactly the registry; returns the factor count."""
    frame = factor_definitions_frame()
    frame.insert(1, "position", range(len(frame)))
    con.execute("DELETE FROM factor_definitions")
    con.register("incoming_definitions", frame)
    try:
        con.execute(
            'INSERT INTO factor_definitions SELECT name, position, "group", params, lookback, warmup, '
            "requires, description FROM incoming_definitions"
        )
    finally:
        con.unregister("incoming_definitions")
    return len(frame)


def refresh_features_view(con: duckdb.DuckDBPyConnection, names: list[str] | None = None) -> None:
    """(Re)create ``features``: one row per (ticker, date) with a value, one column per factor.

    The columns are the registry's factors in registry order (a pivot with an explicit column list,
    since DuckDB views cannot pivot on values read from the data).
    """
    names = list(FACTOR_REGISTRY) if names is None else names
    bad = [n for n in names if not _IDENTIFIER.match(n)]
    if bad:
        raise ValueError(f"factor names must be lower-case identifiers: {bad}")
    columns = ",\n".join(f"  max(value) FILTER (WHERE factor = '{n}') AS {n}" for n in names)
    con.execute(
        f"CREATE OR REPLACE VIEW features AS\nSELECT ticker, date,\n{columns}\n"
        "FROM factor_values GROUP BY ticker, date"
    )


def _usable(definition: FactorDefinition) -> str:
    return " AND ".join(f"{c} IS NOT NULL" for c in ("close", *definition.requires))


def read_prices_for_factors(
    con: duckdb.DuckDBPyConnection,
    start: dt.date,
    end: dt.date,
    definitions: list[FactorDefinition] | None = None,
) -> pd.DataFrame:
    """The split-adjusted price rows (``adjusted_prices``) that factors for dates
    ``start..end`` need, and no more.

    Every row dated in the window, plus, per ticker, the ``lookback - 1`` usable rows before
    ``start`` of each group of factors that need the same columns (rows where a column a factor
    needs is missing do not count toward its lookback; see :mod:`quant_assets.factors.panel`).
    Nothing dated after ``end`` is read, so no value can depend on a later bar.
    """
    definitions = list(FACTOR_REGISTRY.values()) if definitions is None else definitions
    groups: dict[str, int] = {}
    for d in definitions:
        groups[_usable(d)] = max(groups.get(_usable(d), 0), d.lookback)
    counts = ",\n".join(
        f"sum(CASE WHEN {cond} THEN 1 ELSE 0 END) OVER newest_first AS k{i}"
        for i, cond in enumerate(groups)
    )
    keep = " OR ".join(
        f"(({cond}) AND k{i} <= {lookback - 1})"
        for i, (cond, lookback) in enumerate(groups.items())
        if lookback > 1
    )
    columns = ", ".join(f"p.{c}" for c in PRICE_COLUMNS)
    if not keep:
        sql = f"SELECT {columns} FROM adjusted_prices p WHERE p.date BETWEEN ? AND ? ORDER BY 1, 2"
        return con.execute(sql, [start, end]).df()
    sql = f"""
        WITH history AS (
            SELECT ticker, date, {", ".join(c for c in PRICE_COLUMNS[2:])}, {counts}
            FROM adjusted_prices WHERE date < ?
            WINDOW newest_first AS (
                PARTITION BY ticker ORDER BY date DESC ROWS UNBOUNDED PRECEDING)
        ),
        keep_from AS (SELECT ticker, min(date) AS first FROM history WHERE {keep} GROUP BY ticker)
        SELECT {columns} FROM adjusted_prices p LEFT JOIN keep_from k USING (ticker)
        WHERE p.date <= ? AND (p.date >= ? OR p.date >= k.first)
        ORDER BY 1, 2
    """
    return con.execute(sql, [start, end, start]).df()


def replace_factor_values(
    con: duckdb.DuckDBPyConnection, values: pd.DataFrame, start: dt.date, end: dt.date
) -> tuple[int, int]:
    """Replace every ``factor_values`` row dated ``start..end`` with ``values``.

    ``values`` is :func:`quant_assets.factors.compute_factors` output restricted to the window.
    Returns ``(rows_deleted, rows_inserted)``.
    """
    outside = values["date"].lt(pd.Timestamp(start)) | values["date"].gt(pd.Timestamp(end))
    if outside.any():
        raise ValueError(f"{int(outside.sum())} factor values fall outside {start}..{end}")
    return replace_dated_rows(
        con,
        "factor_values",
        values,
        start,
        end,
        "CAST(ticker AS VARCHAR), CAST(date AS DATE), CAST(factor AS VARCHAR), value",
    )


def coverage(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Per registered factor: values and % of the window's price rows (ticker-days) they cover."""
    return con.execute(
        """
        WITH bars AS (SELECT count(*) AS n FROM prices WHERE date BETWEEN $start AND $end),
        got AS (
            SELECT factor, count(*) AS n_values FROM factor_values
            WHERE date BETWEEN $start AND $end GROUP BY factor
        )
        SELECT d.name AS factor, d."group", coalesce(g.n_values, 0) AS n_values,
               round(100.0 * coalesce(g.n_values, 0) / nullif(bars.n, 0), 2) AS coverage_pct
        FROM factor_definitions d CROSS JOIN bars LEFT JOIN got g ON g.factor = d.name
        ORDER BY coverage_pct DESC, d.name
        """,
        {"start": start, "end": end},
    ).df()


def latest_cross_section(con: duckdb.DuckDBPyConnection, on_or_before: dt.date) -> pd.DataFrame:
    """Summary of each factor across tickers on the newest date ``<= on_or_before`` with values."""
    return con.execute(
        """
        WITH latest AS (SELECT max(date) AS d FROM factor_values WHERE date <= ?)
        SELECT v.date, v.factor, count(*) AS tickers,
               avg(value) AS mean, stddev_samp(value) AS std, min(value) AS min,
               quantile_cont(value, 0.5) AS median, max(value) AS max,
               arg_min(ticker, value) AS lowest, arg_max(ticker, value) AS highest
        FROM factor_values v JOIN latest ON v.date = latest.d
        JOIN factor_definitions d ON d.name = v.factor
        GROUP BY v.date, v.factor ORDER BY min(d.position)
        """,
        [on_or_before],
    ).df()


def coverage_collapses(
    con: duckdb.DuckDBPyConnection,
    *,
    window: int = 20,
    ratio: float = 0.5,
    min_baseline: float = 0.2,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pd.DataFrame:
    """Dates on which a factor's coverage fell below ``ratio`` x its trailing median.

    Coverage on a date is the factor's values over the tickers with a price that day. The baseline
    is the median coverage of the previous ``window`` dates; only baselines of at least
    ``min_baseline`` count (a factor still warming up is not collapsing). ``start``/``end``
    limit the dates judged (a run judges the days it wrote); their baselines still read the
    ``window`` price dates before ``start``.
    """
    if window < 1:
        raise ValueError("window must be at least 1")
    return con.execute(
        f"""
        WITH lower AS (
            SELECT coalesce(min(date), DATE '0001-01-01') AS d FROM (
                SELECT DISTINCT date FROM prices
                WHERE $start IS NOT NULL AND date < $start
                ORDER BY date DESC LIMIT {int(window)}
            )
        ),
        upper AS (SELECT coalesce($end, DATE '9999-12-31') AS d),
        bars AS (
            SELECT date, count(*) AS n FROM prices
            WHERE date >= (SELECT d FROM lower) AND date <= (SELECT d FROM upper)
            GROUP BY date
        ),
        got AS (
            SELECT factor, date, count(*) AS n FROM factor_values
            WHERE date >= (SELECT d FROM lower) AND date <= (SELECT d FROM upper)
            GROUP BY factor, date
        ),
        grid AS (
            SELECT d.name AS factor, b.date, coalesce(g.n, 0) / b.n AS cov
            FROM factor_definitions d CROSS JOIN bars b
            LEFT JOIN got g ON g.factor = d.name AND g.date = b.date
            WHERE d.name IN (SELECT DISTINCT factor FROM got)
              AND b.date >= (SELECT min(date) FROM got)
              AND b.date <= (SELECT max(date) FROM got)
        ),
        scored AS (
            SELECT factor, date, cov,
                   median(cov) OVER (PARTITION BY factor ORDER BY date
                                     ROWS BETWEEN {int(window)} PRECEDING AND 1 PRECEDING) AS baseline
            FROM grid
        )
        SELECT factor, date, round(cov, 4) AS coverage, round(baseline, 4) AS baseline
        FROM scored
        WHERE baseline >= $min_baseline AND cov < $ratio * baseline
          AND ($start IS NULL OR date >= $start)
        ORDER BY date DESC, factor
        """,
        {"ratio": ratio, "min_baseline": min_baseline, "start": start, "end": end},
    ).df()


def duplicate_factor_rows(
    con: duckdb.DuckDBPyConnection, start: dt.date | None = None, end: dt.date | None = None
) -> int:
    """Number of (ticker, date, factor) keys held more than once (0 by construction), among
    dates ``start..end`` (open ends)."""
    return con.execute(
        "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM factor_values "
        "WHERE ($start IS NULL OR date >= $start) AND ($end IS NULL OR date <= $end) "
        "GROUP BY ticker, date, factor HAVING count(*) > 1)",
        {"start": start, "end": end},
    ).fetchone()[0]


def malformed_factor_values(
    con: duckdb.DuckDBPyConnection,
    start: dt.date | None = None,
    end: dt.date | None = None,
    limit: int = 20,
) -> tuple[int, pd.DataFrame]:
    """Rows dated ``start..end`` (open ends) that break the table's contract, and examples.

    A value must be finite, name a factor of ``factor_definitions`` and belong to a price bar
    (``prices`` holds its ticker and date): a value without a bar was computed from rows that
    are gone, or written by something other than the factor run. Returns ``(count, examples)``
    with at most ``limit`` example rows (``ticker, date, factor, value, problem``).
    """
    params = {"start": start, "end": end}
    bad = """
        FROM factor_values v
        LEFT JOIN factor_definitions d ON d.name = v.factor
        LEFT JOIN prices p ON p.ticker = v.ticker AND p.date = v.date
        WHERE ($start IS NULL OR v.date >= $start) AND ($end IS NULL OR v.date <= $end)
          AND (NOT isfinite(v.value) OR d.name IS NULL OR p.ticker IS NULL)
    """
    count = con.execute(f"SELECT count(*) {bad}", params).fetchone()[0]
    examples = con.execute(
        "SELECT v.ticker, v.date, v.factor, v.value, CASE "
        "WHEN NOT isfinite(v.value) THEN 'non-finite value' "
        "WHEN d.name IS NULL THEN 'factor not in factor_definitions' "
        f"ELSE 'no price bar for its ticker and date' END AS problem {bad} "
        f"ORDER BY v.date DESC, v.ticker, v.factor LIMIT {int(limit)}",
        params,
    ).df()
    return int(count), examples
