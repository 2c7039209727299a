"""DDL of the warehouse. Idempotent: run on every write connection.

The table contracts mirror :mod:`quant_assets.ingest.schemas`; CHECK constraints make DuckDB
itself refuse an impossible price even if a writer skipped validation.

Provenance, revisions and corporate actions (see :mod:`quant_assets.warehouse.deliveries` and
:mod:`quant_assets.warehouse.corporate_actions`):

``delivered_prices``
    The latest row each *feed* delivered for a (ticker, date): a feed is one price file (its
    ``source`` path) or FMP as a whole (every ``fmp/...`` source). ``prices`` is resolved from
    it: feeds that agree merge, a ranked feed (``source_priority``) beats a lower one, and
    feeds that disagree without a ranking leave no price and are quarantined as
    ``source_conflict``.
``price_revisions``
    Append-only history of what left ``prices``: ``old_*`` are the values superseded (or a
    losing source's values), ``new_*`` what ``prices`` holds now (NULL when nothing).
    ``kind`` is ``correction`` (the same feed re-delivered other values), ``retraction`` (a
    full delivery no longer holds the row), ``source_priority`` (a higher-ranked source won)
    or ``source_conflict`` (sources disagree; the stored row was withdrawn).
``corporate_actions``
    Splits and unit changes per (ticker, date, kind). ``factor`` is shares after per share
    before: a 4:1 split is 4, a 1:10 reverse split 0.1, a cents-to-dollars unit change 100;
    on that date the raw price divides by ``factor``. ``source`` is ``detected`` (found in
    the raw closes) or ``fmp``; ``status`` is ``detected`` or ``confirmed`` (FMP's split
    history agrees). ``applied``: the action adjusts the series (see
    :func:`quant_assets.ingest.corporate_actions.detect_corporate_actions`): unit changes,
    splits of 2:1 / 1:2 or more with the share volume shifting by the factor, and every
    FMP-confirmed split. A 3:2 or 2:3 ratio, or a split without volume, stays ``detected``
    and unapplied until FMP confirms it (a -33 % day is an ordinary crash as often as a split).
Primary keys on ``prices`` (ticker, date) and ``delivered_prices`` (ticker, date, feed) stay:
without them DuckDB (1.5.5) did not keep a SIGKILLed commit atomic (a large insert into the
unindexed table survived while the same transaction's quarantine and manifest rows did not;
``quant_assets_tests/test_faults/test_killed_write.py``). The delivery SQL also keeps the keys
unique by itself (every write deletes the keys it rewrites first), as it must on DuckLake,
which takes no primary keys.
``adjusted_prices`` (view)
    ``prices`` back-adjusted for every applied action after each row's date: prices divided
    by ``adjustment``, the product of the later applied actions' factors; volume multiplied
    by the product of the later *splits* only (a unit change does not change the share
    count). Raw ``prices`` stay as delivered.
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
    CREATE TABLE IF NOT EXISTS delivered_prices (
        ticker       VARCHAR   NOT NULL,
        date         DATE      NOT NULL,
        feed         VARCHAR   NOT NULL,
        open         DOUBLE,
        high         DOUBLE,
        low          DOUBLE,
        close        DOUBLE    NOT NULL,
        adj_close    DOUBLE,
        volume       DOUBLE,
        source       VARCHAR   NOT NULL,
        delivered_at TIMESTAMP NOT NULL,
        PRIMARY KEY (ticker, date, feed)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS price_revisions (
        ticker         VARCHAR   NOT NULL,
        date           DATE      NOT NULL,
        kind           VARCHAR   NOT NULL CHECK (
            kind IN ('correction', 'retraction', 'source_priority', 'source_conflict',
                     'unexplained_jump')),
        old_open       DOUBLE,
        old_high       DOUBLE,
        old_low        DOUBLE,
        old_close      DOUBLE,
        old_adj_close  DOUBLE,
        old_volume     DOUBLE,
        new_open       DOUBLE,
        new_high       DOUBLE,
        new_low        DOUBLE,
        new_close      DOUBLE,
        new_adj_close  DOUBLE,
        new_volume     DOUBLE,
        old_source     VARCHAR,
        new_source     VARCHAR,
        revised_at     TIMESTAMP NOT NULL,
        dagster_run_id VARCHAR
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS corporate_actions (
        ticker      VARCHAR   NOT NULL,
        date        DATE      NOT NULL,
        kind        VARCHAR   NOT NULL CHECK (kind IN ('split', 'unit_change')),
        factor      DOUBLE    NOT NULL CHECK (factor > 0),
        source      VARCHAR   NOT NULL CHECK (source IN ('detected', 'fmp')),
        status      VARCHAR   NOT NULL CHECK (status IN ('detected', 'confirmed')),
        applied     BOOLEAN   NOT NULL,
        detected_at TIMESTAMP NOT NULL,
        PRIMARY KEY (ticker, date, kind)
    )
    """,
    # Replaced on every connection so that a changed definition reaches existing warehouses.
    # Each applied action covers the rows from the previous applied action of its ticker up to
    # the day before its own date with the product of its own and every later factor: one
    # range join, no per-row product over all actions.
    """
    CREATE OR REPLACE VIEW adjusted_prices AS
    WITH applied AS (
        SELECT ticker, date, kind, factor,
               lag(date) OVER (PARTITION BY ticker ORDER BY date) AS previous_date
        FROM corporate_actions WHERE applied
    ),
    spans AS (
        SELECT ticker, previous_date, date AS until,
               product(factor) OVER later AS adjustment,
               product(CASE WHEN kind = 'split' THEN factor ELSE 1.0 END) OVER later
                   AS share_adjustment
        FROM applied
        WINDOW later AS (PARTITION BY ticker ORDER BY date DESC ROWS UNBOUNDED PRECEDING)
    )
    SELECT p.ticker, p.date,
           p.open / coalesce(s.adjustment, 1.0) AS open,
           p.high / coalesce(s.adjustment, 1.0) AS high,
           p.low / coalesce(s.adjustment, 1.0) AS low,
           p.close / coalesce(s.adjustment, 1.0) AS close,
           p.adj_close / coalesce(s.adjustment, 1.0) AS adj_close,
           p.volume * coalesce(s.share_adjustment, 1.0) AS volume,
           coalesce(s.adjustment, 1.0) AS adjustment, p.source
    FROM prices AS p
    -- the spans of one ticker do not overlap: at most one per row (none: no later action)
    LEFT JOIN spans AS s ON s.ticker = p.ticker AND p.date < s.until
          AND (s.previous_date IS NULL OR p.date >= s.previous_date)
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
        created_at     TIMESTAMP NOT NULL,
        snapshot_id    BIGINT
    )
    """,
    # The DuckLake snapshot the training read (NULL on the DuckDB backend); older files lack it.
    "ALTER TABLE trainings ADD COLUMN IF NOT EXISTS snapshot_id BIGINT",
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
    """
    CREATE TABLE IF NOT EXISTS model_importance (
        training_id VARCHAR NOT NULL,
        model       VARCHAR NOT NULL,
        "window"    INTEGER NOT NULL,
        factor      VARCHAR NOT NULL,
        importance  DOUBLE  NOT NULL,
        method      VARCHAR NOT NULL CHECK (method IN ('permutation', 'shap')),
        PRIMARY KEY (training_id, model, "window", factor, method)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS hpo_best_params (
        study       VARCHAR   NOT NULL,
        kind        VARCHAR   NOT NULL,
        params_json VARCHAR   NOT NULL,
        value       DOUBLE    NOT NULL,
        n_trials    INTEGER   NOT NULL,
        created_at  TIMESTAMP NOT NULL,
        PRIMARY KEY (study, kind, created_at)
    )
    """,
)


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table that does not exist yet."""
    from quant_assets.warehouse.backtests import DDL as BACKTEST_DDL
    from quant_assets.warehouse.ducklake import ducklake_ddl, is_ducklake

    adapt = ducklake_ddl if is_ducklake(con) else str
    for statement in (*DDL, *BACKTEST_DDL):
        con.execute(adapt(statement))
