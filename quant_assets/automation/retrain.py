"""The retrain sensor: a new training when enough new data has landed since the last one.

A retraining materializes ``trained_models`` and then ``rl_agents`` (the PPO agents trained on
its windows and joined to its model versions), in one run.

"Enough" is a ticker that the last training did not see, or ``QUANT_ASSETS_RETRAIN_DAYS``
(default 21) trading days of prices after its data end. The sensor never requests a training
while one is queued or running, and a run key per data state makes a request at most once.
The decision is :func:`retrain_reasons`, a plain function of what the warehouse holds.
"""

# No `from __future__ import annotations` here: Dagster reads these annotations at runtime.

import duckdb
from dagster import (
    AssetKey,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    sensor,
)

from quant_assets.assets.models import trained_models
from quant_assets.assets.rl import rl_agents
from quant_assets.ingest.seed import BENCHMARK_TICKER
from quant_assets.resources.warehouse import Warehouse
from quant_assets.settings import RETRAIN_DAYS_ENV, read_setting
from quant_assets.warehouse.training_data import DataSinceTraining, data_since_training

IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]

retrain_job = define_asset_job(
    "retrain_models",
    selection=[trained_models, rl_agents],
    description="Walk-forward training of every model kind, then the PPO agents on the same "
    "windows, tracked in MLflow.",
)


def retrain_days() -> int:
    return read_setting(RETRAIN_DAYS_ENV)


def training_in_flight(instance) -> bool:
    """Whether a queued or running run materializes ``trained_models``."""
    key = AssetKey("trained_models")
    for run in instance.get_runs(filters=RunsFilter(statuses=IN_FLIGHT)):
        if run.asset_selection and key in run.asset_selection:
            return True
        if run.job_name == retrain_job.name:
            return True
    return False


def new_data_since_training(con: duckdb.DuckDBPyConnection) -> DataSinceTraining:
    """What landed after the newest training: its data end, new tickers, new trading days."""
    return data_since_training(con, exclude_ticker=BENCHMARK_TICKER)


def retrain_reasons(state: DataSinceTraining, threshold_days: int) -> list[str]:
    """Why to train now (empty: not yet), given the data since the newest training."""
    if state.training_id is None:
        return ["no training yet"]
    reasons = []
    if state.new_tickers:
        reasons.append(f"new tickers {', '.join(state.new_tickers[:10])}")
    if state.new_days is not None and state.new_days >= threshold_days:
        reasons.append(f"{state.new_days} new trading days since {state.data_end}")
    return reasons


def retrain_run_key(state: DataSinceTraining) -> str:
    """One key per data state, so that the same state requests a training at most once."""
    return f"retrain:{state.newest}:{state.training_id}:{','.join(state.new_tickers)}"


@sensor(
    job=retrain_job,
    minimum_interval_seconds=600,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Requests a walk-forward retraining when a new ticker has factors, or when "
        f"${RETRAIN_DAYS_ENV} (default 21) trading days landed since the last training; never "
        "while a training is queued or running."
    ),
)
def retrain_sensor(context: SensorEvaluationContext, warehouse: Warehouse):
    if training_in_flight(context.instance):
        return SkipReason("a training is queued or running; waiting for it to finish")
    threshold = retrain_days()
    try:
        with warehouse.connect(read_only=True, wait=False) as con:
            state = new_data_since_training(con)
    except duckdb.IOException as exc:
        return SkipReason(f"warehouse busy ({exc}); trying again next tick")
    if state.newest is None:
        return SkipReason("no factor values yet: nothing to train on")
    reasons = retrain_reasons(state, threshold)
    if not reasons:
        return SkipReason(
            f"{state.new_days} new trading days (< {threshold}) and no new tickers since "
            f"the training that ended {state.data_end}"
        )
    context.log.info(f"requesting a retraining: {'; '.join(reasons)}")
    return RunRequest(
        run_key=retrain_run_key(state),
        tags={"quant_assets/retrain_reason": "; ".join(reasons)[:200]},
    )
