"""``compute_factors``: every registered factor for every ticker at once, as a long table."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from quant_assets.factors.cross_section import cross_sectional_rank
from quant_assets.factors.long_table import LongTable
from quant_assets.factors.panel import Memo, PricePanel, SortedPrices
from quant_assets.factors.registry import (
    CROSS_SECTIONAL,
    FactorDefinition,
    available_factors,
    required_lookback,
    resolve,
)

log = logging.getLogger(__name__)

THREADS = min(4, os.cpu_count() or 1)


def compute_factors(
    prices: pd.DataFrame,
    names: Iterable[str] | None = None,
    *,
    since: object | None = None,
) -> pd.DataFrame:
    """Compute factors for all tickers in ``prices`` at once.

    Parameters
    ----------
    prices
        Long daily prices: ``ticker``, ``date`` (tz-naive), ``close`` and optionally ``adj_close``,
        ``open``, ``high``, ``low``, ``volume``; one row per (ticker, date), any order. Rows without
        a close or without a ticker are ignored.
    names
        Factors to compute (default: all in the registry). Those whose columns are absent or all-NaN
        are skipped, with the reasons in ``result.attrs["skipped_factors"]`` and the log.
    since
        Keep only rows dated on or after this date. An incremental update passes the newest date and
        at least :func:`required_lookback` rows per ticker (:func:`trim_to_lookback`); the values
        then equal a full recomputation bit for bit. Only the lookback each factor needs is
        computed.

    Returns
    -------
    pandas.DataFrame
        Long table ``ticker`` (categorical), ``date`` (datetime64[ns]), ``factor`` (categorical, in
        registry order), ``value`` (float64). Rows are grouped by factor, then by ticker in date order.
        Values that are NaN or infinite (warm-up, missing inputs, a zero denominator) are dropped: a
        missing row means NULL. :func:`to_wide` pivots it to one column per factor.

    Notes
    -----
    Each ticker is computed on its own sequence of rows, without forward-filling (see
    :mod:`quant_assets.factors.panel`); lookbacks count rows. Cross-sectional factors are percentile
    ranks ``(rank - 1) / (n - 1)`` (ties averaged) among the ``n >= 2`` tickers that have the signal
    on that date. Factors run in up to :data:`THREADS` threads; results do not depend on it.
    """
    sorted_prices = SortedPrices.from_frame(prices)
    wanted, skipped = available_factors(sorted_prices.present | {"close"}, names)
    for name, reason in skipped.items():
        log.info("skipping factor %s: %s", name, reason)
    definitions = resolve(wanted)
    first_code = _first_date_code(sorted_prices.dates, since)
    rows_out = int(np.count_nonzero(sorted_prices.date_code >= first_code))
    table = LongTable(sorted_prices, [d.name for d in definitions], rows_out)
    panels = _Panels(sorted_prices, first_code)

    def run(definition: FactorDefinition) -> tuple[PricePanel, np.ndarray, int]:
        panel = panels.for_factor(definition)
        with np.errstate(divide="ignore", invalid="ignore"):
            values = _factor_values(panel, definition, first_code)
        return panel, values, table.count(panel, values, first_code)

    # The compiled kernels and numpy's loops release the GIL, so factors run side by side on the
    # available cores; the values do not depend on the schedule, since each one is computed by the
    # same operations. Long lookbacks (the exponential averages) go first so the slowest work
    # starts early. Each factor's block of the long table is reserved in registry order, then
    # filled in the pool too, so that writing the output is shared between the cores as well.
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        by_cost = sorted(definitions, key=lambda d: -d.lookback)
        futures = {d.name: pool.submit(run, d) for d in by_cost}
        fills = []
        for code, definition in enumerate(definitions):
            panel, values, count = futures.pop(definition.name).result()
            block = table.reserve(count)
            fills.append(pool.submit(table.fill, block, code, panel, values, first_code))
        for fill in fills:
            fill.result()
    frame = table.frame()
    frame.attrs["skipped_factors"] = skipped
    return frame


class _Panels:
    """One panel per set of required columns; for an incremental run, also shorter tails of it.

    When only recent dates are wanted, a factor with a short lookback is computed on the tail of
    each ticker's rows that it needs (``_TAIL_ROWS`` tiers), not on the whole history.
    """

    _TAIL_ROWS = (64, 256, 576, 1024)

    def __init__(self, prices: SortedPrices, first_code: int) -> None:
        self._prices = prices
        self._first_code = first_code
        self._panels = Memo()

    def for_factor(self, definition: FactorDefinition) -> PricePanel:
        requires = tuple(c for c in definition.requires if c != "close")
        whole = self._panels.get(
            (requires, 0), lambda: PricePanel.from_sorted(self._prices, requires)
        )
        if self._first_code == 0:
            return whole
        tier = next((t for t in self._TAIL_ROWS if t >= definition.lookback), 0)
        if not tier:
            return whole
        return self._panels.get((requires, tier), lambda: whole.tail(tier, self._first_code))


def _first_date_code(dates: np.ndarray, since: object | None) -> int:
    if since is None:
        return 0
    return int(np.searchsorted(dates, np.datetime64(pd.Timestamp(since), "ns")))


def _factor_values(panel: PricePanel, definition: FactorDefinition, first_code: int) -> np.ndarray:
    raw = definition.compute(panel, **definition.params)
    if definition.group == CROSS_SECTIONAL:
        return cross_sectional_rank(panel, raw, first_code)
    return raw


def to_wide(factor_values: pd.DataFrame) -> pd.DataFrame:
    """Pivot the long output of :func:`compute_factors` to (ticker, date) rows x factor columns.

    Rows are the (ticker, date) pairs with at least one value, sorted; columns keep the factor order
    (categorical order if ``factor`` is categorical); absent values are NaN.
    """
    ticker_codes, tickers = pd.factorize(factor_values["ticker"], sort=True)
    date_codes, dates = pd.factorize(factor_values["date"], sort=True)
    factor = factor_values["factor"]
    if isinstance(factor.dtype, pd.CategoricalDtype):
        factor_codes, names = factor.cat.codes.to_numpy(), list(factor.cat.categories)
    else:
        factor_codes, names = pd.factorize(factor)
    for column, codes in (("ticker", ticker_codes), ("date", date_codes), ("factor", factor_codes)):
        if (codes < 0).any():  # code -1 would index the last ticker, date or factor
            raise ValueError(f"factor values have rows without a {column}")
    pair = ticker_codes.astype(np.int64) * len(dates) + date_codes
    used = np.zeros(len(tickers) * len(dates), dtype=bool)
    used[pair] = True
    row_of_pair = np.cumsum(used) - 1
    grid = np.full((int(used.sum()), len(names)), np.nan)
    grid[row_of_pair[pair], factor_codes] = factor_values["value"].to_numpy()
    kept = np.flatnonzero(used)
    index = pd.MultiIndex.from_arrays(
        [np.asarray(tickers)[kept // len(dates)], np.asarray(dates)[kept % len(dates)]],
        names=["ticker", "date"],
    )
    return pd.DataFrame(grid, index=index, columns=pd.Index(names, name="factor"))


def trim_to_lookback(
    prices: pd.DataFrame, names: Iterable[str] | None = None, *, new_rows: int = 1
) -> pd.DataFrame:
    """The rows an incremental update needs: each ticker's last ``lookback + new_rows - 1`` rows.

    ``lookback`` is :func:`required_lookback` of ``names``, available factors only (all if None).

    Counts only rows with a close, and keeps a few more rows where a factor's other columns (high,
    low, volume) are missing on some rows, so every factor still sees its full lookback.
    """
    present = {c for c in prices.columns if prices[c].notna().any()}
    wanted, _ = available_factors(present, names)
    definitions = resolve(wanted)
    codes, _ = pd.factorize(prices["ticker"])
    if (codes < 0).any():  # rows without a ticker are ignored, as compute_factors ignores them
        return trim_to_lookback(prices.loc[codes >= 0], names, new_rows=new_rows)
    stamps = pd.to_datetime(prices["date"]).to_numpy(dtype="datetime64[ns]").view("int64")
    keep_from = np.full(codes.max() + 1 if len(codes) else 0, np.iinfo(np.int64).max)
    for requires in {d.requires for d in definitions}:
        rows = required_lookback([d.name for d in definitions if d.requires == requires])
        usable = np.ones(len(prices), dtype=bool)
        for column in ("close", *requires):
            usable &= prices[column].notna().to_numpy()
        keep_from = np.minimum(
            keep_from, _nth_last_date(codes, stamps, usable, rows + new_rows - 1)
        )
    return prices.loc[stamps >= keep_from[codes]]


def _nth_last_date(codes: np.ndarray, stamps: np.ndarray, usable: np.ndarray, n: int) -> np.ndarray:
    """Per ticker, the date of its ``n``-th last usable row (its first if it has fewer)."""
    n_tickers = codes.max() + 1
    idx = np.flatnonzero(usable)
    order = idx[np.lexsort((-stamps[idx], codes[idx]))]
    counts = np.bincount(codes[order], minlength=n_tickers)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out = np.full(n_tickers, np.iinfo(np.int64).max)
    has_rows = counts > 0
    pick = starts[has_rows] + np.minimum(n, counts[has_rows]) - 1
    out[has_rows] = stamps[order[pick]]
    return out
