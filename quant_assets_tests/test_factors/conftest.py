"""Real price subsets for the factor tests, loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from quant_assets.factors import compute_factors

# Large caps plus the awkward ones: late listings (APTV 44 rows, BHF, DXC, HLT), rows without OHLC
# (BHF, DHR, O, ES), missing bars (DHR, O, ES, ICE), a split discontinuity (LNT), a bad bar (AOS).
SP500_TICKERS = [
    "AAPL", "MSFT", "JPM", "XOM", "KO", "NVDA", "GE", "F", "AMD",
    "APTV", "BHF", "DXC", "HLT", "DHR", "O", "ES", "ICE", "LNT", "AOS",
]  # fmt: skip
LONG_TICKERS = ["GE", "IBM", "KO", "WMT", "INTC", "XOM"]


def _read(path: Path, tickers: list[str]) -> pd.DataFrame:
    frame = pd.read_csv(path, parse_dates=["date"], dtype={"ticker": str})
    frame = frame[frame["ticker"].isin(tickers)].reset_index(drop=True)
    return frame.astype({c: "float64" for c in ("open", "high", "low", "close", "volume")})


@pytest.fixture(scope="session")
def sp500(shared_data: Path) -> pd.DataFrame:
    """19 S&P 500 tickers, 2013-02-08 .. 2018-02-07, OHLCV with some empty fields."""
    return _read(shared_data / "sp500_5yr_2013_2018.csv.gz", SP500_TICKERS)


@pytest.fixture(scope="session")
def sp500_factors(sp500: pd.DataFrame) -> pd.DataFrame:
    return compute_factors(sp500)


@pytest.fixture(scope="session")
def long_history(shared_data: Path) -> pd.DataFrame:
    """6 tickers with 9,000-14,000 rows each: longer than every factor's lookback."""
    return _read(shared_data / "us_stocks_long_1962_2017.csv.gz", LONG_TICKERS)
