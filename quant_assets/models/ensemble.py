"""Ensembles of position models: the best ``k`` members on validation, averaged or stacked.

Members are any models' positions (forecasters, networks, rules) as long frames
``date, ticker, position`` covering at least a split's validation and test dates. Everything the
ensemble decides (which members, their weights) is computed from the validation block only; test
dates are only combined and scored afterwards, so changing test-period returns cannot change the
choice.

* ``"average"``: equal weights on the chosen members.
* ``"stacked"``: non-negative ridge of the validation target (next-day return in units of ex-ante
  daily vol) on the members' validation positions, weights then scaled to sum to one, so the
  ensemble's position stays in ``[-1, 1]`` (a convex combination). When stacking gives every
  member zero weight the ensemble falls back to equal weights.

Where a member has no position in a cell, the others' weights are renormalised over the members
present (no member: no position).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from quant_assets.models.baselines import forecast_baseline, forecast_positions
from quant_assets.models.evaluation import positions_array, positions_frame, positions_sharpe
from quant_assets.models.splits import Split
from quant_assets.models.tensors import Panel

ENSEMBLE_METHODS = ("average", "stacked")


def choose_members(val_sharpes: Mapping[str, float], k: int) -> list[str]:
    """The ``k`` names with the highest validation Sharpe (non-finite ones never), ties by name."""
    if k < 1:
        raise ValueError("k must be at least 1")
    finite = [(name, float(v)) for name, v in val_sharpes.items() if np.isfinite(v)]
    if not finite:
        raise ValueError("no member has a finite validation Sharpe")
    ranked = sorted(finite, key=lambda item: (-item[1], item[0]))
    return [name for name, _ in ranked[:k]]


def _on_dates(panel: Panel, positions: pd.DataFrame, date_positions: np.ndarray) -> pd.DataFrame:
    return positions[pd.to_datetime(positions["date"]).isin(panel.dates[date_positions])]


def combine_positions(
    panel: Panel, members: Mapping[str, pd.DataFrame], weights: Mapping[str, float]
) -> pd.DataFrame:
    """The weighted mean position of ``members`` per cell, renormalised over members present."""
    names = list(weights)
    stacked = np.stack([positions_array(panel, members[name]) for name in names])
    w = np.asarray([weights[name] for name in names], dtype=np.float64)[:, None, None]
    present = np.isfinite(stacked)
    total = (w * present).sum(axis=0)
    combined = (w * np.nan_to_num(stacked)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        array = np.where(present.any(axis=0) & (total > 0), combined / total, np.nan)
    return positions_frame(array, panel, np.arange(len(panel.dates)))


def stacked_weights(
    panel: Panel,
    members: Mapping[str, pd.DataFrame],
    validation: np.ndarray,
    *,
    alpha: float = 1.0,
) -> tuple[dict[str, float], float, float]:
    """Non-negative ridge of the validation target on the members' validation positions.

    Minimises ``mean((y - X w)^2) + alpha * |w|^2 / n`` over ``w >= 0``, with ``X`` the members'
    positions (0 where a member holds none) on the scored validation cells and ``y`` the next-day
    return in units of ex-ante daily vol.

    Returns
    -------
    weights, loss, init_loss
        Weights scaled to sum to one (all zero if stacking kept no member); the fitted mean
        squared error and that of holding nothing (``w = 0``).
    """
    names = list(members)
    validation = np.asarray(validation, dtype=np.int64)
    cells = panel.mask[validation]
    y = panel.normalised_next_returns()[validation][cells]
    x = np.stack(
        [np.nan_to_num(positions_array(panel, members[name])[validation][cells]) for name in names],
        axis=1,
    )
    if len(y) == 0:
        raise ValueError("the validation block has no scored cells")
    design = np.vstack([x, np.sqrt(alpha) * np.eye(len(names))])
    raw, _ = nnls(design, np.concatenate([y, np.zeros(len(names))]))
    loss = float(np.mean((y - x @ raw) ** 2))
    init_loss = float(np.mean(y**2))
    total = raw.sum()
    scaled = raw / total if total > 0 else raw
    return dict(zip(names, scaled.tolist(), strict=True)), loss, init_loss


@dataclass
class EnsembleResult:
    """The chosen members, their weights, and the ensemble's scored positions.

    ``positions`` hold the test period. ``stack_loss`` / ``init_loss`` are the stacked fit's validation MSE and
    that of no position (NaN for ``"average"``).
    """

    method: str
    members: list[str]
    weights: dict[str, float]
    member_val_sharpes: dict[str, float]
    val_sharpe: float
    test_sharpe: float
    positions: pd.DataFrame
    stack_loss: float = float("nan")
    init_loss: float = float("nan")


def build_ensemble(
    panel: Panel,
    split: Split,
    members: Mapping[str, pd.DataFrame],
    *,
    k: int = 3,
    method: str = "average",
    alpha: float = 1.0,
    target_vol: float = 0.15,
    cost_bps: float = 0.0,
) -> EnsembleResult:
    """Choose the ``k`` best members by validation Sharpe and combine them.

    Parameters
    ----------
    panel, split : Panel, Split
    members : mapping of name to positions
        Long position frames covering the split's validation and test dates.
    k : int
        Members kept (all of them when fewer are given).
    method : {"average", "stacked"}
    alpha : float
        Ridge penalty of ``"stacked"``.
    target_vol, cost_bps : float
        Scoring of validation and test positions.
    """
    if method not in ENSEMBLE_METHODS:
        raise ValueError(f"method must be one of {ENSEMBLE_METHODS}, got {method!r}")
    scoring = {"target_vol": target_vol, "cost_bps": cost_bps}
    validation = {name: _on_dates(panel, p, split.validation) for name, p in members.items()}
    member_sharpes = {
        name: positions_sharpe(panel, frame, **scoring) if len(frame) else float("nan")
        for name, frame in validation.items()
    }
    chosen = choose_members(member_sharpes, k)
    stack_loss = init_loss = float("nan")
    weights = {name: 1.0 / len(chosen) for name in chosen}
    if method == "stacked":
        fitted, stack_loss, init_loss = stacked_weights(
            panel, {name: validation[name] for name in chosen}, split.validation, alpha=alpha
        )
        if sum(fitted.values()) > 0:
            weights = fitted
    kept = {name: members[name] for name in chosen}
    combined = combine_positions(panel, kept, weights)
    val_positions = _on_dates(panel, combined, split.validation)
    test_positions = _on_dates(panel, combined, split.test)
    return EnsembleResult(
        method=method,
        members=chosen,
        weights=weights,
        member_val_sharpes=member_sharpes,
        val_sharpe=positions_sharpe(panel, val_positions, **scoring),
        test_sharpe=(
            positions_sharpe(panel, test_positions, **scoring)
            if len(test_positions)
            else float("nan")
        ),
        positions=test_positions.reset_index(drop=True),
        stack_loss=stack_loss,
        init_loss=init_loss,
    )


def forecaster_members(
    panel: Panel,
    split: Split,
    kinds: tuple[str, ...] | list[str],
    *,
    settings: Mapping[str, dict] | None = None,
    **common,
) -> dict[str, pd.DataFrame]:
    """Fit each forecaster kind on ``split``; its positions on the validation and test dates.

    ``settings[kind]`` and ``common`` are keyword arguments of
    :func:`~quant_assets.models.baselines.forecast_baseline` (e.g. ``param_grid`` per kind,
    ``seed`` for all).
    """
    dates = panel.dates[np.concatenate([split.validation, split.test])]
    members = {}
    for kind in kinds:
        result = forecast_baseline(
            kind, panel, split, **(common | dict((settings or {}).get(kind, {})))
        )
        members[kind] = forecast_positions(result.estimator, panel, dates)
    return members
