"""DDL of the warehouse. Idempotent: run on every write connection.

The table contracts mirror :mod:`quant_assets.ingest.schemas`; CHECK constraints make DuckDB
itself refuse an impossible price even if a writer skipped validation.
"""

from __future__ import annotations

import duckdb

DDL: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS prices (
        ticker      VARCHAR   NOT NULL,
        date        DATE      NOT NULL,
        open        DOUBLE    CHECK (open > 0),
        high        DOUBLE    CHECK (high > 0),
        low         DOUBLE    CHECK (low > 0),
        close       DOUBLE    NOT NULL CHECK (close > 0),
        adj_close   DOUBLE    CHECK (adj_close > 0),
        volume      DOUBLE    CHECK (volume >= 0),
        source      VARCHAR   NOT NULL,
        ingested_at TIMESTAMP NOT NULL,
        PRIMARY KEY (ticker, date)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS rejected_rows (
        source      VARCHAR   NOT NULL,
        location    VARCHAR   NOT NULL,
        ticker      VARCHAR,
        date        VARCHAR,
        rule        VARCHAR   NOT NULL,
        reason      VARCHAR   NOT NULL,
        raw_values  VARCHAR,
        ingested_at TIMESTAMP NOT NULL,
        PRIMARY KEY (source, location)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS raw_files (
        path          VARCHAR   PRIMARY KEY,
        sha256        VARCHAR   NOT NULL,
        size_bytes    BIGINT    NOT NULL,
        layout        VARCHAR   NOT NULL,
        rows_read     BIGINT    NOT NULL,
        rows_valid    BIGINT    NOT NULL,
        rows_rejected BIGINT    NOT NULL,
        tickers       VARCHAR[] NOT NULL,
        ingested_at   TIMESTAMP NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS instruments (
        ticker     VARCHAR PRIMARY KEY,
        first_date DATE    NOT NULL,
        last_date  DATE    NOT NULL,
        row_count  BIGINT  NOT NULL,
        source     VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS factor_definitions (
        name        VARCHAR PRIMARY KEY,
        position    INTEGER NOT NULL,
        "group"     VARCHAR NOT NULL,
        params      VARCHAR NOT NULL,
        lookback    INTEGER NOT NULL,
        warmup      INTEGER NOT NULL,
        requires    VARCHAR NOT NULL,
        description VARCHAR NOT NULL
    )
    """,
    # No primary key on purpose: see quant_assets.warehouse.factors.
    """
    CREATE TABLE IF NOT EXISTS factor_values (
        ticker VARCHAR NOT NULL,
        date   DATE    NOT NULL,
        factor VARCHAR NOT NULL,
        value  DOUBLE  NOT NULL CHECK (isfinite(value))
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS trainings (
        training_id    VARCHAR   PRIMARY KEY,
        dagster_run_id VARCHAR   NOT NULL,
        data_start     DATE      NOT NULL,
        data_end       DATE      NOT NULL,
        tickers        VARCHAR[] NOT NULL,
        factors        VARCHAR[] NOT NULL,
        device         VARCHAR   NOT NULL,
        config         VARCHAR   NOT NULL,
        created_at     TIMESTAMP NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS model_versions (
        training_id     VARCHAR NOT NULL,
        model           VARCHAR NOT NULL,
        family          VARCHAR NOT NULL,
        "window"        INTEGER NOT NULL,
        model_version   VARCHAR NOT NULL,
        registered_name VARCHAR,
        version         VARCHAR,
        mlflow_run_id   VARCHAR,
        train_start     DATE,
        train_end       DATE,
        test_start      DATE    NOT NULL,
        test_end        DATE,
        val_sharpe      DOUBLE,
        test_sharpe     DOUBLE,
        PRIMARY KEY (training_id, model, "window")
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS predictions (
        model         VARCHAR NOT NULL,
        model_version VARCHAR NOT NULL,
        training_id   VARCHAR NOT NULL,
        ticker        VARCHAR NOT NULL,
        date          DATE    NOT NULL,
        position      DOUBLE  NOT NULL CHECK (position BETWEEN -1 AND 1),
        PRIMARY KEY (model, ticker, date)
    )
    """,
)


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table that does not exist yet."""
    from quant_assets.warehouse.backtests import DDL as BACKTEST_DDL

    for statement in (*DDL, *BACKTEST_DDL):
        con.execute(statement)
