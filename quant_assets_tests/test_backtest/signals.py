"""Deterministic signals made once and fed unchanged to every engine under test."""

from __future__ import annotations

import numpy as np
import pandas as pd


def momentum_sign_weights(
    closes: pd.DataFrame, *, gross: float = 0.9, lookback: int = 20, long_only: bool = False
) -> pd.DataFrame:
    """``sign(lookback-day return) * gross / n_tickers``; NaN (no order) where unknown.

    Long-only keeps the positive side, so gross exposure never exceeds ``gross`` at a rebalance.
    """
    momentum = closes.ffill().pct_change(lookback, fill_method=None)
    side = np.sign(momentum)
    if long_only:
        side = side.clip(lower=0.0)
    return (side * gross / closes.shape[1]).where(closes.notna())


def month_end_only(weights: pd.DataFrame) -> pd.DataFrame:
    """Keep the weights of each month's last trading day; NaN (hold) on all other days."""
    dates = weights.index.to_series()
    last_of_month = dates.groupby(dates.dt.to_period("M")).transform("max")
    is_last = (dates == last_of_month).to_numpy()
    return weights.where(np.broadcast_to(is_last[:, None], weights.shape))
