"""Fixtures of the fault suite: real per-ticker price files, cut from the source file once."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def sp500_rows(shared_data) -> pd.DataFrame:
    """The real 5-year S&P 500 file as text, read once for the whole fault suite."""
    return pd.read_csv(shared_data / "sp500_5yr_2013_2018.csv.gz", dtype=str, keep_default_na=False)


@pytest.fixture
def ticker_files(sp500_rows):
    """``ticker_files(raw, tickers, gz=False)``: the per-ticker files of
    :func:`quant_assets_tests.dagster_project.write_real_ticker_files`, without re-reading the
    source file each time."""

    def write(raw: Path, tickers: list[str], gz: bool = False) -> dict[str, Path]:
        raw.mkdir(parents=True, exist_ok=True)
        out = {}
        for ticker in tickers:
            text = (
                sp500_rows[sp500_rows["ticker"] == ticker]
                .drop(columns="ticker")
                .to_csv(index=False)
            )
            path = raw / f"{ticker}_data.csv{'.gz' if gz else ''}"
            path.write_bytes(gzip.compress(text.encode(), mtime=0) if gz else text.encode())
            out[ticker] = path
        return out

    return write
