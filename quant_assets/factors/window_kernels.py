"""Compiled block arithmetic behind :mod:`quant_assets.factors.windows`, one ticker at a time.

Kernels take ``tickers x rows`` arrays in C order (the transpose of a ticker-major
:class:`~quant_assets.factors.panel.PricePanel` array, so no copy) and return the same layout.
They run the block arithmetic of ``windows`` down each ticker's contiguous rows, where it stays in
cache instead of making ``2 log2(W)`` passes over the whole panel. The arithmetic is the same,
operation for operation and in the same order, so the values are bit-for-bit those of the block
definitions; that is what keeps them independent of how far back a ticker's history starts.
Powers of the decay factor are computed in Python (``float **``) and passed in, since a compiled
``**`` may round differently.

A seeded EMA's terms travel as one tuple, ``ewma = (alpha, period, memory, step_powers,
offset_powers, seed_weight)``, built by :func:`quant_assets.factors.windows.seeded_ewma_terms`.
The per-ticker functions (``window_column``, ``ewma_seeded_column``, ``wilder_column``) are also
the building blocks of :mod:`quant_assets.factors.indicator_kernels`.

Kernels are compiled without ``fastmath`` (no reassociation, no fused multiply-add) and release the
GIL, so factors computed in threads run side by side. ``cache=True`` keeps the machine code on
disk: only the first run on a machine compiles; later processes load it (about a second for the
first call).
"""

from __future__ import annotations

import numpy as np
from numba import njit

COMPILE = {"cache": True, "nogil": True, "error_model": "numpy"}


@njit(inline="always")
def bit_length(n: int) -> int:
    bits = 0
    while (n >> bits) > 0:
        bits += 1
    return bits


@njit(inline="always")
def nan_maximum(a: float, b: float) -> float:
    # as np.maximum: NaN if either is NaN
    return a if (a >= b or a != a) else b


@njit(inline="always")
def positive_part(x: float) -> float:
    # as np.maximum(x, 0.0): NaN stays NaN
    return x if (x >= 0.0 or x != x) else 0.0


# -- elementwise loops on aligned views ------------------------------------------------------------
# A shifted operand is passed as a view (``x[:rows - k]`` beside ``x[k:]``) and indexed from 0: an
# index like ``x[t - k]`` makes numba check for negative indices, which stops LLVM vectorising.
# Kept out of line on purpose: inlined, the loops do not vectorise either.


@njit(**COMPILE)
def _copy(source, target) -> None:
    for i in range(target.shape[0]):
        target[i] = source[i]


@njit(**COMPILE)
def _add(newer, older, out) -> None:
    for i in range(out.shape[0]):
        out[i] = newer[i] + older[i]


@njit(**COMPILE)
def _max(newer, older, out) -> None:
    for i in range(out.shape[0]):
        out[i] = nan_maximum(newer[i], older[i])


@njit(**COMPILE)
def _scaled_add(older, scale, newer, out) -> None:
    for i in range(out.shape[0]):
        out[i] = older[i] * scale + newer[i]


@njit(**COMPILE)
def _accumulate(total, values) -> None:
    for i in range(total.shape[0]):
        total[i] = total[i] + values[i]


@njit(**COMPILE)
def _accumulate_max(total, values) -> None:
    for i in range(total.shape[0]):
        total[i] = nan_maximum(total[i], values[i])


@njit(**COMPILE)
def _accumulate_scaled(total, values, scale) -> None:
    for i in range(total.shape[0]):
        total[i] = total[i] + values[i] * scale


# -- block arithmetic on one ticker's rows ---------------------------------------------------------


@njit(**COMPILE)
def window_column(column, n, use_max, levels, out) -> None:
    """Sum (or max) over the trailing ``n`` rows of one ticker, NaN before row ``n - 1``.

    ``levels[b]`` is the block of ``2**b`` rows ending at each row (newer half first); the window
    takes the blocks of ``n``'s binary digits, largest (newest) first.
    """
    rows = column.shape[0]
    bits = bit_length(n)
    _copy(column, levels[0, :rows])
    for b in range(1, bits):
        step = 1 << (b - 1)
        previous, block = levels[b - 1], levels[b]
        block[: min(step, rows)] = np.nan
        if step < rows:
            if use_max:
                _max(previous[step:rows], previous[: rows - step], block[step:rows])
            else:
                _add(previous[step:rows], previous[: rows - step], block[step:rows])
    offset = 0
    for b in range(bits - 1, -1, -1):
        if not (n >> b) & 1:
            continue
        block = levels[b]
        if offset == 0:
            _copy(block, out[:rows])
        else:
            out[: min(offset, rows)] = np.nan
            if offset < rows:
                if use_max:
                    _accumulate_max(out[offset:rows], block[: rows - offset])
                else:
                    _accumulate(out[offset:rows], block[: rows - offset])
        offset += 1 << b


@njit(**COMPILE)
def _geometric_column(column, n, step_powers, offset_powers, level, spare, out) -> None:
    """``sum_{k<n} beta**k * x[t-k]`` of one ticker, rows before the first counting as zero.

    ``step_powers[b]`` is ``beta**(2**b)``; ``offset_powers[b]`` is ``beta**offset`` for a set bit
    ``b`` of ``n``, ``offset`` being the rows covered by the smaller set bits. ``level`` and
    ``spare`` are scratch rows.
    """
    rows = column.shape[0]
    bits = bit_length(n)
    _copy(column, level[:rows])
    offset = 0
    for b in range(bits):
        if (n >> b) & 1:
            if offset == 0:
                _copy(level, out[:rows])
            elif offset < rows:
                _accumulate_scaled(out[offset:rows], level[: rows - offset], offset_powers[b])
            offset += 1 << b
        step = 1 << b
        if offset >= rows or step >= rows or b + 1 == bits:
            continue
        _copy(level, spare[:step])
        _scaled_add(level[: rows - step], step_powers[b], level[step:rows], spare[step:rows])
        level, spare = spare, level


@njit(**COMPILE)
def ewma_seeded_column(column, ewma, scratch, out) -> None:
    """TA-Lib-seeded EMA of one ticker over the trailing ``memory`` rows.

    ``alpha * sum_{k<m} beta**k x[t-k]`` over the ``m`` rows after the window's first ``period``
    rows, plus ``beta**m`` (``seed_weight[m]``) times the average of those ``period`` rows.
    ``scratch`` is ``3 + bit_length(period)`` scratch rows.
    """
    alpha, period, memory, step_powers, offset_powers, seed_weight = ewma
    rows = column.shape[0]
    if rows < period:
        out[:rows] = np.nan
        return
    after_seed, level, spare, levels = scratch[0], scratch[1], scratch[2], scratch[3:]
    _copy(column, after_seed[:rows])
    after_seed[:period] = 0.0  # only rows after the seed enter the recursion
    _geometric_column(
        after_seed[:rows], memory - period, step_powers, offset_powers, level, spare, out
    )
    for t in range(rows):
        out[t] = out[t] * alpha
    out[: period - 1] = np.nan
    seed_sum = after_seed
    window_column(column, period, False, levels, seed_sum)
    first_seed = seed_sum[period - 1] / period
    early = min(memory - 1, rows) - (period - 1)
    _accumulate_scaled(out[period - 1 : period - 1 + early], seed_weight[:early], first_seed)
    if rows >= memory:
        _add_seed(
            out[memory - 1 : rows],
            seed_sum[period - 1 : rows - memory + period],
            period,
            seed_weight[memory - period],
        )


@njit(**COMPILE)
def _add_seed(out, seed_sum, period, weight) -> None:
    for i in range(out.shape[0]):
        out[i] = out[i] + (seed_sum[i] / period) * weight


@njit(inline="always")
def ewma_scratch(ewma, rows):
    return np.empty((3 + bit_length(ewma[1]), rows))


@njit(inline="always")
def wilder_column(column, ewma, scratch, out) -> None:
    """Wilder's smoothing of rows ``1..`` of one ticker (changes and true ranges start there)."""
    if column.shape[0] > 1:
        ewma_seeded_column(column[1:], ewma, scratch, out[1:])


# -- panels: every ticker --------------------------------------------------------------------------


@njit(**COMPILE)
def window_reduce(values, n, use_max):
    """Sum (``use_max`` False) or maximum over each ticker's trailing ``n`` rows."""
    tickers, rows = values.shape
    out = np.empty((tickers, rows))
    levels = np.empty((bit_length(n), rows))
    for j in range(tickers):
        window_column(values[j], n, use_max, levels, out[j])
    return out


@njit(**COMPILE)
def geometric_window_sum(values, n, step_powers, offset_powers):
    """``sum_{k<n} beta**k * x[t-k]`` for each ticker (see :func:`_geometric_column`)."""
    tickers, rows = values.shape
    out = np.empty((tickers, rows))
    level, spare = np.empty(rows), np.empty(rows)
    for j in range(tickers):
        _geometric_column(values[j], n, step_powers, offset_powers, level, spare, out[j])
    return out


@njit(**COMPILE)
def ewma_seeded(values, ewma):
    """TA-Lib's EMA of each ticker over its trailing ``memory`` rows (``windows.ewma_seeded``)."""
    tickers, rows = values.shape
    out = np.empty((tickers, rows))
    scratch = ewma_scratch(ewma, rows)
    for j in range(tickers):
        ewma_seeded_column(values[j], ewma, scratch, out[j])
    return out
