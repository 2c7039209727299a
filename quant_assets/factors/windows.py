"""Trailing-window arithmetic on row x ticker panels, exact under truncation.

Every function here takes a 2-D float array with one column per ticker and one row per trading row
of that ticker (row ``t`` is the ticker's ``t``-th row; see :mod:`quant_assets.factors.panel`) and
works down the rows for all tickers at once.

Why blocks of ``2**b`` rows instead of cumulative sums: a value over a trailing window is combined
from the same blocks, in the same order, whatever history precedes the window. So the value at a row
is bit-for-bit the same whether the panel starts years earlier or exactly at the window's first row,
which is what makes a one-day incremental update equal the full recomputation to the last digit. A
cumulative sum difference ``S[t] - S[t-n]`` would carry rounding from all earlier rows.

Exponentially weighted averages have infinite memory in theory. Here each one keeps the trailing
``memory`` rows, at least the smallest window whose left-out weight is below
:data:`EWMA_TAIL_TOLERANCE` (1e-12), so the value depends on a known, finite number of rows: the
newest day can be recomputed exactly from that many rows, and once a ticker has that many rows its
value no longer depends on how far back its data happens to start. The price of exactness: a window
of ``W`` rows costs about ``2 log2(W)`` vectorised passes instead of one.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np

EWMA_TAIL_TOLERANCE = 1e-12
"""Largest total weight an exponentially weighted average may leave out (relative to the whole)."""


def ewma_memory(alpha: float, tol: float = EWMA_TAIL_TOLERANCE) -> int:
    """Rows an EWMA with smoothing ``alpha`` keeps: the least ``W`` with ``(1-alpha)**W <= tol``."""
    return math.ceil(math.log(tol) / math.log1p(-alpha))


def seeded_ewma_memory(alpha: float, period: int) -> int:
    """Rows kept by a TA-Lib-seeded EMA: ``period`` seed rows, then at least :func:`ewma_memory`.

    The rows after the seed are rounded up to a power of two: one block of the doubling scheme, so
    no blocks need combining (a quarter fewer passes), and the left-out weight only gets smaller.
    """
    return period + (1 << (ewma_memory(alpha) - 1).bit_length())


class WindowReducer:
    """Sums (or maxima) over trailing windows of any length, from blocks of ``2**b`` rows.

    Block ``b`` at row ``t`` reduces rows ``t - 2**b + 1 .. t``; it is NaN where that range starts
    before the ticker's first row, so windows are NaN during their warm-up. The blocks are kept, so
    several window lengths over the same values share them.

    Parameters
    ----------
    values
        Panel (rows x tickers); NaN only after a ticker's last row or where the input is undefined.
    op
        A binary ufunc: ``np.add`` for sums, ``np.maximum`` for running highs.
    """

    def __init__(self, values: np.ndarray, op: np.ufunc = np.add) -> None:
        self._levels = [values]
        self._op = op
        self._lock = threading.Lock()  # shared between factors computed in parallel

    def _level(self, b: int) -> np.ndarray:
        with self._lock:
            while len(self._levels) <= b:
                previous = self._levels[-1]
                step = 1 << (len(self._levels) - 1)
                block = np.empty_like(previous)
                block[:step] = np.nan
                if step < len(previous):
                    self._op(previous[step:], previous[:-step], out=block[step:])
                self._levels.append(block)
            return self._levels[b]

    def window(self, n: int) -> np.ndarray:
        """Reduction over the trailing ``n`` rows (current row included); NaN before row ``n-1``."""
        if n < 1:
            raise ValueError("window length must be positive")
        out = None
        offset = 0
        for b in reversed(range(n.bit_length())):
            if not (n >> b) & 1:
                continue
            block = self._level(b)
            if out is None:
                out = block.copy()
            else:
                out[:offset] = np.nan
                if offset < len(out):
                    self._op(out[offset:], block[:-offset], out=out[offset:])
            offset += 1 << b
        return out


def geometric_window_sum(values: np.ndarray, beta: float, n: int) -> np.ndarray:
    """``sum_{k<n} beta**k * x[t-k]`` at every row, rows before the first counting as zero.

    Built from blocks of ``2**b`` rows (block ``b+1`` = block ``b`` + ``beta**(2**b)`` x block ``b``
    shifted by ``2**b`` rows); the window adds the blocks of ``n``'s binary digits, most recent
    (smallest) first, each older one scaled by ``beta**offset``.
    """
    if n < 1:
        raise ValueError("window length must be positive")
    rows = len(values)
    level, scratch, spare = values, np.empty_like(values), np.empty_like(values)
    out = None
    offset = 0
    for b in range(n.bit_length()):
        if (n >> b) & 1:
            if out is None:
                out = level.copy()
            elif offset < rows:
                np.multiply(level[:-offset], beta**offset, out=scratch[offset:])
                np.add(out[offset:], scratch[offset:], out=out[offset:])
            offset += 1 << b
        step = 1 << b
        if offset >= rows or step >= rows or b + 1 == n.bit_length():
            continue
        np.multiply(level[:-step], beta**step, out=spare[step:])
        np.add(spare[step:], level[step:], out=spare[step:])
        spare[:step] = level[:step]
        level, spare = spare, (np.empty_like(values) if level is values else level)
    return out


def shift(values: np.ndarray, lag: int) -> np.ndarray:
    """The value ``lag`` rows earlier in each ticker's sequence; NaN where there is none."""
    out = np.empty_like(values)
    out[:lag] = np.nan
    if lag < len(values):
        out[lag:] = values[: len(values) - lag]
    return out


def rolling_mean_var(
    sums: WindowReducer, squares: WindowReducer, n: int, ddof: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance over ``n`` rows from window sums of ``x`` and ``x**2``.

    The variance is ``(sum(x**2) - sum(x)**2 / n) / (n - ddof)``, floored at zero. It loses about
    ``1e-16 * (mean / std)**2`` relative precision to cancellation, as TA-Lib's ``STDDEV`` does; for
    daily prices that is below 1e-11.
    """
    total = sums.window(n)
    var = (squares.window(n) - total * total / n) / (n - ddof)
    np.maximum(var, 0.0, out=var, where=~np.isnan(var))
    return total / n, var


def _powers(beta: float, count: int) -> np.ndarray:
    # Python's float ** is deterministic per value; vectorised pow may differ by an ulp between
    # SIMD and scalar paths, which would break bit-exactness between panels of different widths.
    return np.array([beta**m for m in range(count)])


def ewma_adjusted(values: np.ndarray, alpha: float, memory: int) -> np.ndarray:
    """pandas ``ewm(alpha=alpha, adjust=True).mean()`` over the trailing ``memory`` rows.

    Weights ``(1-alpha)**k`` on the value ``k`` rows back, normalised by their sum; with fewer than
    ``memory`` rows, all rows so far. Equals pandas (``min_periods=0``) on histories up to
    ``memory`` rows.
    """
    beta = 1.0 - alpha
    weighted = geometric_window_sum(values, beta, memory)
    return weighted / _weight_sums(beta, memory, len(values))


def _weight_sums(beta: float, memory: int, rows: int, power: int = 1) -> np.ndarray:
    """Column of ``sum_{k<m} beta**(power*k)``, ``m = min(memory, t + 1)`` weights at row ``t``."""
    b = beta**power
    counts = np.minimum(np.arange(1, rows + 1), memory)
    sums = np.array([(1.0 - b**m) / (1.0 - b) for m in range(memory + 1)])
    return sums[counts][:, None]


def ewma_adjusted_var(values: np.ndarray, alpha: float, memory: int) -> np.ndarray:
    """pandas ``ewm(alpha=alpha, adjust=True).var(bias=False)`` over the trailing ``memory`` rows.

    The weighted variance around the weighted mean times ``S1**2 / (S1**2 - S2)``, with ``S1`` and
    ``S2`` the sums of the weights and of their squares (pandas' unbiasing factor).
    """
    beta = 1.0 - alpha
    s1 = _weight_sums(beta, memory, len(values))
    s2 = _weight_sums(beta, memory, len(values), power=2)
    mean = geometric_window_sum(values, beta, memory) / s1
    mean_sq = geometric_window_sum(values * values, beta, memory) / s1
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (mean_sq - mean * mean) * (s1 * s1 / (s1 * s1 - s2))
    np.maximum(var, 0.0, out=var, where=~np.isnan(var))
    return var


def ewma_seeded(
    values: np.ndarray,
    alpha: float,
    period: int,
    memory: int,
    sums: WindowReducer | None = None,
) -> np.ndarray:
    """TA-Lib's EMA (and Wilder's smoothing) run over the trailing ``memory`` rows.

    TA-Lib seeds with the simple average of the first ``period`` values (first output at row
    ``period - 1``), then ``e += alpha * (x - e)``. Here the window's first ``period`` rows are the
    seed, so up to row ``memory - 1`` this is TA-Lib's value (up to rounding, ~1e-15 relative);
    later it differs from TA-Lib by at most :data:`EWMA_TAIL_TOLERANCE` times the seed's distance
    from TA-Lib's value at the window start. Computed in closed form,
    ``beta**m * seed + alpha * sum_{k<m} beta**k x[t-k]`` with ``m`` rows after the seed.
    """
    rows = len(values)
    if rows < period:
        return np.full_like(values, np.nan)
    beta = 1.0 - alpha
    after_seed = values.copy()
    after_seed[:period] = 0.0  # only rows after the seed enter the recursion
    out = geometric_window_sum(after_seed, beta, memory - period)
    out *= alpha
    out[: period - 1] = np.nan
    seed_sma = (sums or WindowReducer(values)).window(period) / period
    seed_weight = _powers(beta, memory - period + 1)
    # Up to row memory - 2 the seed is the ticker's first `period` rows; from then on, the first
    # `period` rows of the trailing window, always `memory - period` rows back.
    early = slice(period - 1, min(memory - 1, rows))
    out[early] += seed_sma[period - 1] * seed_weight[: early.stop - early.start, None]
    if rows >= memory:
        out[memory - 1 :] += seed_sma[period - 1 : rows - memory + period] * seed_weight[-1]
    return out


def apply_from_second_row(
    values: np.ndarray, kernel: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Run ``kernel`` on a series that starts at each ticker's second row (changes, true range)."""
    out = np.full_like(values, np.nan)
    if len(values) > 1:
        out[1:] = kernel(values[1:])
    return out
