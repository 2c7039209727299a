"""Compiled TA-Lib-style indicators, each fused into one loop over tickers.

Every kernel takes ``tickers x rows`` panels (see :mod:`quant_assets.factors.window_kernels`) and
works through one ticker at a time, so the intermediates (window sums, smoothed gains, true ranges)
stay in cache and only the factor itself is written out. The arithmetic is that of the block
definitions in :mod:`quant_assets.factors.windows`, in the same order, so the values keep their
independence of how far back a ticker's history starts.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from quant_assets.factors.window_kernels import (
    COMPILE,
    bit_length,
    ewma_scratch,
    nan_maximum,
    positive_part,
    wilder_column,
    window_column,
)


@njit(**COMPILE)
def _ratio_minus_one(values, price, out) -> None:
    for i in range(out.shape[0]):
        out[i] = values[i] / price[i] - 1.0


@njit(**COMPILE)
def sma_ratio(price, n):
    """``SMA(n) / price - 1``, the SMA being the block window sum divided by ``n``."""
    tickers, rows = price.shape
    out = np.empty((tickers, rows))
    levels, total = np.empty((bit_length(n), rows)), np.empty(rows)
    for j in range(tickers):
        window_column(price[j], n, False, levels, total)
        _divide(total, n)
        _ratio_minus_one(total, price[j], out[j])
    return out


@njit(**COMPILE)
def _divide(values, divisor) -> None:
    for i in range(values.shape[0]):
        values[i] = values[i] / divisor


@njit(**COMPILE)
def ratio_minus_one(values, price):
    """``values / price - 1`` (an average relative to the price)."""
    out = np.empty(values.shape)
    for j in range(values.shape[0]):
        _ratio_minus_one(values[j], price[j], out[j])
    return out


@njit(**COMPILE)
def _spread_over(fast, slow, price, out) -> None:
    for i in range(out.shape[0]):
        out[i] = (fast[i] - slow[i]) / price[i]


@njit(**COMPILE)
def spread_over(fast, slow, price):
    """``(fast - slow) / price`` (a MACD line relative to the price)."""
    out = np.empty(price.shape)
    for j in range(price.shape[0]):
        _spread_over(fast[j], slow[j], price[j], out[j])
    return out


@njit(**COMPILE)
def rate_of_change(price, n):
    """TA-Lib ``ROC``: ``(price / price[t - n] - 1) * 100``, NaN on the first ``n`` rows."""
    tickers, rows = price.shape
    out = np.empty((tickers, rows))
    for j in range(tickers):
        out[j, : min(n, rows)] = np.nan
        if n < rows:
            _percent_change(price[j, n:], price[j, : rows - n], out[j, n:])
    return out


@njit(**COMPILE)
def _percent_change(newer, older, out) -> None:
    for i in range(out.shape[0]):
        out[i] = (newer[i] / older[i] - 1.0) * 100.0


@njit(**COMPILE)
def bollinger(price, n, width):
    """Bollinger ``%b`` and bandwidth over ``n`` rows, bands at ``mean +- width`` population std.

    The variance is ``(sum(x**2) - sum(x)**2 / n) / n`` from block window sums, floored at zero.
    ``%b`` is NaN where the bands have no width.
    """
    tickers, rows = price.shape
    percent_b, bandwidth = np.empty((tickers, rows)), np.empty((tickers, rows))
    levels = np.empty((bit_length(n), rows))
    squares, total, total_sq = np.empty(rows), np.empty(rows), np.empty(rows)
    for j in range(tickers):
        _square(price[j], squares)
        window_column(price[j], n, False, levels, total)
        window_column(squares, n, False, levels, total_sq)
        _bands(price[j], total, total_sq, n, width, percent_b[j], bandwidth[j])
    return percent_b, bandwidth


@njit(**COMPILE)
def _square(values, out) -> None:
    for i in range(out.shape[0]):
        out[i] = values[i] * values[i]


@njit(**COMPILE)
def _bands(price, total, total_sq, n, width, percent_b, bandwidth) -> None:
    for i in range(price.shape[0]):
        var = (total_sq[i] - total[i] * total[i] / n) / n
        var = 0.0 if var < 0.0 else var
        mean = total[i] / n
        spread = width * np.sqrt(var)
        upper, lower = mean + spread, mean - spread
        percent_b[i] = (price[i] - lower) / (upper - lower) if upper > lower else np.nan
        bandwidth[i] = (upper - lower) / mean


@njit(**COMPILE)
def rsi(price, ewma):
    """TA-Lib ``RSI``: Wilder-smoothed gains / (gains + losses) x 100, NaN when both are zero."""
    tickers, rows = price.shape
    out = np.empty((tickers, rows))
    scratch = ewma_scratch(ewma, rows)
    gains, losses = np.empty(rows), np.empty(rows)
    mean_gain, mean_loss = np.empty(rows), np.empty(rows)
    for j in range(tickers):
        out[j, :1] = np.nan
        if rows < 2:
            continue
        x = price[j]
        _gains_losses(x[1:], x[: rows - 1], gains[1:], losses[1:])
        wilder_column(gains, ewma, scratch, mean_gain)
        wilder_column(losses, ewma, scratch, mean_loss)
        _strength(mean_gain[1:], mean_loss[1:], out[j, 1:])
    return out


@njit(**COMPILE)
def _gains_losses(newer, older, gains, losses) -> None:
    for i in range(gains.shape[0]):
        change = newer[i] - older[i]
        gains[i] = positive_part(change)
        losses[i] = positive_part(-change)


@njit(**COMPILE)
def _strength(gain, loss, out) -> None:
    for i in range(out.shape[0]):
        total = gain[i] + loss[i]
        out[i] = 100.0 * (gain[i] / total) if total > 0 else np.nan


@njit(**COMPILE)
def atr_ratio(high, low, price, ewma):
    """TA-Lib ``ATR`` over the price: Wilder-smoothed true range (from the second row) / price."""
    tickers, rows = price.shape
    out = np.empty((tickers, rows))
    scratch = ewma_scratch(ewma, rows)
    true_range, smoothed = np.empty(rows), np.empty(rows)
    for j in range(tickers):
        out[j, :1] = np.nan
        if rows < 2:
            continue
        x = price[j]
        _true_range(high[j, 1:], low[j, 1:], x[: rows - 1], true_range[1:])
        wilder_column(true_range, ewma, scratch, smoothed)
        _divide_by(smoothed[1:], x[1:], out[j, 1:])
    return out


@njit(**COMPILE)
def _true_range(high, low, previous, out) -> None:
    for i in range(out.shape[0]):
        widest = nan_maximum(high[i] - low[i], np.abs(previous[i] - high[i]))
        out[i] = nan_maximum(widest, np.abs(previous[i] - low[i]))


@njit(**COMPILE)
def _divide_by(values, divisor, out) -> None:
    for i in range(out.shape[0]):
        out[i] = values[i] / divisor[i]
