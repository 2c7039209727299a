"""Walk-forward training of every configured model, each model x window an MLflow run.

The body of the ``trained_models`` asset as plain Python (no Dagster): for each walk-forward
window, every network is trained from ``plan.seeds`` seeds derived from that window's seed
(:func:`~quant_assets.models.walk_forward.window_seed`, :func:`~quant_assets.models.
walk_forward.train_seeds`) and its position is their average (the registered version is the
seed average, a :class:`~quant_assets.models.networks.SeedAveragedModel`, and every seed's loss
curve is logged), every forecaster is fitted and every rule is scored, each logged as
one MLflow run (nested under ``parent_run_id`` when given) with a registered version for the
fitted ones. With ``ensemble_size`` set, the best fitted members of each window on its validation
block (never its test block) are averaged into an ``ensemble`` (:func:`~quant_assets.models.
ensemble.build_ensemble`), logged with its members and weights as its version. With
``importance_repeats`` set, every fitted model's permutation importance on the test block (and
mean |SHAP| for tree models) is logged to its run. The result holds the ``model_versions`` rows,
the stitched out-of-sample Sharpe of every model and the factor importance.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone

from quant_assets.models.baselines import (
    BOOSTED_FORECASTERS,
    FORECAST_KINDS,
    RULES,
    _default_estimator,
    forecast_baseline,
    forecast_positions,
)
from quant_assets.models.boosted import boosted_estimator
from quant_assets.models.ensemble import build_ensemble
from quant_assets.models.evaluation import positions_sharpe
from quant_assets.models.importance import permutation_importance, shap_importance
from quant_assets.models.networks import NETWORK_KINDS
from quant_assets.models.prediction import predict_positions
from quant_assets.models.splits import Split
from quant_assets.models.tensors import Panel
from quant_assets.models.training import TrainConfig
from quant_assets.models.walk_forward import DEFAULT_SEEDS, train_seeds, window_config
from quant_assets.tracking.baselines import log_baseline, log_ensemble, log_forecast_baseline
from quant_assets.tracking.provenance import RunProvenance
from quant_assets.tracking.registry import LoggedModel
from quant_assets.tracking.store import MlflowTracker
from quant_assets.tracking.training import log_importance, log_seed_training

# What each model x window records beside model_versions' own columns.
# (see quant_assets.models.walk_forward.seed_convergence; means over the seeds where noted)
CONVERGENCE_COLUMNS = (
    "seed",
    "seeds",
    "epochs_run",
    "epochs_run_max",
    "best_epoch",
    "converged",
    "converged_seeds",
    "beat_init_seeds",
    "initial_val_loss",
    "best_val_loss",
)
IMPORTANCE_COLUMNS = ["model", "window", "factor", "importance", "method"]
# Forecasters shap.TreeExplainer explains (ridge is linear: permutation importance only).
TREE_FORECASTERS = ("random_forest", "hist_gradient_boosting", *BOOSTED_FORECASTERS)
ENSEMBLE = "ensemble"


@dataclass(frozen=True)
class ModelPlan:
    """Which models to train and how: network, forecaster and rule kinds, and the network config.

    ``train_config.seed`` is the base seed; window ``i`` trains with ``window_seed(seed, i)``.
    ``ensemble_size``: members of the per-window ensemble (0: none); ``importance_repeats``:
    shuffles per factor of the permutation importance (0: none), ``shap_rows`` the rows SHAP
    explains per tree model; ``tuned_params[kind]``: parameters (e.g. an Optuna study's best)
    that replace a kind's defaults (networks: ``TrainConfig`` fields; forecasters: estimator
    parameters, fitted as they are, without the default grid); ``device``: ``"cpu"`` or
    ``"cuda"`` for the boosted forecasters; ``seeds``: each network x window is trained from
    this many seeds (:func:`~quant_assets.models.walk_forward.seed_configs` of the window's
    config) and its position, and registered model, is their average.
    """

    networks: Sequence[str] = ()
    forecasters: Sequence[str] = ()
    rules: Sequence[str] = ()
    train_config: TrainConfig = field(default_factory=TrainConfig)
    ensemble_size: int = 0
    importance_repeats: int = 0
    shap_rows: int = 2000
    tuned_params: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    device: str = "cpu"
    seeds: int = DEFAULT_SEEDS

    def check(self) -> None:
        """Raise ValueError naming every unknown kind."""
        unknown = (
            set(self.networks) - set(NETWORK_KINDS)
            | set(self.forecasters) - set(FORECAST_KINDS)
            | set(self.rules) - set(RULES)
        )
        if unknown:
            raise ValueError(f"unknown model kinds {sorted(unknown)}")
        if self.seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {self.seeds}")


@dataclass
class TrainingOutcome:
    """``versions``: one row per model x window (``model_versions`` columns and the convergence
    record); ``summary``: ``model, oos_sharpe`` over the stitched test blocks."""

    versions: pd.DataFrame
    summary: pd.DataFrame
    importance: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=IMPORTANCE_COLUMNS)
    )


@dataclass(frozen=True)
class _Tracking:
    tracker: MlflowTracker
    provenance: RunProvenance
    compute: Mapping[str, object]
    parent_run_id: str | None


def _version_label(model: str, family: str, logged: LoggedModel | None) -> str:
    """``<registered name>/<version>``; an ensemble ``ensemble:<run id>``; a rule ``rule:<kind>``."""
    if logged is not None and logged.version is not None:
        return f"{logged.registered_name}/{logged.version}"
    if family == ENSEMBLE and logged is not None:
        return f"{ENSEMBLE}:{logged.run_id}"
    return f"rule:{model}"


def _version_row(
    panel: Panel, split: Split, model: str, family: str, logged: LoggedModel | None, last: bool
) -> dict:
    dates, fitted = panel.dates, family != "rule"
    registered = logged is not None and logged.version is not None
    return {
        "model": model,
        "family": family,
        "model_version": _version_label(model, family, logged),
        "registered_name": logged.registered_name if logged is not None else None,
        "version": str(logged.version) if registered else None,
        "mlflow_run_id": logged.run_id if logged is not None else None,
        "train_start": dates[split.train[0]].date() if fitted else None,
        "train_end": dates[split.train[-1]].date() if fitted else None,
        "test_start": dates[split.test[0]].date(),
        # the newest window serves every later date too
        "test_end": None if last else dates[split.test[-1]].date(),
    }


def _train_networks(panel, split, label, plan, config, tracking, log) -> list[tuple[dict, object]]:
    out = []
    for kind in plan.networks:
        tuned = dict(plan.tuned_params.get(kind, {}))
        ensemble = train_seeds(kind, panel, split, dataclasses.replace(config, **tuned), plan.seeds)
        logged = log_seed_training(
            tracking.tracker,
            ensemble,
            panel,
            window=label,
            provenance=tracking.provenance,
            compute=tracking.compute,
            parent_run_id=tracking.parent_run_id,
            tags={"seed": config.seed, "seeds": plan.seeds, "tuned": bool(tuned)},
        )
        if tuned:
            tracking.tracker.log_params(logged.run_id, {f"tuned_{k}": v for k, v in tuned.items()})
        state = ensemble.convergence
        record = {
            "family": "network",
            "model": kind,
            "logged": logged,
            "val_sharpe": ensemble.val_sharpe,
            "test_sharpe": ensemble.sharpe,
            "seed": config.seed,
            **state,
            "positions_fn": functools.partial(predict_positions, ensemble.model),
            "estimator": None,
        }
        log(
            f"{kind} window {label}: {state['seeds']} seeds, {state['epochs_run']:.1f} epochs on "
            f"average (max {state['epochs_run_max']}), {state['converged_seeds']} stopped early, "
            f"{state['beat_init_seeds']} beat init; val loss {state['initial_val_loss']:.3f} -> "
            f"{state['best_val_loss']:.3f}; test Sharpe {ensemble.sharpe:.2f} (seeds "
            f"{', '.join(f'{v:.2f}' for v in ensemble.seed_sharpes)}), "
            f"{logged.registered_name} v{logged.version}"
        )
        out.append((record, ensemble.positions))
    return out


def _fit_forecasters(panel, split, label, plan, config, tracking) -> list[tuple[dict, object]]:
    out = []
    for kind in plan.forecasters:
        tuned = dict(plan.tuned_params.get(kind, {}))
        result = forecast_baseline(
            kind,
            panel,
            split,
            **_tuned_estimator(kind, tuned, config.seed, plan.device),
            target_vol=config.target_vol,
            cost_bps=config.cost_bps,
            seed=config.seed,
            device=plan.device,
        )
        logged = log_forecast_baseline(
            tracking.tracker,
            result,
            panel,
            split,
            window=label,
            provenance=tracking.provenance,
            parent_run_id=tracking.parent_run_id,
            tags={"seed": config.seed, "tuned": bool(tuned)},
        )
        if tuned:
            tracking.tracker.log_params(logged.run_id, {f"tuned_{k}": v for k, v in tuned.items()})
        record = {
            "family": "forecaster",
            "model": kind,
            "logged": logged,
            "seed": config.seed,
            "val_sharpe": result.val_sharpe,
            "test_sharpe": result.test_sharpe,
            "positions_fn": functools.partial(forecast_positions, result.estimator),
            "estimator": result.estimator if kind in TREE_FORECASTERS else None,
        }
        out.append((record, result.positions))
    return out


def _tuned_estimator(kind: str, tuned: dict, seed: int, device: str) -> dict:
    """``forecast_baseline`` arguments fitting ``tuned`` parameters as they are (no grid)."""
    if not tuned:
        return {}
    if kind in BOOSTED_FORECASTERS:
        estimator = boosted_estimator(kind, tuned, seed=seed, device=device)
    else:
        estimator = clone(_default_estimator(kind, seed)[0]).set_params(**tuned)
    return {"estimator": estimator, "param_grid": {}}


def _importance(panel, split, record, plan, config) -> pd.DataFrame:
    """Permutation importance on the test block (and mean |SHAP| for trees) of one fitted model."""
    scoring = {"target_vol": config.target_vol, "cost_bps": config.cost_bps}
    perm = permutation_importance(
        panel,
        record["positions_fn"],
        split.test,
        n_repeats=plan.importance_repeats,
        seed=config.seed,
        **scoring,
    )
    tables = [perm[["factor", "importance"]].assign(method="permutation")]
    if record["estimator"] is not None:
        shap = shap_importance(
            record["estimator"], panel, split.test, max_rows=plan.shap_rows, seed=config.seed
        )
        tables.append(
            shap.rename(columns={"mean_abs_shap": "importance"})[["factor", "importance"]].assign(
                method="shap"
            )
        )
    return pd.concat(tables, ignore_index=True)


def _window_importance(panel, split, fitted, plan, config, tracking) -> list[pd.DataFrame]:
    if plan.importance_repeats < 1 or not len(split.test):
        return []
    out = []
    for record, logged in fitted:
        table = _importance(panel, split, record, plan, config)
        log_importance(tracking.tracker, logged.run_id, table)
        out.append(table.assign(model=record["model"]))
    return out


def _ensemble(panel, split, label, fitted, plan, config, tracking):
    """The window's ensemble of its fitted models, chosen on validation; [] when not asked."""
    if plan.ensemble_size < 1 or len(fitted) < 2:
        return []
    dates = panel.dates[np.concatenate([split.validation, split.test])]
    members = {record["model"]: record["positions_fn"](panel, dates) for record, _ in fitted}
    result = build_ensemble(
        panel,
        split,
        members,
        k=plan.ensemble_size,
        method="average",
        target_vol=config.target_vol,
        cost_bps=config.cost_bps,
    )
    versions = {
        record["model"]: {
            "family": record["family"],
            "registered_name": logged.registered_name,
            "version": None if logged.version is None else str(logged.version),
        }
        for record, logged in fitted
    }
    logged = log_ensemble(
        tracking.tracker,
        result,
        versions,
        panel,
        split,
        window=label,
        provenance=tracking.provenance,
        parent_run_id=tracking.parent_run_id,
    )
    record = {
        "family": ENSEMBLE,
        "model": ENSEMBLE,
        "logged": logged,
        "val_sharpe": result.val_sharpe,
        "test_sharpe": result.test_sharpe,
    }
    return [(record, result.positions)]


def _score_rules(panel, split, label, rule_positions, config, tracking):
    out = []
    test_dates = panel.dates[split.test]
    for kind, positions in rule_positions.items():
        test = positions[positions["date"].isin(test_dates)]
        sharpe = positions_sharpe(
            panel, test, target_vol=config.target_vol, cost_bps=config.cost_bps
        )
        logged = log_baseline(
            tracking.tracker,
            kind=kind,
            metrics={"test_sharpe": sharpe},
            panel=panel,
            split=split,
            window=label,
            provenance=tracking.provenance,
            parent_run_id=tracking.parent_run_id,
        )
        record = {
            "family": "rule",
            "model": kind,
            "logged": logged,
            "val_sharpe": None,
            "test_sharpe": sharpe,
        }
        out.append((record, test))
    return out


def train_and_track(
    panel: Panel,
    closes: pd.DataFrame,
    splits: Sequence[Split],
    plan: ModelPlan,
    tracker: MlflowTracker,
    *,
    provenance: RunProvenance | None = None,
    compute: Mapping[str, object] | None = None,
    parent_run_id: str | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> TrainingOutcome:
    """Train, fit and score ``plan``'s models on every split; one MLflow run per model x window.

    Parameters
    ----------
    panel : Panel
        Features and targets of every date (the splits index into ``panel.dates``).
    closes : DataFrame
        Wide closes, for the rules (their signals need the history before a test block).
    splits : sequence of Split
        The walk-forward windows, oldest first; the last one serves every later date.
    plan : ModelPlan
    tracker : MlflowTracker
    provenance : RunProvenance, optional
        Dagster run, asset, partition and code version, tagged on every run.
    compute : mapping, optional
        Device facts, tagged ``compute.*`` on the network runs.
    parent_run_id : str, optional
        Nest every run under this MLflow run (the Dagster run's).
    log : callable, optional
        Receives one line per trained network.

    Returns
    -------
    TrainingOutcome
    """
    plan.check()
    tracking = _Tracking(tracker, provenance or RunProvenance(), compute or {}, parent_run_id)
    rule_positions = {name: RULES[name](closes) for name in plan.rules}
    rows, oos, importance = [], {}, []
    for w, split in enumerate(splits):
        config = window_config(plan.train_config, w)
        label = str(panel.dates[split.test[0]].year)
        fitted = _train_networks(
            panel, split, label, plan, config, tracking, log
        ) + _fit_forecasters(panel, split, label, plan, config, tracking)
        pairs = [(record, record["logged"]) for record, _ in fitted]
        importance += [
            table.assign(window=w)
            for table in _window_importance(panel, split, pairs, plan, config, tracking)
        ]
        done = (
            fitted
            + _ensemble(panel, split, label, pairs, plan, config, tracking)
            + _score_rules(panel, split, label, rule_positions, config, tracking)
        )
        for record, positions in done:
            logged = record.pop("logged")
            record.pop("positions_fn", None)
            record.pop("estimator", None)
            row = _version_row(
                panel, split, record["model"], record["family"], logged, w == len(splits) - 1
            )
            rows.append({**row, **record, "window": w})
            oos.setdefault(record["model"], []).append(positions)
    return TrainingOutcome(
        versions=pd.DataFrame(rows),
        summary=_summary(panel, oos, plan.train_config),
        importance=(
            pd.concat(importance, ignore_index=True)[IMPORTANCE_COLUMNS]
            if importance
            else pd.DataFrame(columns=IMPORTANCE_COLUMNS)
        ),
    )


def _summary(panel: Panel, oos: dict[str, list[pd.DataFrame]], config: TrainConfig):
    sharpe = {
        model: positions_sharpe(
            panel,
            pd.concat(parts, ignore_index=True),
            target_vol=config.target_vol,
            cost_bps=config.cost_bps,
        )
        for model, parts in oos.items()
    }
    return pd.DataFrame({"model": list(sharpe), "oos_sharpe": list(sharpe.values())})
