"""LightGBM and XGBoost forecasters: the ridge baseline's rows and target, boosted trees.

Same rows as :func:`~quant_assets.models.baselines.forecast_baseline`: every masked
``(date, asset)`` cell of the training block, features = the panel's factors, target = the
next-day return in units of ex-ante daily vol; the position is the forecast's sign. The number of
trees is chosen by early stopping on the validation block (mean squared error), and each point of
a small grid is fitted that way and the one with the lowest validation error kept.

Runs are deterministic given ``seed`` (LightGBM ``deterministic=True`` with row-wise histograms;
XGBoost ``hist``) and use ``n_jobs`` threads. ``device="cuda"`` trains XGBoost on the GPU
(``device="cuda"``). LightGBM's pip wheel has no CUDA learner, only the OpenCL one
(``device_type="gpu"``), which needs an OpenCL runtime on the machine; it is used only when a
one-tree probe fit succeeds, otherwise LightGBM trains on CPU with a warning:
:func:`lightgbm_device` says which device a LightGBM run gets, and results record it. A fitted
XGBoost estimator is set back to CPU prediction, so it scores (and loads) anywhere.
"""

from __future__ import annotations

import functools
import itertools
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quant_assets.models.baselines import ForecastBaselineResult, _rows, _sign_positions
from quant_assets.models.evaluation import positions_sharpe
from quant_assets.models.splits import Split
from quant_assets.models.tensors import Panel

logger = logging.getLogger(__name__)

BOOSTED_KINDS = ("lightgbm", "xgboost")
DEVICES = ("auto", "cpu", "cuda")
EARLY_STOPPING_ROUNDS = 25

# Shallow, heavily regularised trees: daily returns are mostly noise.
DEFAULT_PARAMS: dict[str, dict] = {
    "lightgbm": {
        "n_estimators": 400,
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_child_samples": 200,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.8,
        "reg_lambda": 1.0,
    },
    "xgboost": {
        "n_estimators": 400,
        "learning_rate": 0.05,
        "max_depth": 4,
        "min_child_weight": 200.0,  # squared error: hessian 1 per row, i.e. rows per leaf
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "reg_lambda": 1.0,
    },
}
DEFAULT_GRIDS: dict[str, dict[str, list]] = {
    "lightgbm": {"num_leaves": [4, 15]},
    "xgboost": {"max_depth": [2, 4]},
}


# set by :func:`boosted_estimator` from its arguments, never taken from ``params``
_FIXED = frozenset(
    {"random_state", "n_jobs", "deterministic", "force_row_wise", "device_type", "verbose"}
    | {"tree_method", "device"}
)


def estimator_params(estimator) -> dict:
    """The tunable parameters of a LightGBM / XGBoost regressor (unset and fixed ones dropped)."""
    return {
        name: value
        for name, value in estimator.get_params().items()
        if value is not None and name not in _FIXED
    }


@functools.cache
def lightgbm_gpu_available() -> bool:
    """Whether the installed LightGBM was built with its GPU (OpenCL) learner and finds a device."""
    import lightgbm

    x = np.random.default_rng(0).normal(size=(64, 2))
    try:
        lightgbm.train(
            {"device_type": "gpu", "verbose": -1, "num_leaves": 2},
            lightgbm.Dataset(x, x[:, 0]),
            num_boost_round=1,
        )
    except Exception:  # noqa: BLE001 - any failure means: no usable GPU learner
        return False
    return True


def boosted_device(device: str) -> str:
    """``"cpu"`` or ``"cuda"`` for a ``device`` request; ``"auto"`` takes CUDA when present.

    Raises ValueError for an unknown spec or for ``"cuda"`` on a machine without CUDA.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for, but CUDA is not available here")
    return device


def lightgbm_device(device: str) -> str:
    """The LightGBM ``device_type`` a ``device`` request gets: ``"gpu"`` only where it works."""
    device = boosted_device(device)
    if device == "cuda" and lightgbm_gpu_available():
        return "gpu"
    if device == "cuda":
        logger.warning("LightGBM has no working GPU learner here; training on CPU")
    return "cpu"


def boosted_estimator(
    kind: str, params: dict | None = None, *, seed: int = 0, device: str = "cpu", n_jobs: int = 2
):
    """An unfitted LightGBM or XGBoost regressor: defaults, then ``params``, then fixed settings.

    ``seed``, ``n_jobs``, determinism and device always come from the arguments.
    """
    tunable = {k: v for k, v in (params or {}).items() if k not in _FIXED}
    if kind == "lightgbm":
        import lightgbm

        settings = DEFAULT_PARAMS[kind] | tunable
        return lightgbm.LGBMRegressor(
            **settings,
            random_state=seed,
            n_jobs=n_jobs,
            deterministic=True,
            force_row_wise=True,
            device_type=lightgbm_device(device),
            verbose=-1,
        )
    if kind == "xgboost":
        import xgboost

        settings = DEFAULT_PARAMS[kind] | tunable
        return xgboost.XGBRegressor(
            **settings,
            random_state=seed,
            n_jobs=n_jobs,
            tree_method="hist",
            device=boosted_device(device),
        )
    raise ValueError(f"unknown boosted forecaster {kind!r}; expected one of {BOOSTED_KINDS}")


@dataclass
class BoostedFit:
    """One early-stopped fit: the estimator and its validation loss curve."""

    estimator: object
    best_iteration: int  # number of trees kept
    validation_loss: np.ndarray  # validation MSE after each tree
    init_validation_loss: float  # validation MSE of the constant (train-mean) forecast


def _validation_curve(kind: str, estimator) -> np.ndarray:
    results = estimator.evals_result_
    key = "valid_0" if kind == "lightgbm" else "validation_0"
    metric = "l2" if kind == "lightgbm" else "rmse"
    curve = np.asarray(results[key][metric], dtype=np.float64)
    return curve if kind == "lightgbm" else curve**2


def fit_boosted(
    kind: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    *,
    params: dict | None = None,
    seed: int = 0,
    device: str = "cpu",
    n_jobs: int = 2,
    early_stopping_rounds: int | None = EARLY_STOPPING_ROUNDS,
) -> BoostedFit:
    """Fit on the training rows, early-stopping on the validation rows when they are given.

    Without validation rows (e.g. inside a cross-validation fold) all ``n_estimators`` are kept.
    """
    estimator = boosted_estimator(kind, params, seed=seed, device=device, n_jobs=n_jobs)
    watch = x_val is not None and len(x_val) > 0
    if kind == "lightgbm":
        import lightgbm

        callbacks = (
            [lightgbm.early_stopping(early_stopping_rounds, verbose=False)]
            if watch and early_stopping_rounds
            else []
        )
        estimator.fit(
            x_train,
            y_train,
            eval_X=(x_val,) if watch else None,
            eval_y=(y_val,) if watch else None,
            eval_metric="l2",
            callbacks=callbacks,
        )
        best = int(estimator.best_iteration_ or estimator.n_estimators)
    else:
        if watch and early_stopping_rounds:
            estimator.set_params(early_stopping_rounds=early_stopping_rounds)
        estimator.fit(x_train, y_train, eval_set=[(x_val, y_val)] if watch else None, verbose=False)
        best = (
            int(estimator.best_iteration) + 1
            if watch and early_stopping_rounds
            else int(estimator.n_estimators)
        )
        # score with the kept trees on whatever device the caller has
        estimator.set_params(device="cpu")
    curve = _validation_curve(kind, estimator) if watch else np.empty(0)
    init = float(np.mean((y_val - np.mean(y_train)) ** 2)) if watch else float("nan")
    return BoostedFit(estimator, best, curve, init)


@dataclass
class BoostedForecastResult(ForecastBaselineResult):
    """A :class:`ForecastBaselineResult` with the early-stopping record of the chosen fit."""

    best_iteration: int = 0
    validation_loss: np.ndarray = field(default_factory=lambda: np.empty(0))
    init_validation_loss: float = float("nan")
    device: str = "cpu"  # where the trees were grown: "cpu", "cuda" (XGBoost) or "gpu" (LightGBM)


def _grid_points(grid: dict[str, list]) -> list[dict]:
    names = list(grid)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*grid.values())]


def forecast_boosted(
    kind: str,
    panel: Panel,
    split: Split,
    *,
    params: dict | None = None,
    param_grid: dict[str, list] | None = None,
    target_vol: float = 0.15,
    cost_bps: float = 0.0,
    seed: int = 0,
    device: str = "cpu",
    n_jobs: int = 2,
    early_stopping_rounds: int = EARLY_STOPPING_ROUNDS,
) -> BoostedForecastResult:
    """Fit a LightGBM or XGBoost forecaster on ``split`` and hold the forecast's sign.

    Parameters
    ----------
    kind : {"lightgbm", "xgboost"}
    panel, split : Panel, Split
    params : dict, optional
        Estimator parameters over :data:`DEFAULT_PARAMS` (e.g. the best of an Optuna study);
        ``n_estimators`` is the most trees early stopping may keep.
    param_grid : dict, optional
        Points tried on top of ``params``, each early-stopped; the lowest validation MSE wins.
        Default :data:`DEFAULT_GRIDS`; ``{}`` fits ``params`` alone.
    target_vol, cost_bps : float
        Used to score validation and test positions.
    seed, device, n_jobs : int, str, int
        Random state, ``"cpu"`` or ``"cuda"``, and threads.

    Returns
    -------
    BoostedForecastResult
        ``cv_results`` has one row per grid point (``params``, ``mean_test_score`` = minus the
        validation MSE at the kept number of trees, ``rank_test_score``, ``best_iteration``), the
        shape :func:`~quant_assets.tracking.log_forecast_baseline` reads.
    """
    if kind not in BOOSTED_KINDS:
        raise ValueError(f"unknown boosted forecaster {kind!r}; expected one of {BOOSTED_KINDS}")
    target = panel.normalised_next_returns()
    t, n, x_train = _rows(panel, split.train, panel.mask)
    y_train = target[t, n]
    tv, nv, x_val = _rows(panel, split.validation, panel.mask)
    y_val = target[tv, nv]
    grid = DEFAULT_GRIDS[kind] if param_grid is None else param_grid
    fits, rows = [], []
    for point in _grid_points(grid):
        chosen = dict(params or {}) | point
        fit = fit_boosted(
            kind,
            x_train,
            y_train,
            x_val,
            y_val,
            params=chosen,
            seed=seed,
            device=device,
            n_jobs=n_jobs,
            early_stopping_rounds=early_stopping_rounds,
        )
        fits.append(fit)
        best_loss = float(fit.validation_loss[fit.best_iteration - 1])
        rows.append(
            {"params": point, "mean_test_score": -best_loss, "best_iteration": fit.best_iteration}
            | {f"param_{name}": value for name, value in point.items()}
        )
    cv_results = pd.DataFrame(rows)
    cv_results["rank_test_score"] = (
        cv_results["mean_test_score"].rank(ascending=False, method="first").astype(int)
    )
    best = int(np.argmax(cv_results["mean_test_score"].to_numpy()))
    fit = fits[best]
    scoring = {"target_vol": target_vol, "cost_bps": cost_bps}
    validation = _sign_positions(fit.estimator, panel, split.validation)
    test = _sign_positions(fit.estimator, panel, split.test)
    best_params = dict(params or {}) | rows[best]["params"] | {"n_estimators": fit.best_iteration}
    return BoostedForecastResult(
        kind=kind,
        estimator=fit.estimator,
        best_params=best_params,
        cv_results=cv_results,
        val_sharpe=positions_sharpe(panel, validation, **scoring),
        test_sharpe=positions_sharpe(panel, test, **scoring) if len(test) else float("nan"),
        positions=test,
        best_iteration=fit.best_iteration,
        validation_loss=fit.validation_loss,
        init_validation_loss=fit.init_validation_loss,
        device=lightgbm_device(device) if kind == "lightgbm" else boosted_device(device),
    )
