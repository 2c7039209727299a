"""Real bars for the RL tests: six S&P 500 stocks, 2013-2018, two of them with missing bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from quant_assets.models import build_panel, deep_momentum_features
from quant_assets.rl import TradingCosts, trading_data

# DHR and O miss 16 closes each, and some of these rows miss their open.
TICKERS = ["AAPL", "BAC", "CVX", "DHR", "JNJ", "O"]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Two shared cores: one thread keeps runs reproducible and polite."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def sp500_bars(shared_data: Path) -> dict[str, pd.DataFrame]:
    """Wide ``close``, ``open`` and ``volume`` panels (2013-02-08 .. 2018-02-07)."""
    bars = pd.read_csv(shared_data / "sp500_5yr_2013_2018.csv.gz", parse_dates=["date"])
    bars = bars[bars["ticker"].isin(TICKERS)]
    return {
        field: bars.pivot(index="date", columns="ticker", values=field)
        for field in ("close", "open", "volume")
    }


@pytest.fixture(scope="session")
def sp500_panel(sp500_bars):
    closes = sp500_bars["close"]
    return build_panel(deep_momentum_features(closes), closes)


@pytest.fixture(scope="session")
def train_block(sp500_panel) -> np.ndarray:
    """2014-2015: the factors need about a year of history."""
    dates = sp500_panel.dates
    return np.flatnonzero((dates >= "2014-03-01") & (dates < "2016-01-01"))


@pytest.fixture(scope="session")
def costs() -> TradingCosts:
    return TradingCosts(fee_bps=5.0, slippage_bps=3.0, initial_cash=100_000.0)


@pytest.fixture(scope="session")
def sp500_data(sp500_panel, sp500_bars, train_block, costs):
    return trading_data(
        sp500_panel,
        sp500_bars["close"],
        opens=sp500_bars["open"],
        fit_positions=train_block,
        costs=costs,
    )
