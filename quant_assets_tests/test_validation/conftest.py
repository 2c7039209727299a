"""Real bars for the validation tests: three S&P 500 tickers over half a year of 2015."""

from __future__ import annotations

import pandas as pd
import pytest

from quant_assets.ingest import read_prices
from quant_assets.validation import market_from_bars

TICKERS = ["AAPL", "MSFT", "XOM"]


@pytest.fixture(scope="session")
def sp500_raw_bars(shared_data) -> pd.DataFrame:
    valid, _ = read_prices(shared_data / "sp500_5yr_2013_2018.csv.gz")
    return valid[valid["ticker"].isin([*TICKERS, "JNJ", "DISCA"])].reset_index(drop=True)


@pytest.fixture(scope="session")
def market(sp500_raw_bars):
    return market_from_bars(sp500_raw_bars, TICKERS, "2015-01-01", "2015-06-30")
