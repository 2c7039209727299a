"""Cross-sectional percentile ranks: each ticker's signal against the others on the same date."""

from __future__ import annotations

import numpy as np
from numba import njit

from quant_assets.factors.panel import PricePanel
from quant_assets.factors.window_kernels import COMPILE
from quant_assets.factors.windows import by_ticker


def cross_sectional_rank(
    panel: PricePanel, signal: np.ndarray, first_date_code: int = 0
) -> np.ndarray:
    """Percentile rank of ``signal`` among tickers on each date: 0 lowest, 1 highest.

    ``(rank - 1) / (n - 1)`` with ties sharing their average rank, among the ``n`` tickers that
    have a value that date; NaN where ``n < 2``. Only dates from ``first_date_code`` on are ranked.
    """
    date_code = np.ascontiguousarray(panel.date_code.T)
    on_date = _by_date(by_ticker(signal), date_code, first_date_code, len(panel.dates))
    # numpy's vectorised argsort is several times faster without NaN in the rows
    order = np.argsort(np.where(np.isnan(on_date), np.inf, on_date), axis=1)
    ranks = _percentile_ranks(on_date, order)
    return _by_ticker_row(ranks, date_code, first_date_code).T


@njit(**COMPILE)
def _by_date(values, date_code, first_code, n_dates):
    """Ticker x row ``values`` laid out as date x ticker, dates from ``first_code`` on (else NaN).

    ``date_code[j, t]`` is the date of row ``t`` of ticker ``j``, -1 for padding.
    """
    tickers, rows = values.shape
    out = np.full((max(n_dates - first_code, 0), tickers), np.nan)
    for j in range(tickers):
        for t in range(rows):
            if date_code[j, t] >= first_code:
                out[date_code[j, t] - first_code, j] = values[j, t]
    return out


@njit(**COMPILE)
def _by_ticker_row(values, date_code, first_code):
    """The inverse of :func:`_by_date`: date x ticker ``values`` back to ticker x row cells."""
    tickers, rows = date_code.shape
    out = np.full((tickers, rows), np.nan)
    for j in range(tickers):
        for t in range(rows):
            if date_code[j, t] >= first_code:
                out[j, t] = values[date_code[j, t] - first_code, j]
    return out


@njit(**COMPILE)
def _percentile_ranks(values, order):
    """Per row, ``(rank - 1) / (n - 1)`` among the ``n`` non-NaN values; NaN if ``n < 2``.

    ``order`` sorts each row, NaN anywhere after the values they tie with (``np.argsort`` of the
    row with NaN as ``+inf``). Ties share their average rank, as
    ``pandas.DataFrame.rank(axis=1, method="average")``.
    """
    dates, tickers = values.shape
    out = np.full((dates, tickers), np.nan)
    ranked = np.empty(tickers, dtype=np.int64)
    for d in range(dates):
        row = values[d]
        n = 0
        for j in order[d]:
            if not np.isnan(row[j]):
                ranked[n] = j
                n += 1
        if n < 2:
            continue
        first = 0
        while first < n:
            last = first
            while last + 1 < n and row[ranked[last + 1]] == row[ranked[first]]:
                last += 1
            rank = (first + last) / 2 + 1.0  # average of the 1-based ranks first+1 .. last+1
            for k in range(first, last + 1):
                out[d, ranked[k]] = (rank - 1.0) / (n - 1.0)
            first = last + 1
    return out
