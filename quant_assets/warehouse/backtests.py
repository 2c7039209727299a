"""Portfolio and backtest tables: ``weights``, ``backtest_equity``, ``backtest_trades``,
``backtest_metrics``, ``backtest_robustness``; each keyed by strategy and the backtest run."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from quant_assets.warehouse.dated import replace_dated_rows

DDL: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS weights (
        strategy      VARCHAR NOT NULL,
        model         VARCHAR NOT NULL,
        model_version VARCHAR NOT NULL,
        ticker        VARCHAR NOT NULL,
        date          DATE    NOT NULL,
        weight        DOUBLE  NOT NULL CHECK (isfinite(weight)),
        PRIMARY KEY (strategy, ticker, date)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS backtest_equity (
        backtest_id VARCHAR NOT NULL,
        strategy    VARCHAR NOT NULL,
        date        DATE    NOT NULL,
        equity      DOUBLE  NOT NULL,
        daily_return DOUBLE,
        PRIMARY KEY (backtest_id, strategy, date)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS backtest_trades (
        backtest_id VARCHAR NOT NULL,
        strategy    VARCHAR NOT NULL,
        date        DATE    NOT NULL,
        ticker      VARCHAR NOT NULL,
        shares      DOUBLE  NOT NULL,
        price       DOUBLE  NOT NULL,
        notional    DOUBLE  NOT NULL,
        fee         DOUBLE  NOT NULL,
        reason      VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS backtest_metrics (
        backtest_id    VARCHAR NOT NULL,
        strategy       VARCHAR NOT NULL,
        model          VARCHAR NOT NULL,
        model_versions VARCHAR NOT NULL,
        metric         VARCHAR NOT NULL,
        value          DOUBLE,
        PRIMARY KEY (backtest_id, strategy, metric)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS backtest_robustness (
        backtest_id VARCHAR NOT NULL,
        strategy    VARCHAR NOT NULL,
        analysis    VARCHAR NOT NULL,
        metric      VARCHAR NOT NULL,
        param       DOUBLE,
        point       DOUBLE,
        lower       DOUBLE,
        upper       DOUBLE
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS backtest_runs (
        backtest_id    VARCHAR PRIMARY KEY,
        training_id    VARCHAR,
        first_date     DATE,
        last_date      DATE,
        fee_bps        DOUBLE,
        slippage_bps   DOUBLE,
        created_at     TIMESTAMP NOT NULL,
        snapshot_id    BIGINT
    )
    """,
    # The DuckLake snapshot the backtest read (NULL on the DuckDB backend); older files lack it.
    "ALTER TABLE backtest_runs ADD COLUMN IF NOT EXISTS snapshot_id BIGINT",
)


def replace_weights(
    con: duckdb.DuckDBPyConnection, weights: pd.DataFrame, start: dt.date, end: dt.date
) -> tuple[int, int]:
    """Replace every order dated ``start..end`` with ``weights``; (deleted, inserted)."""
    return replace_dated_rows(
        con,
        "weights",
        weights,
        start,
        end,
        "strategy, model, model_version, CAST(ticker AS VARCHAR), CAST(date AS DATE), weight",
    )


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    if frame.empty:
        return
    con.register("incoming_rows", frame)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming_rows")
    finally:
        con.unregister("incoming_rows")


def write_backtest(
    con: duckdb.DuckDBPyConnection,
    *,
    backtest_id: str,
    run: dict,
    equity: pd.DataFrame,
    trades: pd.DataFrame,
    metrics: pd.DataFrame,
    robustness: pd.DataFrame,
) -> None:
    """Replace everything of ``backtest_id`` (a re-run of the same Dagster run is idempotent)."""
    for table in ("backtest_equity", "backtest_trades", "backtest_metrics", "backtest_robustness"):
        con.execute(f"DELETE FROM {table} WHERE backtest_id = ?", [backtest_id])
    con.execute("DELETE FROM backtest_runs WHERE backtest_id = ?", [backtest_id])
    con.execute(
        "INSERT INTO backtest_runs (backtest_id, training_id, first_date, last_date, fee_bps, "
        "slippage_bps, created_at, snapshot_id) VALUES (?, ?, ?, ?, ?, ?, now()::TIMESTAMP, ?)",
        [
            backtest_id,
            run["training_id"],
            run["first_date"],
            run["last_date"],
            run["fee_bps"],
            run["slippage_bps"],
            run.get("snapshot_id"),
        ],
    )
    _insert(con, "backtest_equity", equity.assign(backtest_id=backtest_id))
    _insert(con, "backtest_trades", trades.assign(backtest_id=backtest_id))
    _insert(con, "backtest_metrics", metrics.assign(backtest_id=backtest_id))
    _insert(con, "backtest_robustness", robustness.assign(backtest_id=backtest_id))


def latest_backtest_id(con: duckdb.DuckDBPyConnection) -> str | None:
    row = con.execute(
        "SELECT backtest_id FROM backtest_runs ORDER BY created_at DESC LIMIT 1"
    ).fetchone()
    return None if row is None else row[0]


def load_weights(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every stored order, long: ``strategy, model, model_version, ticker, date, weight``."""
    return con.execute(
        "SELECT strategy, model, model_version, ticker, date, weight FROM weights"
    ).df()


def out_of_sample_violations(
    con: duckdb.DuckDBPyConnection, training_id: str, limit: int = 20
) -> pd.DataFrame:
    """Up to ``limit`` predictions of ``training_id`` dated outside their model version's test
    block (``model, model_version, date``); there must be none."""
    return con.execute(
        """
        SELECT p.model, p.model_version, p.date FROM predictions p
        LEFT JOIN model_versions v
          ON v.training_id = p.training_id AND v.model = p.model
         AND v.model_version = p.model_version
         AND p.date >= v.test_start AND (v.test_end IS NULL OR p.date <= v.test_end)
        WHERE p.training_id = ? AND v.model IS NULL
        LIMIT ?
        """,
        [training_id, limit],
    ).df()
