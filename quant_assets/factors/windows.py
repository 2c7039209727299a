"""Trailing-window arithmetic on row x ticker panels, exact under truncation.

Every function here takes a 2-D float array with one column per ticker and one row per trading row
of that ticker (row ``t`` is the ticker's ``t``-th row; see :mod:`quant_assets.factors.panel`) and
works down the rows of every ticker; the loops are compiled (:mod:`quant_assets.factors.window_kernels`).

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
of ``W`` rows costs about ``2 log2(W)`` operations per row instead of one, run down each ticker's
rows while they are in cache.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from quant_assets.factors import window_kernels as kernels

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

    Block ``b`` at row ``t`` reduces rows ``t - 2**b + 1 .. t`` (block ``b - 1`` at ``t`` with block
    ``b - 1`` at ``t - 2**(b-1)``); it is NaN where that range starts before the ticker's first row,
    so windows are NaN during their warm-up. A window of ``n`` rows combines the blocks of ``n``'s
    binary digits, largest (newest) first. Computed per ticker by
    :func:`~quant_assets.factors.window_kernels.window_reduce`.

    Parameters
    ----------
    values
        Panel (rows x tickers); NaN only after a ticker's last row or where the input is undefined.
    op
        ``np.add`` for sums or ``np.maximum`` for running highs.
    """

    def __init__(self, values: np.ndarray, op: np.ufunc = np.add) -> None:
        if op not in (np.add, np.maximum):
            raise ValueError("op must be np.add or np.maximum")
        self._values = by_ticker(values)
        self._use_max = op is np.maximum

    def window(self, n: int) -> np.ndarray:
        """Reduction over the trailing ``n`` rows (current row included); NaN before row ``n-1``."""
        if n < 1:
            raise ValueError("window length must be positive")
        return kernels.window_reduce(self._values, n, self._use_max).T


def geometric_window_sum(values: np.ndarray, beta: float, n: int) -> np.ndarray:
    """``sum_{k<n} beta**k * x[t-k]`` at every row, rows before the first counting as zero.

    Built from blocks of ``2**b`` rows (block ``b+1`` = block ``b`` + ``beta**(2**b)`` x block ``b``
    shifted by ``2**b`` rows); the window adds the blocks of ``n``'s binary digits, most recent
    (smallest) first, each older one scaled by ``beta**offset``.
    """
    if n < 1:
        raise ValueError("window length must be positive")
    return kernels.geometric_window_sum(by_ticker(values), n, *_block_powers(beta, n)).T


def _block_powers(beta: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``beta**(2**b)`` for each block, and ``beta**offset`` for each set bit ``b`` of ``n``."""
    step_powers = np.array([beta ** (1 << b) for b in range(n.bit_length())])
    offset_powers = np.ones(n.bit_length())
    offset = 0
    for b in range(n.bit_length()):
        if (n >> b) & 1:
            offset_powers[b] = beta**offset
            offset += 1 << b
    return step_powers, offset_powers


def by_ticker(values: np.ndarray) -> np.ndarray:
    """``values.T`` as the compiled kernels take it: tickers x rows in C order.

    No copy for a :class:`~quant_assets.factors.panel.PricePanel` array (stored ticker by ticker);
    the kernels return the same layout, and ``.T`` turns it back into a rows x tickers panel.
    """
    return np.ascontiguousarray(values.T, dtype=np.float64)


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


def ewma_seeded(values: np.ndarray, alpha: float, period: int, memory: int) -> np.ndarray:
    """TA-Lib's EMA (and Wilder's smoothing) run over the trailing ``memory`` rows.

    TA-Lib seeds with the simple average of the first ``period`` values (first output at row
    ``period - 1``), then ``e += alpha * (x - e)``. Here the window's first ``period`` rows are the
    seed, so up to row ``memory - 1`` this is TA-Lib's value (up to rounding, ~1e-15 relative);
    later it differs from TA-Lib by at most :data:`EWMA_TAIL_TOLERANCE` times the seed's distance
    from TA-Lib's value at the window start. Computed in closed form,
    ``beta**m * seed + alpha * sum_{k<m} beta**k x[t-k]`` with ``m`` rows after the seed.
    """
    return kernels.ewma_seeded(by_ticker(values), seeded_ewma_terms(alpha, period, memory)).T


def seeded_ewma_terms(alpha: float, period: int, memory: int) -> tuple:
    """The compiled seeded EMA's terms: ``alpha, period, memory`` and the powers of ``beta``.

    The powers are those of :func:`geometric_window_sum` over the ``memory - period`` rows after
    the seed, and the seed's weights ``beta**m`` for ``m = 0 .. memory - period``.
    """
    beta = 1.0 - alpha
    return (
        alpha,
        period,
        memory,
        *_block_powers(beta, memory - period),
        _powers(beta, memory - period + 1),
    )


def apply_from_second_row(
    values: np.ndarray, kernel: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Run ``kernel`` on a series that starts at each ticker's second row (changes, true range)."""
    out = np.full_like(values, np.nan)
    if len(values) > 1:
        out[1:] = kernel(values[1:])
    return out
