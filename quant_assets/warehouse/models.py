"""Model inputs and outputs in the warehouse: features and closes in, trainings and predictions out.

``trainings`` has one row per ``trained_models`` materialization (its ``training_id`` is the Dagster
run id); ``model_versions`` one row per model per walk-forward window, with the registered MLflow
version and the test block it serves; ``predictions`` the out-of-sample positions, keyed by the
model version that made them.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from quant_assets.ingest.seed import BENCHMARK_TICKER
from quant_assets.models import wide_closes, wide_opens
from quant_assets.warehouse.dated import replace_dated_rows


def load_closes(
    con: duckdb.DuckDBPyConnection,
    end: dt.date | None = None,
    *,
    exclude: tuple[str, ...] = (BENCHMARK_TICKER,),
) -> pd.DataFrame:
    """Wide closes (adjusted where a ticker has adjusted closes) up to ``end``, benchmark excluded."""
    bars = con.execute(
        "SELECT ticker, date, close, adj_close FROM adjusted_prices "
        "WHERE ($end IS NULL OR date <= $end) AND NOT list_contains($exclude, ticker)",
        {"end": end, "exclude": list(exclude)},
    ).df()
    return wide_closes(bars)


def load_benchmark(con: duckdb.DuckDBPyConnection, ticker: str = BENCHMARK_TICKER) -> pd.Series:
    """The benchmark's closes (the index seeded with the default data), empty if absent."""
    bars = con.execute(
        "SELECT date, coalesce(adj_close, close) AS close FROM adjusted_prices WHERE ticker = ? "
        "ORDER BY date",
        [ticker],
    ).df()
    return pd.Series(
        bars["close"].to_numpy(),
        index=pd.DatetimeIndex(bars["date"]).astype("datetime64[ns]"),
        name=ticker,
    )


def load_features(
    con: duckdb.DuckDBPyConnection,
    tickers: list[str],
    start: dt.date | None = None,
    end: dt.date | None = None,
    factors: list[str] | None = None,
) -> pd.DataFrame:
    """Long ``ticker, date, factor, value`` of ``tickers`` for dates ``start..end`` (open ends),
    restricted to ``factors`` when given."""
    frame = con.execute(
        "SELECT ticker, date, factor, value FROM factor_values "
        "WHERE list_contains($tickers, ticker) AND ($start IS NULL OR date >= $start) "
        "AND ($end IS NULL OR date <= $end) "
        "AND ($factors IS NULL OR list_contains($factors, factor))",
        {"tickers": tickers, "start": start, "end": end, "factors": factors},
    ).df()
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    return frame


def record_training(
    con: duckdb.DuckDBPyConnection,
    *,
    training_id: str,
    dagster_run_id: str,
    data_start: dt.date,
    data_end: dt.date,
    tickers: list[str],
    factors: list[str],
    device: str,
    config: dict,
    versions: pd.DataFrame,
    snapshot_id: int | None = None,
    importance: pd.DataFrame | None = None,
) -> None:
    """Write (or rewrite) one training, its model versions and their factor importance.

    ``snapshot_id`` is the DuckLake snapshot its data was read from (None on the DuckDB
    backend); ``importance``: ``model, window, factor, importance, method`` rows
    (``model_importance``); non-finite values (e.g. a block too short to score) are left out.
    """
    con.execute("DELETE FROM model_versions WHERE training_id = ?", [training_id])
    con.execute("DELETE FROM trainings WHERE training_id = ?", [training_id])
    con.execute(
        "INSERT INTO trainings (training_id, dagster_run_id, data_start, data_end, tickers, "
        "factors, device, config, created_at, snapshot_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP, ?)",
        [
            training_id,
            dagster_run_id,
            data_start,
            data_end,
            tickers,
            factors,
            device,
            json.dumps(config, sort_keys=True, default=str),
            snapshot_id,
        ],
    )
    con.execute("DELETE FROM model_importance WHERE training_id = ?", [training_id])
    if importance is not None and len(importance):
        con.register("incoming_importance", importance.assign(training_id=training_id))
        try:
            con.execute(
                'INSERT INTO model_importance SELECT training_id, model, "window", factor, '
                "importance, method FROM incoming_importance WHERE isfinite(importance)"
            )
        finally:
            con.unregister("incoming_importance")
    add_training_state_columns(con)
    insert_model_versions(con, versions.assign(training_id=training_id))


def load_model_importance(
    con: duckdb.DuckDBPyConnection, training_id: str | None = None
) -> pd.DataFrame:
    """Mean importance per model, factor and method over the windows of a training (default:
    the newest), with ``windows`` counted; sorted by model, method and importance descending."""
    return con.execute(
        "WITH chosen AS (SELECT coalesce($training_id, (SELECT training_id FROM trainings "
        "ORDER BY created_at DESC LIMIT 1)) AS training_id) "
        "SELECT model, method, factor, avg(importance) AS importance, "
        'count(DISTINCT "window") AS windows FROM model_importance '
        "WHERE training_id = (SELECT training_id FROM chosen) "
        "GROUP BY model, method, factor ORDER BY model, method, importance DESC, factor",
        {"training_id": training_id},
    ).df()


def record_best_params(
    con: duckdb.DuckDBPyConnection,
    *,
    study: str,
    kind: str,
    params: dict,
    value: float,
    n_trials: int,
) -> None:
    """Append a study's best parameters for ``kind`` (``hpo_best_params``)."""
    con.execute(
        "INSERT INTO hpo_best_params VALUES (?, ?, ?, ?, ?, now()::TIMESTAMP)",
        [study, kind, json.dumps(params, sort_keys=True), float(value), int(n_trials)],
    )


def load_best_params(con: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    """The newest stored best parameters of every tuned kind (kind to params)."""
    rows = con.execute(
        "SELECT kind, params_json FROM hpo_best_params "
        "QUALIFY row_number() OVER (PARTITION BY kind ORDER BY created_at DESC) = 1"
    ).fetchall()
    return {kind: json.loads(params) for kind, params in rows}


def latest_training(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The newest training (a dict of its row), or None before the first."""
    rows = con.execute("SELECT * FROM trainings ORDER BY created_at DESC LIMIT 1").df()
    return None if rows.empty else rows.iloc[0].to_dict()


def model_versions(con: duckdb.DuckDBPyConnection, training_id: str) -> pd.DataFrame:
    return con.execute(
        'SELECT * FROM model_versions WHERE training_id = ? ORDER BY model, "window"',
        [training_id],
    ).df()


def replace_predictions(
    con: duckdb.DuckDBPyConnection, positions: pd.DataFrame, start: dt.date, end: dt.date
) -> tuple[int, int]:
    """Replace every prediction dated ``start..end`` with ``positions``; (deleted, inserted)."""
    return replace_dated_rows(
        con,
        "predictions",
        positions,
        start,
        end,
        "model, model_version, training_id, CAST(ticker AS VARCHAR), CAST(date AS DATE), position",
    )


def load_predictions(
    con: duckdb.DuckDBPyConnection, start: dt.date | None = None, end: dt.date | None = None
) -> pd.DataFrame:
    frame = con.execute(
        "SELECT * FROM predictions WHERE ($start IS NULL OR date >= $start) "
        "AND ($end IS NULL OR date <= $end) ORDER BY model, date, ticker",
        {"start": start, "end": end},
    ).df()
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    return frame


# Networks read sequence_length dates of features before a date; 200 covers any config.
PREDICTION_HISTORY_DAYS = 200


def load_opens(
    con: duckdb.DuckDBPyConnection,
    end: dt.date | None = None,
    *,
    exclude: tuple[str, ...] = (BENCHMARK_TICKER,),
) -> pd.DataFrame:
    """Wide opens on :func:`~quant_assets.warehouse.models.load_closes`' basis.

    A ticker with adjusted closes has its opens scaled by the same day's ``adj_close / close``
    (the ratio the closes were adjusted by), so opens and closes of a day share one basis.
    """
    bars = con.execute(
        "SELECT ticker, date, open, close, adj_close FROM adjusted_prices "
        "WHERE ($end IS NULL OR date <= $end) AND NOT list_contains($exclude, ticker)",
        {"end": end, "exclude": list(exclude)},
    ).df()
    return wide_opens(bars)


@dataclass
class PredictionInputs:
    """What ``predictions`` needs for the trading days ``start..end``.

    ``training``: the newest ``trainings`` row; ``versions``: its ``model_versions``; ``closes``:
    wide closes of its tickers up to ``end`` (all history: the rules' signals need it);
    ``features``: long factor values from
    :data:`PREDICTION_HISTORY_DAYS` trading days before ``start`` to ``end``; ``in_window``: the
    trading days (with closes) to predict; ``opens``: wide opens on the closes' basis and axes
    (:func:`load_opens`), where the PPO agent's orders fill (None when no version is an RL
    agent).
    """

    training: dict
    versions: pd.DataFrame
    closes: pd.DataFrame
    features: pd.DataFrame
    in_window: pd.DatetimeIndex
    opens: pd.DataFrame | None = None


def load_prediction_inputs(
    con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date
) -> PredictionInputs:
    """Read :class:`PredictionInputs`; ValueError when no training is recorded yet."""
    training = latest_training(con)
    if training is None:
        raise ValueError("no trained models yet: materialize trained_models first")
    tickers = list(training["tickers"])
    closes = load_closes(con, end)
    closes = closes[[t for t in tickers if t in closes.columns]]
    first = closes.index.searchsorted(pd.Timestamp(start))
    first_needed = closes.index[max(0, first - PREDICTION_HISTORY_DAYS)] if len(closes) else None
    features = load_features(
        con,
        tickers,
        None if first_needed is None else first_needed.date(),
        end,
        factors=list(training["factors"]),
    )
    versions = model_versions(con, training["training_id"])
    # only the PPO agent trades at the opens: no second pass over the prices without one
    serves_rl = bool((versions["family"] == "rl").any())
    return PredictionInputs(
        training=training,
        versions=versions,
        closes=closes,
        features=features,
        in_window=closes.index[closes.index >= pd.Timestamp(start)],
        opens=(
            load_opens(con, end).reindex(index=closes.index, columns=closes.columns)
            if serves_rl
            else None
        ),
    )


# model_versions' own columns, in table order.
MODEL_VERSION_COLUMNS = (
    "training_id", "model", "family", "window", "model_version", "registered_name", "version",
    "mlflow_run_id", "train_start", "train_end", "test_start", "test_end", "val_sharpe",
    "test_sharpe",
)  # fmt: skip
# The training state of a network x window over its seeds (NULL for forecasters, rules and
# versions written before these columns existed); see models.walk_forward.seed_convergence.
TRAINING_STATE_COLUMNS = {
    "seeds": "INTEGER",
    "epochs_run": "DOUBLE",
    "epochs_run_max": "INTEGER",
    "best_epoch": "DOUBLE",
    "converged": "BOOLEAN",
    "converged_seeds": "INTEGER",
    "beat_init_seeds": "INTEGER",
    "initial_val_loss": "DOUBLE",
    "best_val_loss": "DOUBLE",
}
# Additive migration: an existing warehouse gains the columns (NULL in its older rows).
TRAINING_STATE_DDL = tuple(
    f"ALTER TABLE model_versions ADD COLUMN IF NOT EXISTS {name} {sql_type}"
    for name, sql_type in TRAINING_STATE_COLUMNS.items()
)


def add_training_state_columns(con: duckdb.DuckDBPyConnection) -> None:
    """Add the :data:`TRAINING_STATE_COLUMNS` to ``model_versions`` where missing (idempotent)."""
    for statement in TRAINING_STATE_DDL:
        con.execute(statement)


def insert_model_versions(con: duckdb.DuckDBPyConnection, versions: pd.DataFrame) -> None:
    """Append ``versions`` (the ``model_versions`` columns, ``training_id`` included).

    The training-state columns are written when ``versions`` has them (and the table too:
    :func:`add_training_state_columns`); absent ones stay NULL.
    """
    state = [c for c in TRAINING_STATE_COLUMNS if c in versions.columns]
    columns = ", ".join(f'"{c}"' for c in (*MODEL_VERSION_COLUMNS, *state))
    con.register("incoming_versions", versions)
    try:
        con.execute(
            f"INSERT INTO model_versions ({columns}) SELECT {columns} FROM incoming_versions"
        )
    finally:
        con.unregister("incoming_versions")


def load_training_state(
    con: duckdb.DuckDBPyConnection, training_id: str | None = None
) -> pd.DataFrame:
    """Per model x window of a training (default: the newest): family, test block and the
    training state (:data:`TRAINING_STATE_COLUMNS`, NaN where not recorded), for the report.

    Empty before the first training.
    """
    training_id = training_id or (latest_training(con) or {}).get("training_id")
    if training_id is None:
        return pd.DataFrame(
            columns=["model", "family", "window", "test_start", *TRAINING_STATE_COLUMNS]
        )
    frame = model_versions(con, training_id)
    for column in TRAINING_STATE_COLUMNS:
        if column not in frame.columns:
            frame[column] = np.nan
    return frame[["model", "family", "window", "test_start", *TRAINING_STATE_COLUMNS]]
