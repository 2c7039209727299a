"""Scoring a long position frame: directional and market-neutral views, costs, turnover, metrics.

Positions are scored as :func:`quant_assets.models.evaluation.strategy_daily_returns` scores them
(and the networks' Sharpe loss trains on): each cell's position ``p`` is vol-scaled to
``s = p * target_vol / ex_ante_vol``, earns ``s`` times the panel's next return, pays
``cost_bps`` one-way on ``|s_t - s_{t-1}|``, and the day's return is the mean over the scored
cells. Use :func:`~quant_assets.research.execution.execution_panel` to score another execution
convention. The *market-neutral* view demeans the positions across the scored cells of each
date before the vol scaling (long-only becomes flat).

Turnover is the mean over scored cells of ``|s_t - s_{t-1}|`` per day, so that the net return at
``c`` bp is exactly the gross return minus ``c / 1e4`` times the turnover; it is reported
annualised (times 252, :func:`quant_assets.backtest.metrics.compute_metrics`).

A Sharpe-trained network's positions have no natural size (the Sharpe ratio does not change when
every position is halved), so CAGR, drawdown and turnover of differently sized books are not
comparable as they stand. As Lim et al. (2019) do for their tables, ``rescale_vol`` scales each
net return series (and its turnover) by one constant so that its realised volatility is that
target; the Sharpe ratio is unchanged by it. The constant uses the whole series (ex post): it makes
sizes comparable, it is not a tradable sizing rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from quant_assets.backtest.metrics import PERIODS_PER_YEAR, compute_metrics
from quant_assets.models.evaluation import (
    positions_array,
    positions_frame,
    strategy_daily_returns,
)
from quant_assets.models.tensors import Panel

VIEWS = ("directional", "market_neutral")
METRICS = ("sharpe", "cagr", "max_drawdown", "turnover")


def _scaled(
    scored: np.ndarray, ex_ante_vol: np.ndarray, array: np.ndarray, target_vol: float
) -> tuple[np.ndarray, np.ndarray]:
    """Vol-scaled positions (0 where not scored) and the scored-cell mask."""
    mask = scored & np.isfinite(array)
    vol = np.where(mask, ex_ante_vol, 1.0)
    return np.where(mask, np.nan_to_num(array) * (target_vol / vol), 0.0), mask


def neutral_positions(panel: Panel, array: np.ndarray) -> np.ndarray:
    """``[T, N]`` positions demeaned across each date's scored cells (the market-neutral view).

    Cells that are not scored (no position, no features or no next return) stay NaN; a date with
    one scored cell holds nothing. Positions sum to zero across names every date, so long-only
    becomes flat; the vol scaling applied afterwards keeps each name's risk share, so the book is
    neutral in positions (risk units), not exactly in dollars.
    """
    mask = panel.mask & np.isfinite(array)
    held = np.where(mask, array, 0.0)
    mean = held.sum(axis=1, keepdims=True) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
    return np.where(mask, held - mean, np.nan)


def daily_turnover(panel: Panel, array: np.ndarray, *, target_vol: float = 0.15) -> pd.Series:
    """Mean ``|s_t - s_{t-1}|`` over each date's scored cells, on the dates a return is scored.

    The cost base of :func:`~quant_assets.models.losses.strategy_returns`: a cell not scored the
    day before counts as flat, the first date of the span pays nothing. Dates run from the first
    to the last date holding a position, as :func:`strategy_daily_returns` does.
    """
    held = np.flatnonzero(np.isfinite(array).any(axis=1))
    if len(held) == 0:
        return pd.Series(dtype=np.float64, name="turnover")
    span = np.arange(held[0], held[-1] + 1)
    scaled, mask = _scaled(panel.mask[span], panel.ex_ante_vol[span], array[span], target_vol)
    change = np.abs(np.diff(scaled, axis=0, prepend=scaled[:1]))
    count = mask.sum(axis=1)
    per_day = (change * mask).sum(axis=1) / np.maximum(count, 1)
    valid = count > 0
    return pd.Series(per_day[valid], index=panel.dates[span][valid], name="turnover")


def score_positions(
    panel: Panel,
    positions: pd.DataFrame,
    *,
    costs_bps: Sequence[float] = (0.0, 5.0, 10.0),
    views: Sequence[str] = VIEWS,
    target_vol: float = 0.15,
    rescale_vol: float | None = 0.15,
) -> pd.DataFrame:
    """Sharpe, CAGR, max drawdown and annual turnover of ``positions`` per view and cost.

    Parameters
    ----------
    panel : Panel
        Scored with its ``next_returns`` and ``mask`` (see ``execution_panel``).
    positions : DataFrame
        Long ``date, ticker, position``; cells off the panel are ignored.
    costs_bps : sequence of float
        One-way costs in basis points of vol-scaled notional traded.
    views : sequence of {"directional", "market_neutral"}
    target_vol : float
        Annualised vol each position is scaled to (with the ex-ante vol known at its date).
    rescale_vol : float, optional
        Annualised realised vol each net return series is rescaled to (ex post, one constant)
        before CAGR, max drawdown and turnover; None: as held.

    Returns
    -------
    DataFrame
        One row per view and cost: ``view, cost_bps, sharpe, cagr, max_drawdown, turnover,
        n_days`` (Sharpe annualised with sample std; CAGR and drawdown of the compounded daily
        returns; a book that never trades has a NaN Sharpe).
    """
    unknown = set(views) - set(VIEWS)
    if unknown:
        raise ValueError(f"views must be among {VIEWS}, got {sorted(unknown)}")
    directional = positions_array(panel, positions)
    rows = []
    for view in views:
        array = neutral_positions(panel, directional) if view == "market_neutral" else directional
        frame = positions_frame(array, panel, np.arange(len(panel.dates)))
        gross = strategy_daily_returns(panel, frame, target_vol=target_vol)
        turnover = daily_turnover(panel, array, target_vol=target_vol).reindex(gross.index)
        for cost in costs_bps:
            net = gross - cost / 1e4 * turnover
            size = _rescale_factor(net, rescale_vol)
            metrics = compute_metrics(net * size, turnover=turnover * size)
            rows.append(
                {
                    "view": view,
                    "cost_bps": float(cost),
                    "sharpe": metrics["sharpe"],
                    "cagr": metrics["annual_return"],
                    "max_drawdown": metrics["max_drawdown"],
                    "turnover": metrics["turnover"],
                    "n_days": int(metrics["n_days"]),
                }
            )
    return pd.DataFrame(rows)


def _rescale_factor(returns: pd.Series, rescale_vol: float | None) -> float:
    """``rescale_vol`` over the annualised sample vol of ``returns`` (1 without; NaN if flat)."""
    if rescale_vol is None:
        return 1.0
    vol = float(returns.std(ddof=1)) * np.sqrt(PERIODS_PER_YEAR)
    return rescale_vol / vol if np.isfinite(vol) and vol > 0 else float("nan")
