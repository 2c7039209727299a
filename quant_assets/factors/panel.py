"""Long price rows laid out as row x ticker panels, one column per ticker.

Missing-day rule: each ticker is computed on its own sequence of rows (its trading days present in
the data), never on a shared calendar, and prices are never forward-filled. A lookback of ``n`` rows
is the ticker's last ``n`` rows, whatever calendar days they span. A factor sees only the rows on
which every column it needs is present: a row with a close but no high/low counts for close-based
factors and is skipped by ATR, whose previous close is then the previous complete row's.

The price is the adjusted close where ``adj_close`` is present on a row, else the close. High and
low are scaled by the same ``adj_close / close`` ratio so that ranges and closes stay comparable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

OPTIONAL_COLUMNS = ("open", "high", "low", "adj_close", "volume")


@dataclass(frozen=True)
class SortedPrices:
    """Input rows with a close, sorted by ticker then date, as plain arrays.

    ``columns`` holds ``price`` (adjusted close), ``close`` (as traded), ``high`` and ``low``
    (adjusted like the price) and ``volume``, for those present in the input.
    """

    tickers: pd.Index
    dates: np.ndarray
    ticker_code: np.ndarray
    date_code: np.ndarray
    columns: dict[str, np.ndarray]
    present: frozenset[str]

    @classmethod
    def from_frame(cls, prices: pd.DataFrame) -> SortedPrices:
        missing = {"ticker", "date", "close"} - set(prices.columns)
        if missing:
            raise ValueError(f"prices lacks required columns: {sorted(missing)}")
        close = prices["close"].to_numpy(dtype="float64")
        keep = ~np.isnan(close)
        frame = prices.loc[keep] if not keep.all() else prices
        ticker_code, tickers = _factorize_tickers(frame["ticker"])
        if (ticker_code < 0).any():  # no ticker: ignored, like a row without a close
            named = ticker_code >= 0
            frame, ticker_code = frame.loc[named], ticker_code[named]
        date_column = frame["date"]
        if not pd.api.types.is_datetime64_dtype(date_column):
            date_column = pd.to_datetime(date_column)
        if isinstance(date_column.dtype, pd.DatetimeTZDtype):
            raise ValueError("prices dates must be tz-naive trading dates")
        stamps = date_column.to_numpy(dtype="datetime64[ns]")
        if np.isnat(stamps).any():
            raise ValueError("prices has rows without a date")
        date_code, dates = _factorize_dates(stamps)
        order = None if _is_sorted(ticker_code, date_code) else np.lexsort((date_code, ticker_code))
        if order is not None:
            ticker_code, date_code = ticker_code[order], date_code[order]
        repeat = _first_repeat(ticker_code, date_code)
        if repeat >= 0:
            row = repeat if order is None else order[repeat]
            example = frame.iloc[row][["ticker", "date"]].to_dict()
            raise ValueError(f"prices has duplicate (ticker, date) rows, e.g. {example}")
        raw = {}
        for name in ("close", *OPTIONAL_COLUMNS):
            if name in frame.columns:
                values = frame[name].to_numpy(dtype="float64")
                raw[name] = values if order is None else values[order]
        present = frozenset(name for name, values in raw.items() if _has_values(values))
        return cls(
            tickers=tickers,
            dates=np.asarray(dates, dtype="datetime64[ns]"),
            ticker_code=ticker_code.astype(np.int64, copy=False),
            date_code=date_code.astype(np.int64, copy=False),
            columns=_adjusted_columns(raw),
            present=present,
        )


def _factorize_tickers(tickers: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """``pd.factorize(tickers, sort=True)`` by value: codes, and the tickers present, sorted.

    The tickers returned are plain labels (never a categorical index), one per ticker that has a
    row, so that ``tickers[code]`` is the ticker of the row whatever the input dtype. A
    categorical column is mapped through its codes: its categories may include tickers without
    rows (a filtered frame) and be in any order. Rows sorted by ticker (the usual input) are split
    where the ticker changes, without hashing; the factorize fallback handles any other order and
    the other dtypes. Missing tickers get code -1.
    """
    if isinstance(tickers.dtype, pd.CategoricalDtype):
        return _factorize_categorical(tickers)
    values = tickers.to_numpy()
    if tickers.dtype == object and len(values) > 1:
        try:
            changes = values[1:] != values[:-1]
            if changes.dtype == bool:
                starts = np.flatnonzero(np.concatenate(([True], changes)))
                uniques = pd.Index(values[starts])
                if uniques.is_monotonic_increasing and uniques.is_unique and not uniques.hasnans:
                    lengths = np.diff(np.append(starts, len(values)))
                    return np.repeat(np.arange(len(starts)), lengths), uniques
        except TypeError:  # tickers that do not compare: let factorize sort them out
            pass
    codes, uniques = pd.factorize(tickers, sort=True)
    return codes, pd.Index(uniques)


def _factorize_categorical(tickers: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """:func:`_factorize_tickers` for a categorical column: only the categories that have rows.

    Those categories are sorted by value (not by category order), then each row's category code
    is mapped to the position of its label: a lookup table of one entry per category.
    """
    category_code = tickers.cat.codes.to_numpy()
    categories = tickers.cat.categories
    named = category_code >= 0
    used = np.bincount(category_code[named], minlength=len(categories)) > 0
    labels = categories[used]
    try:
        order = labels.argsort()
    except TypeError:  # labels that do not compare: keep the category order
        order = np.arange(len(labels))
    code_of_category = np.full(len(categories) + 1, -1, dtype=np.int64)  # last entry: code -1
    code_of_category[np.flatnonzero(used)[order]] = np.arange(len(labels))
    return code_of_category[category_code], pd.Index(labels[order])


_DAY_NS = 86_400 * 10**9


def _factorize_dates(stamps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(stamps, sort=True)``; by a table of days when stamps are whole days apart.

    Daily data (all at midnight, or all at the same time of day) takes the table; any other stamps
    fall back to hashing.
    """
    if len(stamps):
        whole_days, codes, days = _day_codes(stamps.view("int64"))
        if whole_days:
            return codes, days.view("datetime64[ns]")
    return pd.factorize(stamps, sort=True)


@njit(cache=True, nogil=True)
def _day_codes(ns):
    """Codes of the distinct stamps, and those stamps (sorted), for stamps whole days apart.

    ``(False, ...)`` as soon as a stamp is not a whole number of days after the earliest. The table
    has one entry per calendar day spanned: at most ~213,000 for nanosecond stamps (1677-2262).
    """
    first = ns.min()
    codes = np.empty(len(ns), dtype=np.int64)
    span = 0
    for i in range(len(ns)):
        day = (ns[i] - first) // _DAY_NS
        if day * _DAY_NS != ns[i] - first:
            return False, codes, codes[:0]
        codes[i] = day
        span = max(span, day + 1)
    code_of_day = np.full(span, -1)
    for i in range(len(ns)):
        code_of_day[codes[i]] = 0
    days = np.empty(span, dtype=np.int64)
    distinct = 0
    for day in range(span):
        if code_of_day[day] == 0:
            code_of_day[day] = distinct
            days[distinct] = first + day * _DAY_NS
            distinct += 1
    for i in range(len(ns)):
        codes[i] = code_of_day[codes[i]]
    return True, codes, days[:distinct]


@njit(cache=True, nogil=True)
def _is_sorted(ticker_code, date_code) -> bool:
    """Whether rows are in (ticker, date) order, repeats allowed."""
    for i in range(1, len(ticker_code)):
        if ticker_code[i] < ticker_code[i - 1] or (
            ticker_code[i] == ticker_code[i - 1] and date_code[i] < date_code[i - 1]
        ):
            return False
    return True


@njit(cache=True, nogil=True)
def _first_repeat(ticker_code, date_code) -> int:
    """In sorted rows, the first one with the same (ticker, date) as the row before; -1 if none."""
    for i in range(1, len(ticker_code)):
        if ticker_code[i] == ticker_code[i - 1] and date_code[i] == date_code[i - 1]:
            return i
    return -1


@njit(cache=True, nogil=True)
def _has_values(values) -> bool:
    for value in values:  # noqa: SIM110 (a compiled loop that stops early; numba has no any(genexpr))
        if not np.isnan(value):
            return True
    return False


def _adjusted_columns(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    close = raw["close"]
    columns = {"close": close, "price": close}
    adjusted = raw.get("adj_close")
    has_adjusted = adjusted is not None and not np.isnan(adjusted).all()
    if has_adjusted:
        columns["price"] = np.where(np.isnan(adjusted), close, adjusted)
        ratio = np.where(np.isnan(adjusted), 1.0, adjusted / close)
    for name in ("high", "low"):
        if name in raw:
            columns[name] = raw[name] * ratio if has_adjusted else raw[name]
    if "volume" in raw:
        columns["volume"] = raw["volume"]
    return columns


class Memo:
    """A thread-safe memo: each key is built once, even when several threads ask at once."""

    def __init__(self) -> None:
        self._values: dict[Hashable, object] = {}
        self._locks: dict[Hashable, threading.RLock] = {}
        self._guard = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], object]) -> object:
        if key in self._values:
            return self._values[key]
        with self._guard:
            lock = self._locks.setdefault(key, threading.RLock())
        with lock:
            if key not in self._values:
                self._values[key] = build()
        return self._values[key]


@njit(cache=True, nogil=True)
def _usable_rows(ticker_code, usable, n_tickers):
    """Per ticker, how many of its rows are usable."""
    counts = np.zeros(n_tickers, dtype=np.int64)
    for i in range(len(ticker_code)):
        counts[ticker_code[i]] += usable[i]
    return counts


@njit(cache=True, nogil=True)
def _spread_by_ticker(values, ticker_code, usable, counts, fill, out) -> None:
    """Write the usable sorted rows into ``out[ticker, position]``, position counting from 0.

    ``counts[ticker]`` is the ticker's number of usable rows; the rest of its row gets ``fill``.
    """
    position, previous = 0, -1
    for i in range(len(values)):
        if usable[i]:
            ticker = ticker_code[i]
            if ticker != previous:
                position, previous = 0, ticker
            out[ticker, position] = values[i]
            position += 1
    for ticker in range(out.shape[0]):
        out[ticker, counts[ticker] :] = fill


@njit(cache=True, nogil=True)
def _rows_and_outputs(date_code, first_code):
    """Per ticker (rows of ``date_code``), its number of rows and of rows dated ``first_code`` on.

    Dates increase along a ticker's rows and padding (-1) comes last, so both are counted from the
    end.
    """
    tickers, rows = date_code.shape
    length, outputs = np.zeros(tickers, dtype=np.int64), np.zeros(tickers, dtype=np.int64)
    for j in range(tickers):
        t = rows
        while t > 0 and date_code[j, t - 1] < 0:
            t -= 1
        length[j] = t
        while t > 0 and date_code[j, t - 1] >= first_code:
            t -= 1
        outputs[j] = length[j] - t
    return length, outputs


@njit(cache=True, nogil=True)
def _copy_tails(values, start, kept, fill, out) -> None:
    """``out[j]``: ``kept[j]`` values of ``values[j]`` from ``start[j]`` on, then ``fill``."""
    for j in range(out.shape[0]):
        for t in range(kept[j]):
            out[j, t] = values[j, start[j] + t]
        out[j, kept[j] :] = fill


class PricePanel:
    """Prices as 2-D arrays: one column per ticker, row ``t`` = the ticker's ``t``-th usable row.

    Every ticker starts at row 0 and is padded with NaN after its last row (``date_code`` is -1
    there), so a shift by ``k`` rows never crosses tickers. Arrays are stored ticker by ticker
    (Fortran order: each ticker's rows are contiguous), the layout the compiled per-ticker kernels
    read without copying; numpy's elementwise operations keep it. Columns are laid out on first
    use; intermediate results shared by several factors are memoised with :meth:`cached`.

    Build one with :meth:`from_sorted`, or keep only each ticker's recent rows with :meth:`tail`.
    """

    def __init__(
        self,
        tickers: pd.Index,
        dates: np.ndarray,
        date_code: np.ndarray,
        load: Callable[[str], np.ndarray],
    ) -> None:
        self.tickers = tickers
        self.dates = dates
        self.date_code = date_code
        self.shape = date_code.shape
        self._load = load
        self._cache = Memo()

    @classmethod
    def from_sorted(cls, prices: SortedPrices, requires: tuple[str, ...] = ()) -> PricePanel:
        """Panel of the rows on which every column in ``requires`` (and the close) is present."""
        usable = np.ones(len(prices.ticker_code), dtype=bool)
        for name in requires:
            usable &= ~np.isnan(prices.columns[name])
        n_tickers = len(prices.tickers)
        counts = _usable_rows(prices.ticker_code, usable, n_tickers)
        rows = int(counts.max()) if len(counts) else 0

        def spread(values: np.ndarray, fill: float | int) -> np.ndarray:
            out = np.empty((n_tickers, rows), dtype=values.dtype)
            _spread_by_ticker(values, prices.ticker_code, usable, counts, fill, out)
            return out.T

        return cls(
            prices.tickers,
            prices.dates,
            spread(prices.date_code, -1),
            lambda column: spread(prices.columns[column], np.nan),
        )

    def tail(self, rows: int, first_date_code: int) -> PricePanel:
        """Each ticker's rows dated from ``first_date_code`` on, plus the ``rows - 1`` rows before.

        Tickers with no row from that date on are left empty. A factor whose lookback is at most
        ``rows`` has exactly the same values on those dates in the tail as in the whole panel.
        """
        date_code = np.ascontiguousarray(self.date_code.T)
        length, outputs = self.row_counts(first_date_code)
        start = np.maximum(length - outputs - rows + 1, 0)
        kept = np.where(outputs > 0, length - start, 0)
        width = int(kept.max()) if len(kept) else 0

        def gather(by_ticker: np.ndarray, fill: float | int) -> np.ndarray:
            out = np.empty((len(kept), width), dtype=by_ticker.dtype)
            _copy_tails(by_ticker, start, kept, fill, out)
            return out.T

        return PricePanel(
            self.tickers,
            self.dates,
            gather(date_code, -1),
            lambda c: gather(np.ascontiguousarray(self[c].T), np.nan),
        )

    def row_counts(self, first_date_code: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Per ticker, its number of rows and how many of them are dated ``first_date_code`` on."""
        return self.cached(
            f"row_counts:{first_date_code}",
            lambda: _rows_and_outputs(np.ascontiguousarray(self.date_code.T), first_date_code),
        )

    def __getitem__(self, column: str) -> np.ndarray:
        """``price``, ``close``, ``high``, ``low`` or ``volume`` as a panel (NaN-padded)."""
        return self.cached(f"column:{column}", lambda: self._load(column))

    @property
    def price(self) -> np.ndarray:
        """Adjusted close (close where no adjusted close is given)."""
        return self["price"]

    def cached(self, key: str, build: Callable[[], object]) -> object:
        """``build()`` once per panel, shared by every factor that asks for ``key``."""
        return self._cache.get(key, build)

    def ticker_index(self) -> np.ndarray:
        """Panel of each cell's ticker position (int32), for scattering values back to rows."""
        return self.cached(
            "ticker_index",
            lambda: np.broadcast_to(
                np.arange(self.shape[1], dtype=np.int32)[:, None], self.shape[::-1]
            ).T.copy(order="F"),
        )
