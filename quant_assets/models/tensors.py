"""Panel tensors for the momentum models: features, next-day targets, ex-ante vol and masks.

Alignment convention (the one place quant code goes wrong): row ``t`` of every array belongs to
the trading date ``dates[t]``. ``features[t]`` are known at the close of ``t``; a position taken
from them at that close earns ``next_returns[t]``, the simple return from the close of ``t`` to the
close of ``t+1``, scaled by ``target_vol / ex_ante_vol[t]`` (vol known at the close of ``t``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_assets.models.returns import TRADING_DAYS_PER_YEAR, ex_ante_volatility, next_day_returns


@dataclass(frozen=True)
class Panel:
    """Aligned arrays over ``T`` dates, ``F`` factors and ``N`` tickers.

    Attributes
    ----------
    dates : DatetimeIndex
        The ``T`` trading dates (tz-naive, sorted).
    tickers : Index
        The ``N`` tickers.
    factors : tuple of str
        The ``F`` factor names, in feature-axis order.
    features : ndarray, shape (T, F, N), float32
        Factor values known at the close of each date; NaN where unknown.
    next_returns : ndarray, shape (T, N), float64
        Simple return from the close of ``t`` to the close of ``t+1``; NaN where either close is
        missing and on the last date.
    ex_ante_vol : ndarray, shape (T, N), float64
        Annualised EWMA volatility of daily returns up to the close of ``t``, floored.
    feature_mask : ndarray, shape (T, N), bool
        All factors and the ex-ante vol are known at ``t``: a position can be computed.
    mask : ndarray, shape (T, N), bool
        ``feature_mask`` and the next-day return is known: the position can be scored.
        Losses and metrics use only these cells.
    """

    dates: pd.DatetimeIndex
    tickers: pd.Index
    factors: tuple[str, ...]
    features: np.ndarray
    next_returns: np.ndarray
    ex_ante_vol: np.ndarray
    feature_mask: np.ndarray
    mask: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(T, F, N)``."""
        return self.features.shape

    def scaled_next_returns(self, target_vol: float = 0.15) -> np.ndarray:
        """Next-day returns of a unit position scaled to ``target_vol`` (annualised), NaN masked."""
        scaled = self.next_returns * (target_vol / self.ex_ante_vol)
        return np.where(self.mask, scaled, np.nan)

    def normalised_next_returns(self) -> np.ndarray:
        """Next-day returns in units of ex-ante daily vol: the forecasting target, NaN masked."""
        daily_vol = self.ex_ante_vol / np.sqrt(TRADING_DAYS_PER_YEAR)
        return np.where(self.mask, self.next_returns / daily_vol, np.nan)

    def date_positions(self, dates: pd.DatetimeIndex | None) -> np.ndarray:
        """Integer positions of ``dates`` on the panel's calendar (all dates when None)."""
        if dates is None:
            return np.arange(len(self.dates))
        positions = self.dates.get_indexer(pd.DatetimeIndex(dates))
        if (positions < 0).any():
            raise KeyError("some dates are not on the panel's calendar")
        return positions


def pivot_features(
    features: pd.DataFrame,
    dates: pd.DatetimeIndex,
    tickers: pd.Index,
    factors: tuple[str, ...] | None = None,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Long ``ticker, date, factor, value`` rows to a float32 ``[T, F, N]`` array (NaN if absent)."""
    frame = features.assign(date=pd.to_datetime(features["date"]))
    names = tuple(sorted(frame["factor"].unique())) if factors is None else tuple(factors)
    array = np.full((len(dates), len(names), len(tickers)), np.nan, dtype=np.float32)
    t = dates.get_indexer(frame["date"])
    f = pd.Index(names).get_indexer(frame["factor"])
    n = tickers.get_indexer(frame["ticker"])
    keep = (t >= 0) & (f >= 0) & (n >= 0)
    array[t[keep], f[keep], n[keep]] = frame["value"].to_numpy(dtype=np.float32)[keep]
    return array, names


def build_panel(
    features: pd.DataFrame,
    closes: pd.DataFrame,
    *,
    factors: tuple[str, ...] | None = None,
    vol_span: int = 60,
    vol_min_periods: int = 20,
    vol_floor: float = 0.05,
) -> Panel:
    """Align long factor values with wide closes into a :class:`Panel`.

    Parameters
    ----------
    features : DataFrame
        Long factor table ``ticker, date, factor, value``; each value known at that date's close.
    closes : DataFrame
        Wide closes (dates by tickers, adjusted where possible). Its index is the panel calendar
        and its columns the tickers; feature rows outside them are ignored.
    factors : tuple of str, optional
        Factor order on the feature axis (default: all factors, sorted).
    vol_span, vol_min_periods : int
        EWMA span and warm-up of the ex-ante volatility (daily returns).
    vol_floor : float
        Annualised floor on the ex-ante vol (0.05 caps leverage at 3x for a 15% target).

    Returns
    -------
    Panel
    """
    closes = closes.sort_index().sort_index(axis=1)
    dates = pd.DatetimeIndex(closes.index)
    tickers = pd.Index(closes.columns.astype(str), name="ticker")
    array, names = pivot_features(features, dates, tickers, factors)
    vol = ex_ante_volatility(closes, span=vol_span, min_periods=vol_min_periods, floor=vol_floor)
    vol = vol.where(closes.notna()).to_numpy(dtype=np.float64)
    targets = next_day_returns(closes).to_numpy(dtype=np.float64)
    feature_mask = np.isfinite(array).all(axis=1) & np.isfinite(vol)
    return Panel(
        dates=dates,
        tickers=tickers,
        factors=names,
        features=array,
        next_returns=targets,
        ex_ante_vol=vol,
        feature_mask=feature_mask,
        mask=feature_mask & np.isfinite(targets),
    )


def window_ends(positions: np.ndarray, length: int, stride: int = 1) -> np.ndarray:
    """Last positions of the windows of ``length`` dates lying wholly inside ``positions``.

    ``positions`` must be one contiguous block (as a split's train period is). Windows are laid
    back from the block's last date every ``stride`` dates, so the most recent data is always used.
    """
    positions = np.asarray(positions)
    if len(positions) and not np.array_equal(positions, np.arange(positions[0], positions[-1] + 1)):
        raise ValueError("positions must be one contiguous block of dates")
    if len(positions) < length:
        return np.empty(0, dtype=np.int64)
    return np.arange(positions[-1], positions[0] + length - 2, -stride)[::-1].astype(np.int64)


def sequence_windows(
    array: np.ndarray, ends: np.ndarray, length: int, *, fill: float | bool = np.nan
) -> np.ndarray:
    """Stack the ``length`` rows ending at each of ``ends``: shape ``[len(ends), length, ...]``.

    Row ``j`` of window ``i`` is ``array[ends[i] - length + 1 + j]``; nothing after ``ends[i]`` is
    used. Rows before the start of ``array`` are ``fill`` (NaN: unknown; False for masks).
    """
    index = np.asarray(ends)[:, None] + np.arange(1 - length, 1)[None, :]
    padded = np.concatenate([np.full((length - 1, *array.shape[1:]), fill, array.dtype), array])
    return padded[index + length - 1]
