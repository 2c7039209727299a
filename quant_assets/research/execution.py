"""Execution conventions: which return a position decided at the close of ``t`` earns.

* ``"close"``: traded at the close of ``t`` itself, earning close ``t`` -> close ``t+1`` (the
  convention of Lim et al. 2019 and of the networks' Sharpe loss: the panel's ``next_returns``).
  Not achievable in practice: the close that fed the signal is also the fill price.
* ``"next_open"``: traded at the open of ``t+1``, held to the open of ``t+2``, earning
  ``open[t+2] / open[t+1] - 1``: what a trader who computes the signal after the close can do.

Both are wide frames on the panel's trading calendar (rows are trading dates of the whole
universe, so ``t+1`` is the next trading date, not the ticker's next bar). A return whose prices
are missing (no bar, a quarantined row, a non-positive price) is NaN, and that cell is not scored
that day: :func:`execution_panel` drops it from the mask, the way the panel drops a missing close.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from quant_assets.models.returns import next_day_returns
from quant_assets.models.tensors import Panel

EXECUTIONS = ("close", "next_open")


def _positive(prices: pd.DataFrame) -> pd.DataFrame:
    return prices.where(prices > 0)


def holding_returns(closes: pd.DataFrame, opens: pd.DataFrame, execution: str) -> pd.DataFrame:
    """The simple return a position dated ``t`` earns under ``execution`` (wide, NaN if unknown).

    Parameters
    ----------
    closes, opens : DataFrame
        Wide prices (dates by tickers) on the same axes and price basis (adjusted alike).
    execution : {"close", "next_open"}

    Returns
    -------
    DataFrame
        ``close[t+1] / close[t] - 1`` or ``open[t+2] / open[t+1] - 1`` on ``closes``' axes.
    """
    if execution not in EXECUTIONS:
        raise ValueError(f"execution must be one of {EXECUTIONS}, got {execution!r}")
    if execution == "close":
        return next_day_returns(_positive(closes))
    opens = _positive(opens.reindex(index=closes.index, columns=closes.columns))
    return opens.shift(-2) / opens.shift(-1) - 1.0


def execution_panel(panel: Panel, returns: pd.DataFrame) -> Panel:
    """``panel`` with ``returns`` as the next returns, scored where they and the features exist.

    Every scorer of :mod:`quant_assets.models.evaluation` then scores that execution convention;
    features, ex-ante vol (known at the close of ``t``) and the calendar are unchanged.
    """
    frame = returns.copy()
    frame.columns = frame.columns.astype(str)
    array = frame.reindex(index=panel.dates, columns=panel.tickers).to_numpy(dtype=np.float64)
    return dataclasses.replace(
        panel, next_returns=array, mask=panel.feature_mask & np.isfinite(array)
    )


def open_quality(prices: pd.DataFrame, edges: Sequence[object]) -> pd.DataFrame:
    """How usable the opens of long ``prices`` are, per period between consecutive ``edges``.

    Parameters
    ----------
    prices : DataFrame
        Long validated prices with ``date, open, high, low, close``.
    edges : sequence of date-like
        Period boundaries; period ``i`` is ``[edges[i], edges[i+1])``. Rows outside are ignored.

    Returns
    -------
    DataFrame
        One row per period: ``period`` (``first..last`` date of the edges), ``rows``, and the
        shares of rows whose open is ``missing``, equals the close (``open_eq_close``: often an
        open that was never recorded), lies outside ``[low, high]`` (``open_outside_range``),
        and of whole ``flat_bar`` rows (``open == high == low == close``).
    """
    bounds = pd.DatetimeIndex(pd.to_datetime(list(edges)))
    dates = pd.to_datetime(prices["date"])
    period = pd.cut(dates, bounds, right=False, labels=False)
    o, h, lo, c = (prices[name].astype(np.float64) for name in ("open", "high", "low", "close"))
    flags = pd.DataFrame(
        {
            "period": period,
            "missing": o.isna(),
            "open_eq_close": o == c,
            "open_outside_range": (o > h) | (o < lo),
            "flat_bar": (o == c) & (h == lo) & (o == h),
        }
    ).dropna(subset=["period"])
    grouped = flags.groupby("period")
    table = grouped[["missing", "open_eq_close", "open_outside_range", "flat_bar"]].mean()
    table.insert(0, "rows", grouped.size())
    table = table.reindex(range(len(bounds) - 1))
    labels = [
        f"{bounds[i].date()}..{(bounds[i + 1] - pd.Timedelta(days=1)).date()}"
        for i in range(len(bounds) - 1)
    ]
    table.insert(0, "period", labels)
    table["rows"] = table["rows"].fillna(0).astype(int)
    return table.reset_index(drop=True)
