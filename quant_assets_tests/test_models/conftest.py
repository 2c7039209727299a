"""Small real panels for the model tests (CPU only)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from skfolio.datasets import load_sp500_dataset

from quant_assets.models import build_panel, deep_momentum_features, train_validation_test_split

TICKERS = ["AAPL", "BAC", "CVX", "JNJ", "KO", "MSFT"]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Two shared cores: one thread keeps runs reproducible and polite."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def sp500_closes() -> pd.DataFrame:
    """Six adjusted closes from skfolio's bundled S&P 500 set, 2004-2009 (no gaps)."""
    closes = load_sp500_dataset()[TICKERS].loc["2004":"2009"]
    return closes.rename_axis(index="date", columns="ticker")


@pytest.fixture(scope="session")
def sp500_features(sp500_closes) -> pd.DataFrame:
    return deep_momentum_features(sp500_closes)


@pytest.fixture(scope="session")
def sp500_panel(sp500_features, sp500_closes):
    return build_panel(sp500_features, sp500_closes)


@pytest.fixture(scope="session")
def sp500_split(sp500_panel):
    """Train 2005-2007 (features need ~a year of history), validate 2008, test 2009."""
    return train_validation_test_split(
        sp500_panel.dates, validation_start="2008", test_start="2009", embargo=10
    )


@pytest.fixture(scope="session")
def long_history_closes(shared_data) -> pd.DataFrame:
    """Real closes with late listings and missing bars: 1975-1979 of the 50-stock file."""
    frame = pd.read_csv(
        shared_data / "us_stocks_long_1962_2017.csv.gz",
        usecols=["date", "ticker", "close"],
        parse_dates=["date"],
    )
    frame = frame[(frame["date"] >= "1975-01-01") & (frame["date"] < "1980-01-01")]
    wide = frame.pivot(index="date", columns="ticker", values="close")
    return wide[["AET", "F", "GE", "IBM", "KO", "WMT", "XOM"]]
