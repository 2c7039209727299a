"""Position and leverage limits applied to a panel of target weights, vectorised."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["apply_constraints"]


def apply_constraints(
    weights: pd.DataFrame,
    *,
    max_weight: float | None = None,
    max_gross: float | None = None,
    max_net: float | None = None,
    long_only: bool = False,
) -> pd.DataFrame:
    """Clip each weight, then shrink each date's book until its leverage is within the caps.

    In order, on every date:

    1. ``long_only`` sets short weights to 0;
    2. each weight is clipped to ``[-max_weight, max_weight]``;
    3. the whole row is multiplied by ``min(1, max_gross / gross, max_net / |net|)``, with
       ``gross = sum |w|`` and ``net = sum w``. Shrinking a row never breaks steps 1-2, so every
       limit holds afterwards, and relative sizes within the row are kept.

    Parameters
    ----------
    weights : pandas.DataFrame
        Target fractions of equity, dates x tickers. NaN (no order) stays NaN and does not
        count towards the row's leverage.
    max_weight : float, optional
        Largest ``|weight|`` of one asset.
    max_gross : float, optional
        Largest sum of absolute weights per date (1 = unlevered).
    max_net : float, optional
        Largest absolute sum of weights per date.
    long_only : bool, default False
        Drop short positions.

    Returns
    -------
    pandas.DataFrame
        The constrained weights on the axes of ``weights``.
    """
    w = weights.astype(np.float64)
    if long_only:
        w = w.clip(lower=0.0)
    if max_weight is not None:
        w = w.clip(lower=-max_weight, upper=max_weight)
    scale = pd.Series(1.0, index=w.index)
    if max_gross is not None:
        scale = np.minimum(scale, _shrink_factor(w.abs().sum(axis=1), max_gross))
    if max_net is not None:
        scale = np.minimum(scale, _shrink_factor(w.sum(axis=1).abs(), max_net))
    return w.mul(scale, axis=0)


def _shrink_factor(exposure: pd.Series, cap: float) -> pd.Series:
    """``cap / exposure`` where the exposure exceeds the cap, else 1."""
    return (cap / exposure.where(exposure > cap)).fillna(1.0)
