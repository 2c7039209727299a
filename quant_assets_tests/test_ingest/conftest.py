"""The real price files, read once per session, and a writer for small hand-made files."""

from __future__ import annotations

import datetime as dt
import gzip
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from quant_assets.ingest import read_prices

SP500_FILE = "sp500_5yr_2013_2018.csv.gz"
US_STOCKS_FILE = "us_stocks_long_1962_2017.csv.gz"
# After the last date of every shared file, so that no real row counts as 'in the future'.
REAL_DATA_AS_OF = dt.date(2024, 1, 1)
# Tickers whose exact lines the per-ticker and Kaggle-layout tests rewrite into their own files.
SP500_SAMPLE_TICKERS = ("AAPL", "BHF")
US_STOCKS_SAMPLE_TICKERS = ("PCG",)


def _lines_by_ticker(path: Path, tickers: tuple[str, ...]) -> dict[str, list[str]]:
    """Data lines of ``date,ticker,...`` files for some tickers, exactly as written, in file order."""
    wanted = {t: [] for t in tickers}
    text = gzip.decompress(path.read_bytes()).decode()
    for line in text.splitlines()[1:]:
        ticker = line.split(",", 2)[1]
        if ticker in wanted:
            wanted[ticker].append(line)
    return wanted


@pytest.fixture(scope="session")
def sp500_prices(shared_data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(valid, rejected)`` of the Kaggle S&P 500 five-year file (619,040 rows)."""
    return read_prices(shared_data / SP500_FILE, as_of=REAL_DATA_AS_OF)


@pytest.fixture(scope="session")
def us_stocks_prices(shared_data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(valid, rejected)`` of the 50 long-history stocks (560,644 rows)."""
    return read_prices(shared_data / US_STOCKS_FILE, as_of=REAL_DATA_AS_OF)


@pytest.fixture(scope="session")
def sp500_lines(shared_data: Path) -> dict[str, list[str]]:
    """``{ticker: ["2013-02-08,AAPL,67.7142,...", ...]}`` for :data:`SP500_SAMPLE_TICKERS`."""
    return _lines_by_ticker(shared_data / SP500_FILE, SP500_SAMPLE_TICKERS)


@pytest.fixture(scope="session")
def us_stocks_lines(shared_data: Path) -> dict[str, list[str]]:
    """``{ticker: [line, ...]}`` for :data:`US_STOCKS_SAMPLE_TICKERS` of the long-history file."""
    return _lines_by_ticker(shared_data / US_STOCKS_FILE, US_STOCKS_SAMPLE_TICKERS)


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[..., Path]:
    """``write_file(name, text, gz=False)`` writes ``text`` (as is, no newline added) to tmp."""

    def write(name: str, text: str, *, gz: bool = False) -> Path:
        path = tmp_path / name
        data = text.encode()
        path.write_bytes(gzip.compress(data) if gz else data)
        return path

    return write
