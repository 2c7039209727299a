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
        ticker_code, tickers = pd.factorize(frame["ticker"], sort=True)
        date_column = frame["date"]
        if not pd.api.types.is_datetime64_dtype(date_column):
            date_column = pd.to_datetime(date_column)
        if isinstance(date_column.dtype, pd.DatetimeTZDtype):
            raise ValueError("prices dates must be tz-naive trading dates")
        stamps = date_column.to_numpy(dtype="datetime64[ns]")
        if np.isnat(stamps).any():
            raise ValueError("prices has rows without a date")
        date_code, dates = pd.factorize(stamps, sort=True)
        order = None if _is_sorted(ticker_code, date_code) else np.lexsort((date_code, ticker_code))
        if order is not None:
            ticker_code, date_code = ticker_code[order], date_code[order]
        duplicated = np.flatnonzero((np.diff(ticker_code) == 0) & (np.diff(date_code) == 0))
        if len(duplicated):
            row = duplicated[0] + 1 if order is None else order[duplicated[0] + 1]
            example = frame.iloc[row][["ticker", "date"]].to_dict()
            raise ValueError(f"prices has duplicate (ticker, date) rows, e.g. {example}")
        raw = {}
        for name in ("close", *OPTIONAL_COLUMNS):
            if name in frame.columns:
                values = frame[name].to_numpy(dtype="float64")
                raw[name] = values if order is None else values[order]
        present = frozenset(name for name, values in raw.items() if not np.isnan(values).all())
        return cls(
            tickers=pd.Index(tickers),
            dates=np.asarray(dates, dtype="datetime64[ns]"),
            ticker_code=ticker_code.astype(np.int64),
            date_code=date_code.astype(np.int64),
            columns=_adjusted_columns(raw),
            present=present,
        )


def _is_sorted(ticker_code: np.ndarray, date_code: np.ndarray) -> bool:
    same_ticker = ticker_code[1:] == ticker_code[:-1]
    return bool(
        np.all(ticker_code[1:] >= ticker_code[:-1])
        and np.all(~same_ticker | (date_code[1:] >= date_code[:-1]))
    )


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


class PricePanel:
    """Prices as 2-D arrays: one column per ticker, row ``t`` = the ticker's ``t``-th usable row.

    Every ticker starts at row 0 and is padded with NaN after its last row (``date_code`` is -1
    there), so a shift by ``k`` rows never crosses tickers and the memory layout keeps shifted
    slices contiguous. Columns are laid out on first use; intermediate results shared by several
    factors are memoised with :meth:`cached`.

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
        usable = None
        for name in requires:
            present = ~np.isnan(prices.columns[name])
            usable = present if usable is None else usable & present
        codes = prices.ticker_code if usable is None else prices.ticker_code[usable]
        n_tickers = len(prices.tickers)
        starts = np.searchsorted(codes, np.arange(n_tickers))
        position = np.arange(len(codes)) - starts[codes]
        shape = (int(position.max()) + 1 if len(codes) else 0, n_tickers)
        cell = position * n_tickers + codes

        def spread(values: np.ndarray, fill: float | int) -> np.ndarray:
            out = np.full(shape[0] * shape[1], fill, dtype=values.dtype)
            out[cell] = values if usable is None else values[usable]
            return out.reshape(shape)

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
        length = np.count_nonzero(self.date_code >= 0, axis=0)
        outputs = np.count_nonzero(self.date_code >= first_date_code, axis=0)
        start = np.maximum(length - outputs - rows + 1, 0)
        kept = np.where(outputs > 0, length - start, 0)
        offset = np.arange(int(kept.max()) if len(kept) else 0)[:, None]
        inside = offset < kept
        source = np.where(inside, start + offset, 0)

        def gather(values: np.ndarray, fill: float | int) -> np.ndarray:
            return np.where(inside, np.take_along_axis(values, source, axis=0), fill)

        return PricePanel(
            self.tickers, self.dates, gather(self.date_code, -1), lambda c: gather(self[c], np.nan)
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
            lambda: np.broadcast_to(np.arange(self.shape[1], dtype=np.int32), self.shape).copy(),
        )
