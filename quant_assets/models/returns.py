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
    Non-positive prices become NaN; rows without a ticker are ignored.

    Parameters
    ----------
    prices : DataFrame
        Long prices with at least ``ticker``, ``date`` and ``close`` columns.

    Returns
    -------
    DataFrame
        Dates (sorted, tz-naive) by tickers (sorted), float64, NaN where no bar.
    """
    tickers = prices["ticker"].astype(str).to_numpy()
    price = prices["close"].to_numpy(dtype=np.float64, na_value=np.nan)
    if "adj_close" in prices:
        adjusted = prices["adj_close"].to_numpy(dtype=np.float64, na_value=np.nan)
        codes, names = pd.factorize(tickers)
        has_adjusted = np.bincount(codes, weights=~np.isnan(adjusted), minlength=len(names)) > 0
        price = np.where(has_adjusted[codes], adjusted, price)
    # NaN and non-positive prices are no observation; a row without a ticker is nobody's (its
    # text would be 'nan' or 'None', a ticker of its own)
    keep = (price > 0) & prices["ticker"].notna().to_numpy()
    dates = pd.DatetimeIndex(pd.to_datetime(prices["date"][keep]))
    if dates.tz is not None:
        dates = dates.tz_localize(None)
    # Array fill instead of pivot_table: later rows win, as aggfunc="last" would have it.
    date_codes, date_index = pd.factorize(dates, sort=True)
    ticker_codes, ticker_index = pd.factorize(tickers[keep], sort=True)
    array = np.full((len(date_index), len(ticker_index)), np.nan)
    array[date_codes, ticker_codes] = price[keep]
    return pd.DataFrame(
        array,
        index=pd.DatetimeIndex(date_index, name="date"),
        columns=pd.Index(ticker_index, name="ticker"),
    )


def wide_opens(prices: pd.DataFrame) -> pd.DataFrame:
    """Pivot long prices (``ticker, date, open, close[, adj_close]``) to wide opens on
    :func:`wide_closes`' basis.

    A row's open is adjusted by the ratio its close was (``open * adj_close / close``), and the
    ticker-wide rule of :func:`wide_closes` applies: a ticker with any ``adj_close`` uses the
    adjusted opens throughout (NaN where a row has none), so an open and a close of one day
    always share one basis.
    """
    opens = pd.DataFrame(
        {"ticker": prices["ticker"], "date": prices["date"], "close": prices["open"]}
    )
    if "adj_close" in prices:
        open_ = prices["open"].to_numpy(dtype=np.float64, na_value=np.nan)
        close = prices["close"].to_numpy(dtype=np.float64, na_value=np.nan)
        adjusted = prices["adj_close"].to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            opens["adj_close"] = np.where(close > 0, open_ * adjusted / close, np.nan)
    return wide_closes(opens)


def long_from_wide(wide: pd.DataFrame, value: str) -> pd.DataFrame:
    """A wide dates-by-tickers frame to long ``date, ticker, <value>``, non-finite cells dropped.

    Rows come date by date, tickers in column order (as ``DataFrame.stack`` orders them).
    Vectorised on the array: ``stack`` loops over the columns, which at 500 tickers costs
    more than the rest of a one-day update.
    """
    values = wide.to_numpy(dtype=np.float64)
    t, n = np.nonzero(np.isfinite(values))
    return pd.DataFrame(
        {
            "date": wide.index[t],
            "ticker": np.asarray(wide.columns.astype(str), dtype=object)[n],
            value: values[t, n],
        }
    )


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
