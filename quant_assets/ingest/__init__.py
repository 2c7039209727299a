"""Reading price files of every supported layout and validating them into clean rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from quant_assets.ingest.readers import (
    RawPrices,
    UnsupportedFileError,
    fmp_payload_to_raw,
    peek_tickers,
    read_raw,
)
from quant_assets.ingest.schemas import RULES, TICKER_PATTERN
from quant_assets.ingest.validation import validate_prices

__all__ = [
    "RULES",
    "TICKER_PATTERN",
    "RawPrices",
    "UnsupportedFileError",
    "fmp_payload_to_raw",
    "peek_tickers",
    "read_prices",
    "read_raw",
    "validate_prices",
]


def read_prices(
    path: str | Path, *, as_of: dt.date | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a price file of any supported layout and validate it.

    Returns ``(valid, rejected)`` with ``len(valid) + len(rejected)`` equal to the rows read
    (for a wide close-only file, the non-empty date x ticker cells, plus one row for each
    damaged line that has no value at all, so that it is quarantined too). See
    :func:`quant_assets.ingest.validation.validate_prices` for the columns.
    """
    return validate_prices(read_raw(path), as_of=as_of)
