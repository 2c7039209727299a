"""Experiment tracking in MLflow: one run per model per walk-forward window, registered versions.

Plain Python on top of MLflow, with no Dagster import: the ``mlflow`` resource
(:class:`quant_assets.resources.mlflow.MLflowResource`) hands out an :class:`MlflowTracker`,
and assets call :func:`log_training`, :func:`start_training_run`, :func:`log_baseline` or
:func:`log_forecast_baseline` with it. See :mod:`quant_assets.tracking.store` for where the
runs live and :mod:`quant_assets.tracking.training` for what a run records.
"""

from __future__ import annotations

from quant_assets.tracking.baselines import (
    forecast_input_example,
    log_baseline,
    log_forecast_baseline,
)
from quant_assets.tracking.provenance import (
    RunProvenance,
    clean_params,
    clean_tags,
    redact_secrets,
)
from quant_assets.tracking.registry import (
    LoggedModel,
    latest_version,
    load_registered_model,
    model_version_uri,
    predict_with_model_version,
    registered_model_name,
)
from quant_assets.tracking.store import (
    DEFAULT_EXPERIMENT,
    MlflowTracker,
    default_mlflow_dir,
    default_tracking_uri,
)
from quant_assets.tracking.training import (
    EPOCH_METRICS,
    TrainingRun,
    log_seed_training,
    log_training,
    period_bounds,
    position_model_example,
    position_model_signature,
    start_training_run,
    training_params,
)

__all__ = [
    "DEFAULT_EXPERIMENT",
    "EPOCH_METRICS",
    "LoggedModel",
    "MlflowTracker",
    "RunProvenance",
    "TrainingRun",
    "clean_params",
    "clean_tags",
    "default_mlflow_dir",
    "default_tracking_uri",
    "forecast_input_example",
    "latest_version",
    "load_registered_model",
    "log_baseline",
    "log_forecast_baseline",
    "log_seed_training",
    "log_training",
    "model_version_uri",
    "period_bounds",
    "position_model_example",
    "position_model_signature",
    "predict_with_model_version",
    "redact_secrets",
    "registered_model_name",
    "start_training_run",
    "training_params",
]
