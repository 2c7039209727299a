"""Daily returns and ex-ante volatility on wide close panels.

All frames here are wide: a sorted, tz-naive ``DatetimeIndex`` of trading dates by ticker columns.
Returns are simple (not log) close-to-close returns. Every quantity dated ``t`` uses closes up to
and including the close of ``t`` only, except :func:`next_day_returns`, which is the target.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TRADING_DAYS_PER_YEAR = 252


def wide_closes(prices: pd.DataFrame) -> pd.DataFrame:
    """Pivot long prices (``ticker, date, close[, adj_close]``) to wide closes.

    A ticker with any ``adj_close`` value uses ``adj_close`` throughout; otherwise ``close``.
    Mixing the two within one ticker would create false jumps on the switching day.
    Non-positive prices become NaN.

    Parameters
    ----------
    prices : DataFrame
        Long prices with at least ``ticker``, ``date`` and ``close`` columns.

    Returns
    -------
    DataFrame
        Dates (sorted, tz-naive) by tickers (sorted), float64, NaN where no bar.
    """
    frame = prices.copy()
    frame["date"] = pd.to_datetime(frame["date"])
    price = frame["close"].astype("float64")
    if "adj_close" in frame:
        has_adjusted = frame["adj_close"].notna().groupby(frame["ticker"]).transform("any")
        price = price.where(~has_adjusted, frame["adj_close"].astype("float64"))
    frame["price"] = price.where(price > 0)
    wide = frame.pivot_table(index="date", columns="ticker", values="price", aggfunc="last")
    wide = wide.sort_index().sort_index(axis=1)
    wide.columns.name = "ticker"
    wide.index.name = "date"
    return wide.astype("float64")


def daily_returns(closes: pd.DataFrame) -> pd.DataFrame:
    """Simple return from the close of ``t-1`` to the close of ``t``, NaN across a missing bar."""
    return closes / closes.shift(1) - 1.0


def next_day_returns(closes: pd.DataFrame) -> pd.DataFrame:
    """The target: simple return from the close of ``t`` to the close of ``t+1``.

    NaN on the last date and wherever either close is missing.
    """
    return closes.shift(-1) / closes - 1.0


def ex_ante_volatility(
    closes: pd.DataFrame,
    *,
    span: int = 60,
    min_periods: int = 20,
    floor: float = 0.0,
) -> pd.DataFrame:
    """Annualised EWMA volatility of daily returns known at the close of each date.

    The estimate dated ``t`` includes the return into ``t`` and nothing later, so it is ex-ante
    for the next-day return ``t -> t+1``.

    Parameters
    ----------
    closes : DataFrame
        Wide closes.
    span : int
        EWMA span in trading days (60 in Lim et al. 2019).
    min_periods : int
        Returns a ticker needs before the estimate is reported (NaN before).
    floor : float
        Lower bound on the annualised estimate; keeps leverage finite through runs of flat bars.

    Returns
    -------
    DataFrame
        Annualised volatility (``daily std * sqrt(252)``), same shape as ``closes``.
    """
    returns = daily_returns(closes)
    daily = returns.ewm(span=span, min_periods=min_periods, ignore_na=True).std()
    annual = daily * np.sqrt(TRADING_DAYS_PER_YEAR)
    return annual.clip(lower=floor) if floor > 0 else annual
