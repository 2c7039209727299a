"""The long ``ticker, date, factor, value`` output, filled factor by factor in place."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from quant_assets.factors.panel import PricePanel, SortedPrices

_COMPILE = {"cache": True, "nogil": True}


class LongTable:
    """Preallocated long-format columns, one contiguous block of rows per factor.

    Kept are the cells dated from ``first_code`` on with a finite value, ticker by ticker in date
    order. Counting a factor's cells (:meth:`count`) and filling its block (:meth:`fill`) may run in
    any thread: the compiled loops release the GIL and the blocks do not overlap. Only
    :meth:`reserve`, which hands out the blocks in registry order, runs in the calling thread.
    """

    def __init__(self, prices: SortedPrices, names: list[str], rows_per_factor: int) -> None:
        capacity = rows_per_factor * len(names)
        self._prices = prices
        self._names = names
        self._values = np.empty(capacity)
        self._tickers = np.empty(capacity, dtype=_code_dtype(len(prices.tickers)))
        self._dates = np.empty(capacity, dtype="datetime64[ns]")
        self._factors = np.empty(capacity, dtype=_code_dtype(len(names)))
        self._size = 0

    @staticmethod
    def count(panel: PricePanel, values: np.ndarray, first_code: int) -> int:
        """How many cells of ``values`` (a factor on ``panel``) go into the table."""
        start, stop = _output_rows(panel, first_code)
        return int(_count_finite(_by_ticker(values), start, stop))

    def reserve(self, count: int) -> slice:
        """The next ``count`` rows of the table."""
        block = slice(self._size, self._size + count)
        self._size += count
        return block

    def fill(
        self, block: slice, code: int, panel: PricePanel, values: np.ndarray, first_code: int
    ) -> None:
        """Write factor ``code``'s kept cells into ``block`` (from :meth:`reserve`)."""
        start, stop = _output_rows(panel, first_code)
        _fill_finite(
            _by_ticker(values),
            _by_ticker(panel.date_code),
            start,
            stop,
            _first_day_if_daily(panel),
            self._prices.dates.view("int64"),
            self._values[block],
            self._tickers[block],
            self._dates[block].view("int64"),
        )
        self._factors[block] = code

    def frame(self) -> pd.DataFrame:
        rows = slice(0, self._size)
        return pd.DataFrame(
            {
                "ticker": pd.Categorical.from_codes(
                    self._tickers[rows], categories=self._prices.tickers, validate=False
                ),
                "date": self._dates[rows],
                "factor": pd.Categorical.from_codes(
                    self._factors[rows], categories=self._names, validate=False
                ),
                "value": self._values[rows],
            },
            copy=False,
        )


def _output_rows(panel: PricePanel, first_code: int) -> tuple[np.ndarray, np.ndarray]:
    """Per ticker, the panel rows dated from ``first_code`` on: ``start[j] <= row < stop[j]``."""

    stop, outputs = panel.row_counts(first_code)
    return stop - outputs, stop


def _first_day_if_daily(panel: PricePanel) -> np.ndarray:
    """Per ticker, the date code of its first row if its rows are on consecutive dates, else -1.

    Such a ticker's dates are a slice of the date table, so filling needs no per-row date codes.
    """
    return panel.cached(
        "first_day_if_daily", lambda: _consecutive_from(_by_ticker(panel.date_code))
    )


def _by_ticker(values: np.ndarray) -> np.ndarray:
    # panels are stored ticker by ticker, so this is a view unless a factor built another layout
    return np.ascontiguousarray(values.T)


def _code_dtype(n_categories: int) -> np.dtype:
    for dtype in (np.int8, np.int16, np.int32):
        if n_categories < np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


# -- compiled loops --------------------------------------------------------------------------------


@njit(inline="always")
def _finite(value: float) -> bool:
    return np.abs(value) < np.inf  # False for NaN and for +-inf


@njit(**_COMPILE)
def _count_run(values):
    kept = 0
    for i in range(values.shape[0]):
        kept += _finite(values[i])
    return kept


@njit(**_COMPILE)
def _count_finite(values, start, stop):
    kept = 0
    for j in range(values.shape[0]):
        kept += _count_run(values[j, start[j] : stop[j]])
    return kept


@njit(**_COMPILE)
def _consecutive_from(date_code):
    first_day = np.full(date_code.shape[0], -1)
    for j in range(date_code.shape[0]):
        days = date_code[j]
        if len(days) == 0 or days[0] < 0:
            continue
        t = 0
        while t < len(days) and days[t] == days[0] + t:
            t += 1
        if t == len(days) or days[t] < 0:  # consecutive up to the padding
            first_day[j] = days[0]
    return first_day


@njit(**_COMPILE)
def _copy_run(values, stamps, ticker, out_values, out_tickers, out_dates) -> None:
    for i in range(out_values.shape[0]):
        out_values[i] = values[i]
        out_tickers[i] = ticker
        out_dates[i] = stamps[i]


@njit(**_COMPILE)
def _gather(table, codes, out) -> None:
    for i in range(out.shape[0]):
        out[i] = table[codes[i]]


@njit(**_COMPILE)
def _fill_finite(
    values, date_code, start, stop, first_day, stamps, out_values, out_tickers, out_dates
):
    """Write each ticker's finite values in rows ``start[j] .. stop[j] - 1``, in order.

    A ticker's finite values are usually one run (from the end of the warm-up on), copied in one
    vectorised loop, with its dates a slice of ``stamps`` if ``first_day[j] >= 0``; otherwise
    value by value.
    """
    row = 0
    for j in range(values.shape[0]):
        v, d = values[j, start[j] : stop[j]], date_code[j, start[j] : stop[j]]
        kept = _count_run(v)
        if kept == 0:
            continue
        first = 0
        while not _finite(v[first]):
            first += 1
        end = row + kept
        if first + kept <= v.shape[0] and _count_run(v[first : first + kept]) == kept:
            if first_day[j] >= 0:
                day = first_day[j] + start[j] + first
                run_stamps = stamps[day : day + kept]
            else:
                run_stamps = out_dates[row:end]
                _gather(stamps, d[first : first + kept], run_stamps)
            _copy_run(
                v[first : first + kept],
                run_stamps,
                j,
                out_values[row:end],
                out_tickers[row:end],
                out_dates[row:end],
            )
        else:
            for t in range(v.shape[0]):
                if _finite(v[t]):
                    out_values[row] = v[t]
                    out_tickers[row] = j
                    out_dates[row] = stamps[d[t]]
                    row += 1
        row = end
