"""Reading price files of every supported layout and validating them into clean rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from quant_assets.ingest.dates import parse_dates
from quant_assets.ingest.errors import PriceFileError, PriceFileNotFoundError, UnsupportedFileError
from quant_assets.ingest.names import ticker_from_filename
from quant_assets.ingest.readers import (
    RawPrices,
    _naming_the_file,
    fmp_payload_to_raw,
    peek_tickers,
    read_raw,
)
from quant_assets.ingest.schemas import MAX_PRICE, MAX_VOLUME, RULES, TICKER_PATTERN
from quant_assets.ingest.validation import validate_prices

__all__ = [
    "MAX_PRICE",
    "MAX_VOLUME",
    "RULES",
    "TICKER_PATTERN",
    "PriceFileError",
    "PriceFileNotFoundError",
    "RawPrices",
    "UnsupportedFileError",
    "fmp_payload_to_raw",
    "parse_dates",
    "peek_tickers",
    "read_prices",
    "read_raw",
    "ticker_from_filename",
    "validate_prices",
]


def read_prices(
    path: str | Path, *, as_of: dt.date | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a price file of any supported layout and validate it.

    Returns ``(valid, rejected)`` with ``len(valid) + len(rejected)`` equal to the rows read
    (blank lines are no rows; for a wide close-only file, the non-empty date x ticker cells,
    plus one row for each damaged line that has no value at all, so that it is quarantined
    too). See :func:`quant_assets.ingest.validation.validate_prices` for the columns.

    Raises
    ------
    PriceFileError
        The file is refused (the message names it and says why); no other exception leaves
        this function (a missing file is a :class:`PriceFileNotFoundError`, which is also a
        :class:`FileNotFoundError`).
    """
    raw = read_raw(path)
    return _naming_the_file(path, lambda: validate_prices(raw, as_of=as_of))
