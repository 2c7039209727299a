"""Baseline strategies, in the networks' output format (long ``date, ticker, position``).

Rule-based baselines read wide closes; a position dated ``t`` uses closes up to the close of
``t`` and, like the networks', is meant to earn the return from ``t`` to ``t+1``. Forecast
baselines fit scikit-learn regressors to the vol-normalised next-day return and hold its sign
(Lim et al. 2019), choosing hyper-parameters by time-ordered cross-validation on the training
period with an embargo gap between folds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from quant_assets.models.evaluation import positions_frame, positions_sharpe
from quant_assets.models.features import MACD_PAIRS, macd_signal
from quant_assets.models.returns import long_from_wide
from quant_assets.models.splits import Split
from quant_assets.models.tensors import Panel

FORECASTERS = ("ridge", "random_forest", "hist_gradient_boosting")
# LightGBM / XGBoost (:mod:`quant_assets.models.boosted`): same rows, target and interface.
BOOSTED_FORECASTERS = ("lightgbm", "xgboost")
FORECAST_KINDS = FORECASTERS + BOOSTED_FORECASTERS


def _long_positions(wide: pd.DataFrame, dates: pd.DatetimeIndex | None) -> pd.DataFrame:
    if dates is not None:
        wide = wide.loc[wide.index.isin(pd.DatetimeIndex(dates))]
    return long_from_wide(wide, "position")


def long_only_positions(
    closes: pd.DataFrame, dates: pd.DatetimeIndex | None = None
) -> pd.DataFrame:
    """Position 1 in every asset on every date it has a close."""
    return _long_positions(closes.notna().astype(float).where(closes.notna()), dates)


def tsmom_positions(
    closes: pd.DataFrame, dates: pd.DatetimeIndex | None = None, *, lookback: int = 252
) -> pd.DataFrame:
    """Time-series momentum (Moskowitz, Ooi & Pedersen 2012): sign of the past ``lookback``-day return.

    ``sign(close_t / close_{t-lookback} - 1)``; 252 trading days is the 12-month signal.
    """
    return _long_positions(np.sign(closes / closes.shift(lookback) - 1.0), dates)


def macd_positions(
    closes: pd.DataFrame,
    dates: pd.DatetimeIndex | None = None,
    *,
    pairs: tuple[tuple[int, int], ...] = MACD_PAIRS,
) -> pd.DataFrame:
    """Baz et al. (2015) MACD trend signal: the mean of ``phi(y) = y exp(-y^2 / 4) / 0.89`` over pairs.

    ``y`` is the normalised MACD of :func:`~quant_assets.models.features.macd_signal`; ``phi``
    peaks at about 0.96 so positions stay in ``[-1, 1]``.
    """
    signals = []
    for short, long in pairs:
        y = macd_signal(closes, short, long)
        signals.append(y * np.exp(-(y**2) / 4.0) / 0.89)
    combined = sum(signals) / len(signals)
    return _long_positions(combined.clip(-1.0, 1.0), dates)


RULES = {"long_only": long_only_positions, "tsmom": tsmom_positions, "macd": macd_positions}


def _default_estimator(kind: str, seed: int) -> tuple[BaseEstimator, dict[str, list]]:
    if kind == "ridge":
        return make_pipeline(StandardScaler(), Ridge()), {"ridge__alpha": [1.0, 100.0, 10_000.0]}
    if kind == "random_forest":
        # Each tree grows on a bootstrap fifth of the rows: leaves of 200 rows stay as noisy-proof
        # as before, and a fit costs a tenth of 100 trees on every row.
        forest = RandomForestRegressor(
            n_estimators=50,
            min_samples_leaf=200,
            max_features=0.5,
            max_samples=0.2,
            n_jobs=1,
            random_state=seed,
        )
        return forest, {"max_depth": [3, 6]}
    if kind == "hist_gradient_boosting":
        boosting = HistGradientBoostingRegressor(
            max_iter=100,
            learning_rate=0.05,
            min_samples_leaf=200,
            early_stopping=False,
            random_state=seed,
        )
        return boosting, {"max_depth": [2, 4]}
    raise ValueError(f"unknown forecaster {kind!r}; expected one of {FORECASTERS}")


def time_series_folds(
    row_dates: np.ndarray, n_splits: int, gap: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``TimeSeriesSplit`` over the distinct dates of pooled rows, ``gap`` dates between folds.

    Every row of a date falls on the same side, so no fold trains on part of a day it validates.
    """
    unique = np.unique(row_dates)
    folds = []
    for fit_dates, check_dates in TimeSeriesSplit(n_splits=n_splits, gap=gap).split(unique):
        fit_rows = np.nonzero(np.isin(row_dates, unique[fit_dates]))[0]
        check_rows = np.nonzero(np.isin(row_dates, unique[check_dates]))[0]
        folds.append((fit_rows, check_rows))
    return folds


def _rows(panel: Panel, positions: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, ...]:
    t, n = np.nonzero(mask[positions])
    t = positions[t]
    return t, n, panel.features[t, :, n].astype(np.float64)


@dataclass
class ForecastBaselineResult:
    """A fitted forecast baseline: estimator, chosen parameters, CV table and scored positions."""

    kind: str
    estimator: BaseEstimator
    best_params: dict
    cv_results: pd.DataFrame
    val_sharpe: float
    test_sharpe: float
    positions: pd.DataFrame


def _sign_positions(estimator, panel: Panel, positions: np.ndarray) -> pd.DataFrame:
    held = np.full((len(positions), len(panel.tickers)), np.nan)
    # rows of ``held`` by index into ``positions``, not by searching it: dates may come in any order
    row, n = np.nonzero(panel.feature_mask[positions])
    if len(row):
        x = panel.features[positions[row], :, n].astype(np.float64)
        held[row, n] = np.sign(estimator.predict(x))
    return positions_frame(held, panel, positions)


def forecast_positions(
    estimator, panel: Panel, dates: pd.DatetimeIndex | None = None
) -> pd.DataFrame:
    """Positions (the forecast's sign) of a fitted forecaster on ``dates`` of ``panel``.

    The same rule :func:`forecast_baseline` scores its test period with, for a version loaded
    back from the registry.
    """
    return _sign_positions(estimator, panel, panel.date_positions(dates))


def forecast_baseline(
    kind: str,
    panel: Panel,
    split: Split,
    *,
    estimator: BaseEstimator | None = None,
    param_grid: dict[str, list] | None = None,
    n_cv_splits: int = 3,
    target_vol: float = 0.15,
    cost_bps: float = 0.0,
    seed: int = 0,
    device: str = "cpu",
    n_jobs: int = 2,
) -> ForecastBaselineResult:
    """Fit a ridge, random-forest, gradient-boosting, LightGBM or XGBoost forecaster; hold its sign.

    Rows pool every (date, asset) cell of the training period where the panel's ``mask`` is set;
    the target is the next-day return in units of ex-ante daily vol. Hyper-parameters are chosen
    by :func:`time_series_folds` (``split.embargo`` dates of gap) on mean squared error, then the
    estimator is refitted on the whole training period.

    ``"lightgbm"`` and ``"xgboost"`` go to :func:`~quant_assets.models.boosted.forecast_boosted`
    instead: the number of trees is early-stopped on the validation block and the grid is chosen
    on validation error (``n_cv_splits`` does not apply); the result is a
    :class:`~quant_assets.models.boosted.BoostedForecastResult`.

    Parameters
    ----------
    kind : {"ridge", "random_forest", "hist_gradient_boosting", "lightgbm", "xgboost"}
    panel, split : Panel, Split
    estimator, param_grid : optional
        Override the default estimator (a scikit-learn regressor) and its grid. For the boosted
        kinds ``estimator`` is an unfitted LightGBM / XGBoost regressor whose parameters are used
        (seed, threads and device still come from the arguments).
    n_cv_splits : int
        Time-ordered folds on the training period.
    target_vol, cost_bps : float
        Used to score validation and test positions.
    seed : int
        Random state of the tree ensembles.
    device : {"cpu", "cuda"}
        Where the boosted kinds train; the scikit-learn kinds always run on CPU.
    n_jobs : int
        Threads of the boosted kinds (the scikit-learn kinds use one).

    Returns
    -------
    ForecastBaselineResult
        ``positions`` hold the test period (``date, ticker, position`` with positions in {-1, 0, 1}).
    """
    if kind in BOOSTED_FORECASTERS:
        from quant_assets.models.boosted import estimator_params, forecast_boosted

        return forecast_boosted(
            kind,
            panel,
            split,
            params=None if estimator is None else estimator_params(estimator),
            param_grid=param_grid,
            target_vol=target_vol,
            cost_bps=cost_bps,
            seed=seed,
            device=device,
            n_jobs=n_jobs,
        )
    default, default_grid = _default_estimator(kind, seed)
    estimator = default if estimator is None else estimator
    grid = default_grid if param_grid is None else param_grid
    t, n, x = _rows(panel, split.train, panel.mask)
    y = panel.normalised_next_returns()[t, n]
    search = GridSearchCV(
        estimator,
        grid,
        cv=time_series_folds(t, n_cv_splits, split.embargo),
        scoring="neg_mean_squared_error",
        refit=True,
    )
    search.fit(x, y)
    scoring = {"target_vol": target_vol, "cost_bps": cost_bps}
    validation = _sign_positions(search.best_estimator_, panel, split.validation)
    test = _sign_positions(search.best_estimator_, panel, split.test)
    return ForecastBaselineResult(
        kind=kind,
        estimator=search.best_estimator_,
        best_params=search.best_params_,
        cv_results=pd.DataFrame(search.cv_results_),
        val_sharpe=positions_sharpe(panel, validation, **scoring),
        test_sharpe=positions_sharpe(panel, test, **scoring) if len(test) else float("nan"),
        positions=test,
    )
