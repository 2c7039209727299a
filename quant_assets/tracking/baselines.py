"""MLflow runs for the baselines: rule strategies (params and metrics) and fitted forecasters.

A forecast baseline's estimator is logged with a signature (pooled feature rows ``[n, F]`` in,
forecasts ``[n]`` out) in scikit-learn's safe ``skops`` format and registered as a new version of
``<experiment>-<kind>``, like the networks. Rule baselines (long-only, TSMOM, MACD) have nothing
to store but their params and scores. Tags and data range are those of
:mod:`quant_assets.tracking.training`.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import skops.io
from mlflow.models import infer_signature
from sklearn.base import BaseEstimator

from quant_assets.models.baselines import BOOSTED_FORECASTERS, ForecastBaselineResult
from quant_assets.models.ensemble import EnsembleResult
from quant_assets.models.splits import Split
from quant_assets.models.tensors import Panel
from quant_assets.tracking.provenance import RunProvenance
from quant_assets.tracking.registry import (
    LoggedModel,
    package_requirements,
    register_logged_model,
    registered_model_name,
)
from quant_assets.tracking.store import MlflowTracker
from quant_assets.tracking.training import MODEL_ARTIFACT, period_bounds, split_data_range


def forecast_input_example(panel: Panel, split: Split, rows: int = 5) -> np.ndarray:
    """The first ``rows`` pooled training rows ``[rows, F]`` (float64), as forecasters see them."""
    t, n = np.nonzero(panel.mask[split.train])
    t = split.train[t[:rows]]
    return panel.features[t, :, n[:rows]].astype(np.float64)


# Packages a registered forecaster needs to load (skops saves and reloads LightGBM/XGBoost too).
FORECASTER_REQUIREMENTS = ("scikit-learn", "numpy", "mlflow", "skops")
# The ensemble's version: its members (family, model, registered name and version) and weights.
ENSEMBLE_ARTIFACT = "ensemble.json"


def estimator_requirements(kind: str) -> tuple[str, ...]:
    """The pip packages of a registered forecaster of ``kind`` (its boosting library added)."""
    return FORECASTER_REQUIREMENTS + ((kind,) if kind in BOOSTED_FORECASTERS else ())


def log_baseline(
    tracker: MlflowTracker,
    *,
    kind: str,
    metrics: Mapping[str, float],
    params: Mapping[str, object] | None = None,
    panel: Panel | None = None,
    split: Split | None = None,
    estimator: BaseEstimator | None = None,
    input_example: np.ndarray | None = None,
    window: object = None,
    model_name: str | None = None,
    registered_name: str | None = None,
    provenance: RunProvenance | None = None,
    compute: Mapping[str, object] | None = None,
    tags: Mapping[str, object] | None = None,
    parent_run_id: str | None = None,
) -> LoggedModel:
    """Write one baseline run; log and register ``estimator`` when given.

    Parameters
    ----------
    tracker : MlflowTracker
    kind : str
        ``"long_only"``, ``"tsmom"``, ``"macd"``, ``"ridge"``...; a param and a tag.
    metrics : mapping
        E.g. ``{"val_sharpe": ..., "test_sharpe": ...}``; None values are skipped.
    params : mapping, optional
        E.g. ``{"lookback": 252}``.
    panel, split : optional
        Give the period bounds as params and the default data range.
    estimator : sklearn estimator, optional
        Logged (skops format) and registered; needs ``input_example``, or ``panel`` and
        ``split`` to build one (:func:`forecast_input_example`).
    window, model_name, registered_name, provenance, compute, tags, parent_run_id
        As for :func:`~quant_assets.tracking.training.start_training_run`.

    Returns
    -------
    LoggedModel
        Without a registered version when no estimator was given.
    """
    provenance = provenance or RunProvenance()
    bounds = {}
    if panel is not None and split is not None:
        provenance = provenance.with_data_range(*split_data_range(panel, split))
        bounds = period_bounds(panel, split)
    run_name = model_name or (kind if window is None else f"{kind}-{window}")
    run_tags = provenance.run_tags(kind, window, compute=compute, extra=tags)
    all_params = {**(params or {}), "kind": kind, "window": window, **bounds}
    with tracker.start_run(run_name, tags=run_tags, parent_run_id=parent_run_id) as run_id:
        tracker.log_params(run_id, all_params)
        tracker.log_metrics(run_id, metrics)
        if estimator is None:
            return register_logged_model(tracker, run_id, None, None)
        if input_example is None:
            if panel is None or split is None:
                raise ValueError("logging an estimator needs input_example, or panel and split")
            input_example = forecast_input_example(panel, split)
        registered_name = registered_name or registered_model_name(kind, tracker.experiment_name)
        info = mlflow.sklearn.log_model(
            estimator,
            name=MODEL_ARTIFACT,
            signature=infer_signature(input_example, estimator.predict(input_example)),
            input_example=input_example,
            # We fitted these estimators ourselves: trust the types skops flags (tree arrays).
            skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(estimator)),
            pip_requirements=package_requirements(*estimator_requirements(kind)),
            await_registration_for=0,
        )
        version_tags = {"kind": kind, "window": window, "run_id": run_id, **provenance.tags()}
        return register_logged_model(
            tracker, run_id, info, registered_name, {**version_tags, **bounds}
        )


def log_forecast_baseline(
    tracker: MlflowTracker,
    result: ForecastBaselineResult,
    panel: Panel,
    split: Split,
    **kwargs,
) -> LoggedModel:
    """Log a :func:`~quant_assets.models.forecast_baseline` result and register its estimator.

    Params: the chosen hyper-parameters (``best_params``); metrics: ``val_sharpe``,
    ``test_sharpe`` and ``cv_best_mse`` (mean squared error of the chosen parameters across the
    time-ordered folds, target in units of daily vol). ``kwargs`` go to :func:`log_baseline`.
    """
    best = result.cv_results.loc[result.cv_results["rank_test_score"].idxmin()]
    metrics = {
        "val_sharpe": result.val_sharpe,
        "test_sharpe": result.test_sharpe if np.isfinite(result.test_sharpe) else None,
        "cv_best_mse": -float(best["mean_test_score"]),
    }
    return log_baseline(
        tracker,
        kind=result.kind,
        metrics=metrics,
        params=result.best_params,
        panel=panel,
        split=split,
        estimator=result.estimator,
        **kwargs,
    )


def log_ensemble(
    tracker: MlflowTracker,
    result: EnsembleResult,
    members: Mapping[str, Mapping[str, object]],
    panel: Panel,
    split: Split,
    **kwargs,
) -> LoggedModel:
    """Log an ensemble of one window: its members and weights are its version.

    ``members[name]`` holds the member's ``family``, ``registered_name`` and ``version`` (its
    ``model_versions`` row of the same window). Params: ``method``, ``members`` and one
    ``weight_<member>`` each, and the same as :data:`ENSEMBLE_ARTIFACT` (JSON), which
    :func:`ensemble_positions` reads back; metrics: ``val_sharpe``, ``test_sharpe`` and every
    member's ``val_sharpe_<member>`` (the validation Sharpe it was chosen on). Not registered:
    there is no estimator, only the recipe. ``kwargs`` go to :func:`log_baseline`.
    """
    spec = ensemble_spec(result, members)
    metrics = {
        "val_sharpe": result.val_sharpe,
        "test_sharpe": result.test_sharpe if np.isfinite(result.test_sharpe) else None,
        **{f"val_sharpe_{m}": v for m, v in result.member_val_sharpes.items()},
    }
    params = {
        "method": result.method,
        "members": ",".join(result.members),
        **{f"weight_{m}": w for m, w in result.weights.items()},
    }
    logged = log_baseline(
        tracker, kind="ensemble", metrics=metrics, params=params, panel=panel, split=split, **kwargs
    )
    tracker.client.log_text(logged.run_id, json.dumps(spec, sort_keys=True), ENSEMBLE_ARTIFACT)
    return logged


def ensemble_spec(
    result: EnsembleResult, members: Mapping[str, Mapping[str, object]]
) -> dict[str, object]:
    """What :data:`ENSEMBLE_ARTIFACT` holds: method and, per chosen member, its version and weight."""
    return {
        "method": result.method,
        "members": [
            {
                "model": name,
                "family": str(members[name]["family"]),
                "registered_name": members[name]["registered_name"],
                "version": members[name]["version"],
                "weight": float(result.weights[name]),
            }
            for name in result.members
        ],
    }


def load_ensemble_spec(tracker: MlflowTracker, run_id: str) -> dict[str, object]:
    """The :data:`ENSEMBLE_ARTIFACT` of an ensemble's run."""
    with tempfile.TemporaryDirectory() as folder:
        path = tracker.client.download_artifacts(run_id, ENSEMBLE_ARTIFACT, folder)
        return json.loads(Path(path).read_text())


def ensemble_positions(
    tracker: MlflowTracker,
    run_id: str,
    member_positions: Callable[[object], pd.DataFrame],
) -> pd.DataFrame:
    """An ensemble version's positions: the weighted average of its members' positions.

    ``member_positions(member)`` returns the positions of one member (an object with
    ``model``, ``family``, ``registered_name``, ``version``) on the dates wanted. Where a member
    has no position in a cell the others' weights are renormalised (as in
    :func:`~quant_assets.models.ensemble.combine_positions`).
    """
    spec = load_ensemble_spec(tracker, run_id)
    frames = []
    for member in spec["members"]:
        got = member_positions(SimpleNamespace(**member))
        frames.append(got[["date", "ticker", "position"]].assign(weight=member["weight"]))
    if not frames:
        return pd.DataFrame(columns=["date", "ticker", "position"])
    stacked = pd.concat(frames, ignore_index=True)
    stacked = stacked[np.isfinite(stacked["position"].astype(float))]
    stacked["weighted"] = stacked["position"] * stacked["weight"]
    sums = stacked.groupby(["date", "ticker"], as_index=False, observed=True)[
        ["weighted", "weight"]
    ].sum()
    sums = sums[sums["weight"] > 0]
    return sums.assign(position=sums["weighted"] / sums["weight"])[["date", "ticker", "position"]]
