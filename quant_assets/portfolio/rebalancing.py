"""Rebalance calendars and the no-trade band: which targets become orders.

The output follows :func:`~quant_assets.backtest.run_backtest`'s convention: a number is an
order to go to that weight at the date's close, NaN is *no order* (hold what is there).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

__all__ = ["apply_no_trade_band", "rebalance_orders", "rebalance_schedule"]

_PERIODS = {"weekly": "W", "monthly": "M"}


def rebalance_schedule(dates: pd.DatetimeIndex, frequency: str) -> np.ndarray:
    """Which dates are rebalance dates: every date, or the first of each week / month.

    A date opens a new period when its calendar week (Monday to Sunday) or month differs from
    the previous date's, so the flag uses that date and the one before only (knowing that a
    date is the *last* of its month would need the next date). The first date is always a
    rebalance date.

    Parameters
    ----------
    dates : pandas.DatetimeIndex
        Sorted trading dates.
    frequency : {"daily", "weekly", "monthly"}

    Returns
    -------
    numpy.ndarray of bool
        One flag per date.
    """
    if frequency == "daily":
        return np.ones(len(dates), dtype=bool)
    if frequency not in _PERIODS:
        raise ValueError(f"frequency must be daily, weekly or monthly, got {frequency!r}")
    periods = pd.DatetimeIndex(dates).to_period(_PERIODS[frequency]).asi8
    return np.concatenate([[True], periods[1:] != periods[:-1]])[: len(dates)]


def apply_no_trade_band(
    targets: pd.DataFrame, band: float = 0.0, *, rebalance: np.ndarray | None = None
) -> pd.DataFrame:
    """Orders from targets: trade a ticker only when its target leaves the band.

    Walking forward in time from a flat book, on each rebalance date a ticker with a target
    ``w`` gets an order for ``w`` when ``|w - held| > band``, and ``held`` becomes ``w``;
    otherwise it gets NaN. ``held`` is the weight last *ordered*: drift of the position with
    prices between orders is the backtest's business and is not modelled here. Non-rebalance
    dates and NaN targets give NaN and leave ``held`` alone.

    The recursion is path dependent (whether a date trades depends on the last trade), so it
    runs as a compiled loop over dates, vectorised over tickers.

    Parameters
    ----------
    targets : pandas.DataFrame
        Desired fractions of equity, dates x tickers; NaN = no target.
    band : float, default 0
        Absolute weight distance (``0.02`` = 2 % of equity). With 0 there is no band: every
        target on a rebalance date is an order, so the backtest also trades drift back.
    rebalance : numpy.ndarray of bool, optional
        Rebalance flag per date (:func:`rebalance_schedule`); default every date.

    Returns
    -------
    pandas.DataFrame
        Orders on the axes of ``targets``: the target where it trades, else NaN.
    """
    if band < 0:
        raise ValueError("band must be non-negative")
    flags = np.ones(len(targets), dtype=bool) if rebalance is None else np.asarray(rebalance)
    if flags.shape != (len(targets),):
        raise ValueError("rebalance needs one flag per date")
    values = np.ascontiguousarray(targets.to_numpy(dtype=np.float64))
    orders = _band_orders(values, flags.astype(np.bool_), float(band))
    return pd.DataFrame(orders, index=targets.index, columns=targets.columns)


def rebalance_orders(targets: pd.DataFrame, frequency: str, band: float = 0.0) -> pd.DataFrame:
    """:func:`apply_no_trade_band` on the :func:`rebalance_schedule` of ``frequency``."""
    return apply_no_trade_band(
        targets, band, rebalance=rebalance_schedule(targets.index, frequency)
    )


@njit(cache=True)
def _band_orders(targets: np.ndarray, rebalance: np.ndarray, band: float) -> np.ndarray:
    n_dates, n_assets = targets.shape
    orders = np.full((n_dates, n_assets), np.nan)
    held = np.zeros(n_assets)
    for t in range(n_dates):
        if not rebalance[t]:
            continue
        for i in range(n_assets):
            target = targets[t, i]
            if not np.isnan(target) and (band == 0.0 or abs(target - held[i]) > band):
                orders[t, i] = target
                held[i] = target
    return orders
