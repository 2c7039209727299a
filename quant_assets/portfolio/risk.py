"""Ex-ante volatility of a whole book from a trailing EWMA covariance known at each date.

The book's variance on date ``t`` is ``w_t' Sigma_t w_t`` with ``Sigma_t`` the EWMA covariance
of the daily returns up to and including ``t`` (the close of ``t`` is known when ``w_t`` is
traded at that close). Rather than storing one ``N x N`` matrix per date, it is computed as
the EWMA variance of the returns the *current* weights would have earned over the trailing
window, ``p_s = r_s . w_t`` for ``s <= t``: the same number, with memory ``T x window``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from quant_assets.models.returns import TRADING_DAYS_PER_YEAR

__all__ = ["portfolio_ex_ante_volatility"]


def portfolio_ex_ante_volatility(
    weights: pd.DataFrame,
    returns: pd.DataFrame,
    *,
    span: int = 60,
    window: int = 180,
    min_periods: int = 20,
) -> pd.Series:
    """Annualised ex-ante volatility of the book ``weights`` on each date.

    Parameters
    ----------
    weights : pandas.DataFrame
        Fractions of equity, dates x tickers; NaN counts as no position.
    returns : pandas.DataFrame
        Simple daily returns on the same dates, with at least the tickers of ``weights``. The
        row dated ``t`` is the return into the close of ``t``. A NaN return counts as 0; a date
        whose returns are all NaN is left out of the estimate.
    span : int, default 60
        EWMA span in days: weights ``(1 - alpha) ** age`` with ``alpha = 2 / (span + 1)``.
    window : int, default 180
        Trailing dates in the estimate (EWMA weights beyond it are dropped).
    min_periods : int, default 20
        Dates with returns the window needs before an estimate is reported (NaN before).

    Returns
    -------
    pandas.Series
        ``sqrt(252 * w' Sigma w)``, with ``Sigma`` the bias-corrected EWMA covariance (as
        ``DataFrame.ewm(span).cov()``) over the window. NaN during warm-up.
    """
    if not weights.index.equals(returns.index):
        raise ValueError("weights and returns must share one date index")
    r = returns.reindex(columns=weights.columns).to_numpy(dtype=np.float64)
    w = np.nan_to_num(weights.to_numpy(dtype=np.float64))
    has_data = np.isfinite(r).any(axis=1)
    pad = window - 1
    padded = np.vstack([np.zeros((pad, r.shape[1])), np.nan_to_num(r)])
    valid = sliding_window_view(np.concatenate([np.zeros(pad, bool), has_data]), window)
    # (T, N, window) view, oldest date first; einsum walks the strides without copying.
    book_returns = np.einsum("tnl,tn->tl", sliding_window_view(padded, window, axis=0), w)
    alpha = 2.0 / (span + 1.0)
    decay = np.where(valid, (1.0 - alpha) ** np.arange(window - 1, -1, -1.0), 0.0)
    total = decay.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (decay * book_returns).sum(axis=1) / total
        spread = (decay * (book_returns - mean[:, None]) ** 2).sum(axis=1) / total
        unbiased = total**2 / (total**2 - (decay**2).sum(axis=1))
        variance = np.where(valid.sum(axis=1) >= max(min_periods, 2), spread * unbiased, np.nan)
    vol = np.sqrt(np.maximum(variance, 0.0) * TRADING_DAYS_PER_YEAR)
    return pd.Series(np.where(np.isnan(variance), np.nan, vol), index=weights.index, name="vol")
