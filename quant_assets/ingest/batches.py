"""One run's worth of price files or FMP replies, read and validated before a single write.

The ingest assets call one function here, write the result through
:mod:`quant_assets.warehouse.prices` in one transaction, and report it. Nothing here touches
the warehouse or Dagster.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from quant_assets.ingest.readers import UnsupportedFileError, fmp_payload_to_raw, read_raw
from quant_assets.ingest.validation import validate_prices
from quant_assets.resources.fmp import FMPError, FMPNotFoundError
from quant_assets.resources.raw_files import file_sha256


@dataclass
class IngestBatch:
    """Everything one run read, before it is written in a single transaction."""

    valid: list[pd.DataFrame] = field(default_factory=list)
    rejected: list[pd.DataFrame] = field(default_factory=list)
    rows_read: int = 0
    rows_out_of_scope: int = 0

    def add(self, valid: pd.DataFrame, rejected: pd.DataFrame, scope: set[str] | None) -> None:
        """Add one source's rows; valid rows of tickers outside ``scope`` are counted, not kept."""
        self.rows_read += len(valid) + len(rejected)
        if scope is not None:
            in_scope = valid["ticker"].astype(str).isin(scope).to_numpy()
            self.rows_out_of_scope += int((~in_scope).sum())
            valid = valid[in_scope]
        self.valid.append(valid)
        self.rejected.append(rejected)

    def valid_frame(self) -> pd.DataFrame:
        frames = [f for f in self.valid if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def rejected_frame(self) -> pd.DataFrame:
        frames = [f for f in self.rejected if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@dataclass(frozen=True)
class FileRead:
    """One raw file as read: its manifest row, its rejected rows, and whether it was whole.

    ``complete`` is true when the run's tickers covered every ticker of the file: only then
    does the file count as ingested (its manifest row is written).
    """

    manifest: dict[str, Any]
    rejected: pd.DataFrame
    complete: bool


@dataclass
class FilesBatch:
    """What a run read from raw files: the rows, each readable file, each unreadable one."""

    batch: IngestBatch = field(default_factory=IngestBatch)
    files: list[FileRead] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


def read_price_files(files: Iterable[tuple[str, Path]], scope: set[str]) -> FilesBatch:
    """Read and validate each ``(source name, path)``; keep valid rows of ``scope`` tickers.

    A file that cannot be read is listed in ``unreadable`` as ``"source: reason"`` and the
    other files are still read. Raw files are only read.
    """
    out = FilesBatch()
    for source, path in files:
        try:
            raw = read_raw(path, source=source)
        except UnsupportedFileError as exc:
            out.unreadable.append(f"{source}: {exc}")
            continue
        valid, rejected = validate_prices(raw)
        out.batch.add(valid, rejected, scope)
        file_tickers = set(raw.frame["ticker"].astype(str).str.strip().str.upper()) - {""}
        manifest = dict(
            path=source,
            sha256=file_sha256(path),
            size_bytes=path.stat().st_size,
            layout=raw.layout,
            rows_read=len(raw),
            rows_valid=len(valid),
            rows_rejected=len(rejected),
            tickers=sorted(file_tickers),
        )
        out.files.append(FileRead(manifest, rejected, complete=file_tickers <= scope))
    return out


class EodSource(Protocol):
    """What :func:`fetch_fmp_bars` needs of the FMP client."""

    def historical_eod(self, symbol: str, start: dt.date, end: dt.date) -> list[dict]: ...


def fetch_fmp_bars(
    fmp: EodSource, tickers: list[str], start: dt.date, end: dt.date
) -> tuple[dict[str, list[dict]], list[str]]:
    """Every ticker's end-of-day records for ``start..end``, and the tickers that had none.

    One request per ticker (the API is per symbol); all are fetched before anything is
    written. A symbol FMP does not know counts as having no bars; any other FMP error raises
    :class:`FMPError` naming the ticker and the window.
    """
    fetched: dict[str, list[dict]] = {}
    empty: list[str] = []
    for ticker in tickers:
        try:
            records = fmp.historical_eod(ticker, start, end)
        except FMPNotFoundError:
            records = []
        except FMPError as exc:
            raise FMPError(f"FMP fetch failed for {ticker} {start}..{end}: {exc}") from exc
        if records:
            fetched[ticker] = records
        else:
            empty.append(ticker)
    return fetched, empty


def fmp_bars_batch(
    fetched: dict[str, list[dict]], api_version: str, start: dt.date, end: dt.date
) -> IngestBatch:
    """The validated bars of every fetched symbol, each row's source naming its own request."""
    batch = IngestBatch()
    if fetched:
        span = f"{start.isoformat()}_{end.isoformat()}"
        batch.add(*validate_fmp_records(fetched, f"fmp/{api_version}/", f"/{span}"), None)
    return batch


def validate_fmp_records(
    fetched: dict[str, list[dict]], prefix: str, suffix: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate the bars of many symbols at once (per symbol it would cost ~10 ms each).

    Each row's source names its symbol's request (``prefix + TICKER + suffix``), and a
    rejected row's location is its record number in that request's reply.
    """
    counts = np.array([len(r) for r in fetched.values()], dtype=np.int64)
    records = [{"symbol": t, **rec} for t, recs in fetched.items() for rec in recs]
    raw = fmp_payload_to_raw(records, source=prefix + "*" + suffix)
    sources = np.array([prefix + t + suffix for t in fetched], dtype=object)
    first = np.repeat(np.cumsum(counts) - counts, counts)

    def locations(positions: np.ndarray) -> np.ndarray:
        numbers = (np.asarray(positions) - first[positions] + 1).astype(str)
        return np.char.add("record ", numbers).astype(object)

    raw = dataclasses.replace(raw, locations=locations, row_sources=np.repeat(sources, counts))
    return validate_prices(raw)
