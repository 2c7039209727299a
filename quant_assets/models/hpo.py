"""Hyper-parameter search with Optuna, scored by purged cross-validation on the training block.

Plain functions, no Dagster or MLflow: :func:`search_space` per model kind,
:func:`make_objective` (a function of an Optuna trial) and :func:`run_study` (TPE sampler, median
or Hyperband pruner, storage by URL, a budget in trials and seconds, callbacks after each trial,
e.g. to log it as a nested MLflow run).

The objective never sees a split's validation or test block. Forecasters are scored on purged
k-fold CV inside ``split.train`` (:func:`~quant_assets.models.purged_cv.purged_kfold_splits`);
networks, which train on contiguous sequences, on purged walk-forward folds inside it. Each fold's
score is the Sharpe of the fold's positions at a fixed scoring cost (``cost_bps`` of the
objective, not the tuned loss penalty), and the running mean is reported after every fold, so a
pruner can stop a poor trial early. The trial's value is the mean over folds (maximised).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from sklearn.base import clone

from quant_assets.models.baselines import (
    BOOSTED_FORECASTERS,
    FORECASTERS,
    _default_estimator,
    _rows,
    _sign_positions,
)
from quant_assets.models.boosted import fit_boosted
from quant_assets.models.evaluation import positions_sharpe
from quant_assets.models.purged_cv import (
    purged_cv_within,
    purged_row_folds,
    split_from_walk_forward_fold,
)
from quant_assets.models.splits import Split
from quant_assets.models.tensors import Panel

NETWORK_KINDS_TUNED = ("mlp", "lstm", "tft")
PRUNERS = ("median", "hyperband", "none")
Objective = Callable[[optuna.Trial], float]
TrialCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


def _log_float(low: float, high: float) -> FloatDistribution:
    return FloatDistribution(low, high, log=True)


_TREE_COMMON = {
    "learning_rate": _log_float(0.01, 0.3),
    "n_estimators": IntDistribution(50, 500, log=True),
    "subsample": FloatDistribution(0.5, 1.0),
    "colsample_bytree": FloatDistribution(0.5, 1.0),
    "reg_lambda": _log_float(1e-3, 10.0),
}
_SPACES: dict[str, dict[str, BaseDistribution]] = {
    "lightgbm": _TREE_COMMON
    | {
        "num_leaves": IntDistribution(4, 64, log=True),
        "min_child_samples": IntDistribution(20, 1000, log=True),
    },
    "xgboost": _TREE_COMMON
    | {
        "max_depth": IntDistribution(2, 8),
        "min_child_weight": _log_float(1.0, 1000.0),
    },
    "ridge": {"ridge__alpha": _log_float(1e-2, 1e5)},
    "random_forest": {
        "max_depth": IntDistribution(2, 10),
        "min_samples_leaf": IntDistribution(20, 1000, log=True),
        "max_features": FloatDistribution(0.2, 1.0),
    },
    "hist_gradient_boosting": {
        "max_depth": IntDistribution(2, 8),
        "learning_rate": _log_float(0.01, 0.3),
        "max_iter": IntDistribution(50, 500, log=True),
        "min_samples_leaf": IntDistribution(20, 1000, log=True),
    },
}
_NETWORK_SPACE: dict[str, BaseDistribution] = {
    "hidden_size": CategoricalDistribution([8, 16, 32, 64]),
    "learning_rate": _log_float(1e-4, 1e-2),
    "l1": _log_float(1e-7, 1e-3),
    "dropout": FloatDistribution(0.0, 0.5),
    "cost_bps": FloatDistribution(0.0, 10.0),  # turnover penalty of the loss, not of the score
}


def search_space(kind: str) -> dict[str, BaseDistribution]:
    """The Optuna distributions searched for a model kind (parameter name to distribution).

    Forecaster names are their estimators' parameters; network names are
    :class:`~quant_assets.models.training.TrainConfig` fields.
    """
    if kind in _SPACES:
        return dict(_SPACES[kind])
    if kind in NETWORK_KINDS_TUNED:
        return dict(_NETWORK_SPACE)
    raise ValueError(
        f"no search space for {kind!r}; expected one of "
        f"{FORECASTERS + BOOSTED_FORECASTERS + NETWORK_KINDS_TUNED}"
    )


def suggest_params(trial: optuna.Trial, space: dict[str, BaseDistribution]) -> dict:
    """Draw one value per parameter of ``space`` from ``trial``."""
    params = {}
    for name, dist in space.items():
        if isinstance(dist, IntDistribution):
            params[name] = trial.suggest_int(
                name, dist.low, dist.high, step=dist.step, log=dist.log
            )
        elif isinstance(dist, FloatDistribution):
            params[name] = trial.suggest_float(
                name, dist.low, dist.high, step=dist.step, log=dist.log
            )
        elif isinstance(dist, CategoricalDistribution):
            params[name] = trial.suggest_categorical(name, dist.choices)
        else:
            raise TypeError(f"unsupported distribution {type(dist).__name__} for {name!r}")
    return params


def _report(trial: optuna.Trial, scores: list[float]) -> None:
    trial.report(float(np.mean(scores)), step=len(scores) - 1)
    if trial.should_prune():
        trial.set_user_attr("fold_scores", scores)
        raise optuna.TrialPruned(f"pruned after fold {len(scores) - 1}")


def make_objective(
    kind: str,
    panel: Panel,
    split: Split,
    *,
    n_folds: int = 4,
    label_horizon: int = 1,
    embargo: int | None = None,
    target_vol: float = 0.15,
    cost_bps: float = 0.0,
    seed: int = 0,
    device: str = "cpu",
    n_jobs: int = 2,
    space: dict[str, BaseDistribution] | None = None,
    train_config=None,
    train_network: Callable | None = None,
) -> Objective:
    """The objective of one model kind on one split: mean purged-CV Sharpe of suggested params.

    Parameters
    ----------
    kind : str
        A forecaster (``ridge``, ``random_forest``, ``hist_gradient_boosting``, ``lightgbm``,
        ``xgboost``) or a network (``mlp``, ``lstm``, ``tft``).
    panel, split : Panel, Split
        Folds are cut from ``split.train`` only.
    n_folds, label_horizon, embargo : int
        Purged CV settings; ``embargo`` defaults to ``split.embargo``.
    target_vol, cost_bps : float
        Scoring of each fold's positions.
    seed, device, n_jobs :
        Passed to the models (networks take seed and device from ``train_config``).
    space : dict, optional
        Distributions searched (default :func:`search_space`).
    train_config : TrainConfig, optional
        Base network settings the suggestions override (default ``TrainConfig()``).
    train_network : callable, optional
        ``train_network(kind, panel, split, config) -> result with .model`` (default
        :func:`~quant_assets.models.training.train_model`).

    Returns
    -------
    callable
        ``objective(trial) -> float``, to maximise. Fold scores go to the trial's user attribute
        ``fold_scores``.
    """
    space = search_space(kind) if space is None else space
    embargo = split.embargo if embargo is None else embargo
    scoring = {"target_vol": target_vol, "cost_bps": cost_bps}
    if kind in FORECASTERS + BOOSTED_FORECASTERS:
        date_folds = purged_cv_within(
            split.train, n_folds, label_horizon=label_horizon, embargo=embargo
        )
        t, n, x = _rows(panel, split.train, panel.mask)
        y = panel.normalised_next_returns()[t, n]
        row_folds = purged_row_folds(t, date_folds)

        def fit(params: dict, rows: np.ndarray):
            if kind in BOOSTED_FORECASTERS:
                return fit_boosted(
                    kind,
                    x[rows],
                    y[rows],
                    params=params,
                    seed=seed,
                    device=device,
                    n_jobs=n_jobs,
                ).estimator
            estimator = clone(_default_estimator(kind, seed)[0]).set_params(**params)
            return estimator.fit(x[rows], y[rows])

        def objective(trial: optuna.Trial) -> float:
            params = suggest_params(trial, space)
            scores: list[float] = []
            for (_, test_dates), (fit_rows, _) in zip(date_folds, row_folds, strict=True):
                estimator = fit(params, fit_rows)
                positions = _sign_positions(estimator, panel, test_dates)
                scores.append(positions_sharpe(panel, positions, **scoring))
                _report(trial, scores)
            trial.set_user_attr("fold_scores", scores)
            return float(np.mean(scores))

        return objective

    if kind in NETWORK_KINDS_TUNED:
        from quant_assets.models.prediction import predict_positions
        from quant_assets.models.training import TrainConfig, train_model

        base = TrainConfig() if train_config is None else train_config
        train = train_model if train_network is None else train_network
        folds = [
            split_from_walk_forward_fold(fit_dates, test_dates, split.embargo)
            for fit_dates, test_dates in purged_cv_within(
                split.train,
                n_folds,
                label_horizon=label_horizon,
                embargo=embargo,
                walk_forward=True,
            )
        ]

        def network_objective(trial: optuna.Trial) -> float:
            import dataclasses

            config = dataclasses.replace(base, **suggest_params(trial, space))
            scores: list[float] = []
            for fold in folds:
                result = train(kind, panel, fold, config)
                dates = panel.dates[fold.validation]
                positions = predict_positions(result.model, panel, dates)
                scores.append(positions_sharpe(panel, positions, **scoring))
                _report(trial, scores)
            trial.set_user_attr("fold_scores", scores)
            return float(np.mean(scores))

        return network_objective
    search_space(kind)  # raises the unknown-kind error
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class BestParams:
    """The outcome of a study: the best trial's parameters and value, and the trial counts."""

    study_name: str
    storage_url: str | None
    params: dict
    value: float
    best_trial: int
    n_trials: int
    n_complete: int
    n_pruned: int
    n_failed: int


def make_pruner(pruner: str | optuna.pruners.BasePruner, max_steps: int | None = None):
    """``"median"`` (MedianPruner, 3 startup trials), ``"hyperband"`` (steps = folds) or ``"none"``."""
    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    if pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    if pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_steps or "auto")
    if pruner == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"pruner must be one of {PRUNERS} or an optuna pruner, got {pruner!r}")


def sqlite_url(path) -> str:
    """The SQLAlchemy URL of an SQLite file (the default persistent storage)."""
    return f"sqlite:///{path}"


def run_study(
    objective: Objective,
    *,
    study_name: str,
    storage_url: str | None = None,
    n_trials: int | None = 20,
    timeout_s: float | None = None,
    seed: int = 0,
    pruner: str | optuna.pruners.BasePruner = "median",
    max_steps: int | None = None,
    direction: str = "maximize",
    callbacks: Sequence[TrialCallback] = (),
) -> BestParams:
    """Run (or resume) a study and return its best parameters.

    Parameters
    ----------
    objective : callable
        ``objective(trial) -> float``, e.g. from :func:`make_objective`.
    study_name : str
        Name in the storage; an existing study of that name is resumed (its trials count).
    storage_url : str, optional
        SQLAlchemy URL (``sqlite:///path/hpo.db``, ``postgresql://user@host/db``); None keeps the
        study in memory.
    n_trials, timeout_s : int, float, optional
        Budget of this call: at most ``n_trials`` new trials, stopping new ones after
        ``timeout_s`` seconds (the running trial finishes). At least one must be set.
    seed : int
        Seed of the TPE sampler.
    pruner : {"median", "hyperband", "none"} or optuna pruner
    max_steps : int, optional
        Steps (folds) a trial reports, Hyperband's ``max_resource``.
    callbacks : sequence of callable
        ``callback(study, frozen_trial)`` after every trial, complete, pruned or failed (e.g. log it
        as a nested MLflow run).

    Raises
    ------
    ValueError
        Without a budget, or when no trial completed.
    """
    if n_trials is None and timeout_s is None:
        raise ValueError("give a budget: n_trials and/or timeout_s")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=study_name,
        storage=storage_url,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=make_pruner(pruner, max_steps),
        direction=direction,
        load_if_exists=True,
    )
    study.optimize(
        objective,
        n_trials=n_trials,
        timeout=timeout_s,
        callbacks=list(callbacks),
        catch=(ValueError, FloatingPointError),
        gc_after_trial=False,
    )
    states = [trial.state for trial in study.trials]
    count = {state: states.count(state) for state in optuna.trial.TrialState}
    if count[optuna.trial.TrialState.COMPLETE] == 0:
        raise ValueError(f"study {study_name!r} has no complete trial")
    best = study.best_trial
    return BestParams(
        study_name=study_name,
        storage_url=storage_url,
        params=dict(best.params),
        value=float(best.value),
        best_trial=best.number,
        n_trials=len(states),
        n_complete=count[optuna.trial.TrialState.COMPLETE],
        n_pruned=count[optuna.trial.TrialState.PRUNED],
        n_failed=count[optuna.trial.TrialState.FAIL],
    )
