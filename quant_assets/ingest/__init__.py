"""Reading price files of every supported layout and validating them into clean rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from quant_assets.ingest.dates import parse_dates
from quant_assets.ingest.errors import PriceFileError, PriceFileNotFoundError, UnsupportedFileError
from quant_assets.ingest.names import ticker_from_filename
from quant_assets.ingest.readers import (
    CHUNK_ROWS,
    FileTooLargeToReadWhole,
    RawPrices,
    _naming_the_file,
    concat_rows,
    fmp_payload_to_raw,
    iter_raw_chunks,
    peek_tickers,
    read_raw,
    take_rows,
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
    "CHUNK_ROWS",
    "fmp_payload_to_raw",
    "ValidatedChunk",
    "iter_price_chunks",
    "iter_validated_chunks",
    "parse_dates",
    "peek_tickers",
    "read_prices",
    "read_raw",
    "ticker_from_filename",
    "validate_prices",
]


def read_prices(
    path: str | Path, *, as_of: dt.date | None = None, chunk_rows: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a price file of any supported layout and validate it.

    Returns ``(valid, rejected)`` with ``len(valid) + len(rejected)`` equal to the rows read
    (blank lines are no rows; for a wide close-only file, the non-empty date x ticker cells,
    plus one row for each damaged line that has no value at all, so that it is quarantined
    too). See :func:`quant_assets.ingest.validation.validate_prices` for the columns.

    A file larger than :data:`~quant_assets.ingest.readers.READ_WHOLE_MAX_BYTES` decompressed
    (or any file, with ``chunk_rows``) is read in blocks (:func:`iter_price_chunks`) and the
    pieces joined: the same rows and rules, with the rows of repeated (ticker, date) keys
    last. To keep memory bounded, iterate :func:`iter_price_chunks` instead.

    Raises
    ------
    PriceFileError
        The file is refused (the message names it and says why); no other exception leaves
        this function (a missing file is a :class:`PriceFileNotFoundError`, which is also a
        :class:`FileNotFoundError`).
    """
    if chunk_rows is None:
        try:
            raw = read_raw(path)
        except FileTooLargeToReadWhole:
            chunk_rows = CHUNK_ROWS
        else:
            return _naming_the_file(path, lambda: validate_prices(raw, as_of=as_of))
    pieces = list(iter_price_chunks(path, rows=chunk_rows, as_of=as_of))
    # Empty pieces are left out (pandas would let their all-NaN columns decide dtypes).
    valid = pd.concat([v for v, _ in pieces if len(v)] or [pieces[0][0]], ignore_index=True)
    rejected = pd.concat([r for _, r in pieces if len(r)] or [pieces[0][1]], ignore_index=True)
    return valid, rejected


@dataclass(frozen=True)
class ValidatedChunk:
    """One piece of a file read in blocks: its ``valid`` and ``rejected`` rows, plus what the
    manifest needs of the raw rows behind them: how many (``rows_read``; 0 for the last piece
    of held-back duplicates, whose rows were counted in their own blocks), the layout and the
    file's tickers as written (stripped, upper case; a missing one is ``NAN``)."""

    valid: pd.DataFrame
    rejected: pd.DataFrame
    rows_read: int
    layout: str
    tickers: frozenset[str]


def iter_price_chunks(
    path: str | Path,
    *,
    rows: int = CHUNK_ROWS,
    as_of: dt.date | None = None,
    source: str | None = None,
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """``(valid, rejected)`` of a price file, one block of about ``rows`` lines at a time.

    Memory stays bounded by the block, not the file (two passes over the text: see
    :func:`~quant_assets.ingest.readers.iter_raw_chunks`). Every rule of :func:`read_prices`
    holds as for the whole file: line numbers are the file's, the date order is decided over
    every date of the file, and duplicates are judged across blocks: rows whose (ticker, date)
    occurs more than once in the file are held back and judged together in one last piece
    (the only rows kept in memory beyond a block). Joined, the pieces hold exactly the rows of
    :func:`read_prices` (valid rows in file order, except those of repeated keys, last).
    ``source`` names the file in the rows (default: the path as given).

    The ``price_files`` asset stages each piece in the warehouse as it comes
    (:func:`iter_validated_chunks`, :mod:`quant_assets.warehouse.staging`).
    """
    for chunk in iter_validated_chunks(path, rows=rows, as_of=as_of, source=source):
        yield chunk.valid, chunk.rejected


def iter_validated_chunks(
    path: str | Path,
    *,
    rows: int = CHUNK_ROWS,
    as_of: dt.date | None = None,
    source: str | None = None,
) -> Iterator[ValidatedChunk]:
    """:func:`iter_price_chunks` with the raw rows' count, layout and tickers of each block."""
    held = []
    layout = ""
    for chunk in iter_raw_chunks(path, rows=rows, source=source):
        raw = chunk.raw
        layout = raw.layout
        tickers = _naming_the_file(path, lambda raw=raw: _written_tickers(raw.frame["ticker"]))
        count = len(raw)
        hold = np.isin(chunk.keys, chunk.repeated) if len(chunk.repeated) else None
        if hold is not None and hold.any():
            held.append(take_rows(raw, np.flatnonzero(hold), materialize=True))
            raw = take_rows(raw, np.flatnonzero(~hold))
        valid, rejected = _naming_the_file(path, lambda raw=raw: validate_prices(raw, as_of=as_of))
        yield ValidatedChunk(valid, rejected, count, layout, tickers)
    if held:
        together = concat_rows(held)
        valid, rejected = _naming_the_file(path, lambda: validate_prices(together, as_of=as_of))
        yield ValidatedChunk(valid, rejected, 0, layout, frozenset())


def _written_tickers(tickers: pd.Series) -> frozenset[str]:
    """The distinct tickers of a column as written: stripped, upper case, blanks left out."""
    distinct = pd.Series(tickers.astype(str).unique(), dtype=object)
    return frozenset(distinct.str.strip().str.upper()) - {""}
