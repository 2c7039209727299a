"""The retrain sensor: a new training when enough new data has landed since the last one.

"Enough" is a ticker that the last training did not see, or ``QUANT_ASSETS_RETRAIN_DAYS``
(default 21) trading days of prices after its data end. The sensor never requests a training
while one is queued or running, and a run key per data state makes a request at most once.
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
from quant_assets.automation.settings import days_from_env
from quant_assets.ingest.seed import BENCHMARK_TICKER
from quant_assets.resources.warehouse import Warehouse

RETRAIN_DAYS_ENV = "QUANT_ASSETS_RETRAIN_DAYS"
IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]

retrain_job = define_asset_job(
    "retrain_models",
    selection=[trained_models],
    description="Walk-forward training of every model kind, tracked in MLflow.",
)


def retrain_days() -> int:
    return days_from_env(RETRAIN_DAYS_ENV, 21, minimum=1)


def training_in_flight(instance) -> bool:
    """Whether a queued or running run materializes ``trained_models``."""
    key = AssetKey("trained_models")
    for run in instance.get_runs(filters=RunsFilter(statuses=IN_FLIGHT)):
        if run.asset_selection and key in run.asset_selection:
            return True
        if run.job_name == retrain_job.name:
            return True
    return False


def new_data_since_training(con: duckdb.DuckDBPyConnection) -> dict:
    """What landed after the newest training: its data end, new tickers, new trading days."""
    last = con.execute(
        "SELECT training_id, data_end, tickers FROM trainings ORDER BY created_at DESC LIMIT 1"
    ).fetchone()
    universe = con.execute(
        "SELECT list(DISTINCT ticker ORDER BY ticker), max(date) FROM factor_values "
        "WHERE ticker <> ?",
        [BENCHMARK_TICKER],
    ).fetchone()
    tickers, newest = universe[0] or [], universe[1]
    if last is None:
        return {
            "training_id": None,
            "data_end": None,
            "new_tickers": tickers,
            "new_days": None,
            "newest": newest,
        }
    new_days = con.execute(
        "SELECT count(DISTINCT date) FROM factor_values WHERE date > ?", [last[1]]
    ).fetchone()[0]
    return {
        "training_id": last[0],
        "data_end": last[1],
        "new_tickers": sorted(set(tickers) - set(last[2])),
        "new_days": int(new_days),
        "newest": newest,
    }


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
    if state["newest"] is None:
        return SkipReason("no factor values yet: nothing to train on")
    reasons = []
    if state["training_id"] is None:
        reasons.append("no training yet")
    if state["new_tickers"] and state["training_id"] is not None:
        reasons.append(f"new tickers {', '.join(state['new_tickers'][:10])}")
    if state["new_days"] is not None and state["new_days"] >= threshold:
        reasons.append(f"{state['new_days']} new trading days since {state['data_end']}")
    if not reasons:
        return SkipReason(
            f"{state['new_days']} new trading days (< {threshold}) and no new tickers since "
            f"the training that ended {state['data_end']}"
        )
    key = f"retrain:{state['newest']}:{state['training_id']}:{','.join(state['new_tickers'])}"
    context.log.info(f"requesting a retraining: {'; '.join(reasons)}")
    return RunRequest(
        run_key=key,
        tags={"quant_assets/retrain_reason": "; ".join(reasons)[:200]},
    )
