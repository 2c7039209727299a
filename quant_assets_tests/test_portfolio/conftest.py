"""Panels for the portfolio tests: tiny hand-made frames, random walks and real S&P 500 closes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_assets.ingest import read_prices
from quant_assets.models.returns import wide_closes

# Ten liquid names of the 2013-2018 file, none with gaps.
BL_TICKERS = ["AAPL", "AMZN", "JNJ", "JPM", "KO", "MSFT", "PG", "WMT", "XOM", "GE"]


def wide(dates: pd.DatetimeIndex, **columns: list[float]) -> pd.DataFrame:
    """A float frame on the first ``len(column)`` of ``dates``."""
    n = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=dates[:n], dtype=float)


def random_walk_panel(
    seed: int, n_dates: int = 260, tickers: tuple[str, ...] = ("A", "B", "C")
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(signals, closes)``: correlated random-walk closes with gaps and signals in [-1, 1]."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2020-01-01", periods=n_dates)
    n = len(tickers)
    mixing = np.eye(n) + 0.5
    returns = rng.normal(0.0003, 0.012, (n_dates, n)) @ mixing / mixing.sum(axis=0)
    closes = pd.DataFrame(
        100.0 * np.exp(np.cumsum(returns, axis=0)), index=dates, columns=list(tickers)
    )
    closes.iloc[rng.random(closes.shape) < 0.02] = np.nan  # missing bars
    signals = pd.DataFrame(rng.uniform(-1, 1, closes.shape), index=dates, columns=list(tickers))
    signals = signals.where(rng.random(closes.shape) > 0.05)  # days without a prediction
    return signals, closes


@pytest.fixture(scope="session")
def sp500_closes(shared_data: Path) -> pd.DataFrame:
    """Wide closes of :data:`BL_TICKERS`, 2013-02-08 .. 2018-02-07 (validated by read_prices)."""
    valid, _ = read_prices(shared_data / "sp500_5yr_2013_2018.csv.gz")
    valid = valid[valid["ticker"].isin(BL_TICKERS)]
    valid = valid.assign(ticker=valid["ticker"].astype(str))
    return wide_closes(valid)[BL_TICKERS]
