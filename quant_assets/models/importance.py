"""Which factors drive a model: permutation importance (any model) and mean |SHAP| (tree models).

Permutation importance (Breiman 2001) on one block of dates, typically a window's validation or
test block: the model's positions are scored, then one factor is shuffled across dates *within
each ticker* (so every ticker keeps its own distribution of that factor and cross-sectional
structure is broken only through time) and the positions re-scored. A factor's importance is the
mean drop in score over ``n_repeats`` seeded shuffles. The score is the positions' Sharpe by
default; any ``score(panel, positions) -> float`` (higher is better) can be given.

The model enters as a positions function ``positions_fn(panel, dates) -> positions frame``:
``functools.partial(forecast_positions, estimator)`` for a forecaster,
``functools.partial(predict_positions, model)`` for a network. Sequence models see the shuffled
factor in every window that reaches into the block.

:func:`shap_importance` gives the mean absolute SHAP value per factor of a tree model
(LightGBM, XGBoost, random forest, histogram gradient boosting) on the block's rows, from
``shap.TreeExplainer``: the average size of each factor's contribution to the forecast.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pandas as pd

from quant_assets.models.evaluation import positions_sharpe
from quant_assets.models.tensors import Panel

PositionsFn = Callable[[Panel, pd.DatetimeIndex], pd.DataFrame]
ScoreFn = Callable[[Panel, pd.DataFrame], float]


def shuffle_within_tickers(
    values: np.ndarray, valid: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Permute each column of ``values`` ``[D, N]`` over its ``valid`` rows; other rows stay put.

    One independent permutation per column (ticker), vectorised: valid rows are ranked by a
    random key and refilled, in date order, from that random order.
    """
    d, n = values.shape
    rows = np.arange(d)[:, None] / max(d, 1)
    # invalid rows sort after valid ones, in date order, in both orderings: they map to themselves
    random_order = np.argsort(np.where(valid, rng.random((d, n)), 2.0 + rows), axis=0)
    date_order = np.argsort(np.where(valid, rows, 2.0 + rows), axis=0)
    source = np.empty((d, n), dtype=np.int64)
    np.put_along_axis(source, date_order, random_order, axis=0)
    return np.take_along_axis(values, source, axis=0)


def _shuffled_panel(
    panel: Panel, block: np.ndarray, factor: int, rng: np.random.Generator
) -> Panel:
    features = panel.features.copy()
    values = features[block, factor, :]
    valid = panel.feature_mask[block]
    features[block, factor, :] = shuffle_within_tickers(values, valid, rng)
    return dataclasses.replace(panel, features=features)


def permutation_importance(
    panel: Panel,
    positions_fn: PositionsFn,
    date_positions: np.ndarray,
    *,
    n_repeats: int = 5,
    seed: int = 0,
    score: ScoreFn | None = None,
    target_vol: float = 0.15,
    cost_bps: float = 0.0,
) -> pd.DataFrame:
    """Drop in score when each factor is shuffled across the block's dates within each ticker.

    Parameters
    ----------
    panel : Panel
    positions_fn : callable
        ``positions_fn(panel, dates)`` returns the model's long positions on ``dates``.
    date_positions : array of int
        The block scored (e.g. ``split.validation`` or ``split.test``), one contiguous block.
    n_repeats, seed : int
        Shuffles per factor, and the seed of all of them (factor ``f``, repeat ``r`` uses the
        stream ``(seed, f, r)``: results do not depend on which factors are asked for).
    score : callable, optional
        ``score(panel, positions) -> float``, higher better; default the positions' Sharpe at
        ``target_vol`` net of ``cost_bps``.

    Returns
    -------
    DataFrame
        One row per factor, sorted by ``importance`` descending: ``factor``, ``importance`` (mean
        drop), ``importance_std`` (over repeats), ``baseline_score``, ``rank`` (1 = most important).
    """
    if n_repeats < 1:
        raise ValueError("n_repeats must be at least 1")
    block = np.asarray(date_positions, dtype=np.int64)
    dates = panel.dates[block]

    def scored(p: Panel) -> float:
        positions = positions_fn(p, dates)
        if score is not None:
            return float(score(p, positions))
        return positions_sharpe(p, positions, target_vol=target_vol, cost_bps=cost_bps)

    baseline = scored(panel)
    rows = []
    for f, name in enumerate(panel.factors):
        drops = [
            baseline - scored(_shuffled_panel(panel, block, f, np.random.default_rng([seed, f, r])))
            for r in range(n_repeats)
        ]
        rows.append(
            {
                "factor": name,
                "importance": float(np.mean(drops)),
                "importance_std": float(np.std(drops)),
                "baseline_score": baseline,
            }
        )
    table = pd.DataFrame(rows).sort_values(
        ["importance", "factor"], ascending=[False, True], ignore_index=True
    )
    table["rank"] = np.arange(1, len(table) + 1)
    return table


def shap_importance(
    estimator,
    panel: Panel,
    date_positions: np.ndarray,
    *,
    max_rows: int | None = 5_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean |SHAP| per factor of a fitted tree model on the block's ``(date, ticker)`` rows.

    Rows are the cells with all features known (``feature_mask``); at most ``max_rows`` of them,
    drawn with ``seed``, are explained (exact tree SHAP costs rows x trees x leaves).

    Returns
    -------
    DataFrame
        ``factor``, ``mean_abs_shap``, ``rank`` (1 = largest), sorted by ``mean_abs_shap``.

    Raises
    ------
    TypeError
        For a model ``shap.TreeExplainer`` cannot explain (e.g. ridge).
    """
    import shap

    block = np.asarray(date_positions, dtype=np.int64)
    t, n = np.nonzero(panel.feature_mask[block])
    x = panel.features[block[t], :, n].astype(np.float64)
    if len(x) == 0:
        raise ValueError("the block has no rows with all features known")
    if max_rows is not None and len(x) > max_rows:
        x = x[np.sort(np.random.default_rng(seed).choice(len(x), max_rows, replace=False))]
    try:
        explainer = shap.TreeExplainer(estimator)
    except Exception as error:  # shap raises a bare Exception for unsupported models
        raise TypeError(
            f"SHAP TreeExplainer cannot explain a {type(estimator).__name__}: {error}"
        ) from error
    values = np.asarray(explainer.shap_values(x, check_additivity=False))
    table = pd.DataFrame({"factor": list(panel.factors), "mean_abs_shap": np.abs(values).mean(0)})
    table = table.sort_values(
        ["mean_abs_shap", "factor"], ascending=[False, True], ignore_index=True
    )
    table["rank"] = np.arange(1, len(table) + 1)
    return table
