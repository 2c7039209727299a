"""Real price panels for the backtest tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

# Thirty names in alphabetical order plus two with missing bars (DHR 16, O 16), so parity
# covers NaN closes as well.
N_ALPHABETICAL = 30
GAPPY = ["DHR", "O"]


@pytest.fixture(scope="session")
def sp500_bars(shared_data: Path) -> dict[str, pd.DataFrame]:
    """Wide ``close``, ``open`` and ``volume`` panels (2013-02-08 .. 2018-02-07, 32 tickers)."""
    bars = pd.read_csv(shared_data / "sp500_5yr_2013_2018.csv.gz", parse_dates=["date"])
    tickers = sorted(bars["ticker"].unique())[:N_ALPHABETICAL] + GAPPY
    bars = bars[bars["ticker"].isin(tickers)]
    return {
        field: bars.pivot(index="date", columns="ticker", values=field)
        for field in ("close", "open", "volume")
    }
