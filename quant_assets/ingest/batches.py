"""One run's worth of price files or FMP replies, read and validated for a single write.

The ``price_files`` asset opens one :class:`PriceFileStream` per file
(:func:`price_file_streams`): each file is read and validated in blocks as the warehouse
stages it (:mod:`quant_assets.warehouse.staging`), so a file is never whole in memory. FMP
replies are small and read whole (:func:`fetch_fmp_bars`, :func:`fmp_bars_batch`).
:func:`read_price_files` is the in-memory reading of files (every file's rows at once), kept
as the reference the streamed path is checked against. Nothing here touches the warehouse or
Dagster; each read's :class:`RowsSummary` is what the assets report.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from quant_assets.ingest import iter_validated_chunks
from quant_assets.ingest.readers import (
    PRICE_FIELDS,
    RawPrices,
    UnsupportedFileError,
    fmp_payload_to_raw,
    read_raw,
)
from quant_assets.ingest.validation import REJECTED_COLUMNS, quarantined_rows, validate_prices
from quant_assets.resources.fmp import FMPError, FMPNotFoundError, FMPPayloadError
from quant_assets.resources.raw_files import file_sha256

STREAM_BLOCK_ROWS = 50_000
"""Lines per block when the ``price_files`` asset streams a file: about 60 MB of memory for
the reader's working set, whatever the file's size (see benchmarks/ingest.py --big)."""
PREVIEW_ROWS = 10
"""Rows a summary shows: the first valid rows by (ticker, date), the first rejected rows."""
_REJECTED_SHOWN = ["source", "location", "rule", "reason"]


def _first_rows(valid: pd.DataFrame) -> pd.DataFrame:
    """The first :data:`PREVIEW_ROWS` rows by (ticker, date), tickers as text.

    Only the rows of the smallest tickers are sorted, so a block costs one pass."""
    tickers = valid["ticker"].astype(str)
    smallest = np.sort(tickers.unique())[:PREVIEW_ROWS]
    rows = valid[tickers.isin(smallest).to_numpy()].assign(ticker=tickers)
    return rows.sort_values(["ticker", "date"], kind="stable").head(PREVIEW_ROWS)


@dataclass
class RowsSummary:
    """What one or more sources read, without their rows: counts, tickers, dates, previews.

    ``rows_valid`` counts every valid row, ``tickers``/``first_date``/``last_date``/``preview``
    the valid rows kept (of the run's tickers); ``rows_out_of_scope`` the valid rows left out.
    """

    rows_read: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    rows_out_of_scope: int = 0
    tickers: set[str] = field(default_factory=set)
    first_date: pd.Timestamp | None = None
    last_date: pd.Timestamp | None = None
    preview: pd.DataFrame = field(default_factory=pd.DataFrame)
    rejected_by_rule: dict[str, int] = field(default_factory=dict)
    rejected_preview: pd.DataFrame = field(default_factory=pd.DataFrame)

    def add(self, kept: pd.DataFrame, rejected: pd.DataFrame, valid_rows: int) -> None:
        """Count one block: ``kept`` valid rows of the run's tickers out of ``valid_rows``."""
        self.rows_valid += valid_rows
        self.rows_out_of_scope += valid_rows - len(kept)
        part = RowsSummary(rows_rejected=len(rejected))
        if len(kept):
            part.tickers = set(kept["ticker"].astype(str).unique())
            part.first_date, part.last_date = kept["date"].min(), kept["date"].max()
            part.preview = _first_rows(kept)
        if len(rejected):
            counts = rejected["rule"].value_counts(sort=False)
            part.rejected_by_rule = {str(k): int(v) for k, v in counts.items()}
            part.rejected_preview = rejected[_REJECTED_SHOWN].head(PREVIEW_ROWS)
        self.merge(part)

    def merge(self, other: RowsSummary) -> None:
        """Add another source's (or block's) summary to this one."""
        self.rows_read += other.rows_read
        self.rows_valid += other.rows_valid
        self.rows_rejected += other.rows_rejected
        self.rows_out_of_scope += other.rows_out_of_scope
        self.tickers |= other.tickers
        firsts = [d for d in (self.first_date, other.first_date) if d is not None]
        lasts = [d for d in (self.last_date, other.last_date) if d is not None]
        self.first_date, self.last_date = min(firsts, default=None), max(lasts, default=None)
        if len(other.preview):
            both = [f for f in (self.preview, other.preview) if len(f)]
            self.preview = _first_rows(pd.concat(both, ignore_index=True))
        for rule, count in other.rejected_by_rule.items():
            self.rejected_by_rule[rule] = self.rejected_by_rule.get(rule, 0) + count
        if len(other.rejected_preview) and len(self.rejected_preview) < PREVIEW_ROWS:
            both = [f for f in (self.rejected_preview, other.rejected_preview) if len(f)]
            self.rejected_preview = pd.concat(both, ignore_index=True).head(PREVIEW_ROWS)


@dataclass
class IngestBatch:
    """Everything one run read, before it is written in a single transaction."""

    valid: list[pd.DataFrame] = field(default_factory=list)
    rejected: list[pd.DataFrame] = field(default_factory=list)
    rows_read: int = 0
    rows_out_of_scope: int = 0

    def add(
        self, valid: pd.DataFrame, rejected: pd.DataFrame, scope: set[str] | None
    ) -> pd.DataFrame:
        """Add one source's rows; valid rows of tickers outside ``scope`` are counted, not
        kept. Returns the valid rows kept (this source's delivery)."""
        self.rows_read += len(valid) + len(rejected)
        if scope is not None:
            in_scope = valid["ticker"].astype(str).isin(scope).to_numpy()
            self.rows_out_of_scope += int((~in_scope).sum())
            valid = valid[in_scope]
        self.valid.append(valid)
        self.rejected.append(rejected)
        return valid

    def valid_frame(self) -> pd.DataFrame:
        frames = [f for f in self.valid if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def rejected_frame(self) -> pd.DataFrame:
        frames = [f for f in self.rejected if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def summary(self) -> RowsSummary:
        """The batch's :class:`RowsSummary`."""
        out = RowsSummary(rows_read=self.rows_read)
        rejected = self.rejected_frame()
        out.add(self.valid_frame(), rejected, self.rows_read - len(rejected))
        return out


@dataclass(frozen=True)
class FileRead:
    """One raw file as read: its manifest row, its valid rows of the run's tickers (its
    delivery), its rejected rows, and whether it was whole.

    ``complete`` is true when the run's tickers covered every ticker of the file: only then
    does the file count as ingested (its manifest row is written).
    """

    manifest: dict[str, Any]
    valid: pd.DataFrame
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

    A file that cannot be read or validated, whatever the reader raises, is listed in
    ``unreadable`` as ``"source: reason"`` and the other files are still read. Raw files are
    only read.
    """
    out = FilesBatch()
    for source, path in files:
        try:
            raw = read_raw(path, source=source)
            valid, rejected = validate_prices(raw)
        except UnsupportedFileError as exc:
            out.unreadable.append(f"{source}: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 (one bad file never stops the others)
            out.unreadable.append(f"{source}: {type(exc).__name__}: {exc}")
            continue
        kept = out.batch.add(valid, rejected, scope)
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
        out.files.append(FileRead(manifest, kept, rejected, complete=file_tickers <= scope))
    return out


@dataclass
class PriceFileStream:
    """One raw file, read and validated block by block as :meth:`blocks` is iterated.

    Each block yields ``(kept, rejected)``: its valid rows of the run's tickers (``scope``)
    and its rejected rows. While it is read, ``summary`` counts what came; afterwards
    :meth:`manifest` is the file's manifest row and :attr:`complete` says whether the run's
    tickers covered every ticker of the file. A file that cannot be read, whatever the reader
    raises, stops its blocks and leaves ``error`` (``"source: reason"``); what it yielded
    before must then be dropped, and the other files are still read.
    """

    source: str
    path: Path
    scope: set[str]
    chunk_rows: int = STREAM_BLOCK_ROWS
    summary: RowsSummary = field(default_factory=RowsSummary)
    file_tickers: set[str] = field(default_factory=set)
    layout: str = ""
    error: str | None = None

    def blocks(self) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
        """``(kept, rejected)`` per block; read once (a second call starts over, counts reset)."""
        self.summary, self.file_tickers, self.error = RowsSummary(), set(), None
        chunks = iter_validated_chunks(self.path, rows=self.chunk_rows, source=self.source)
        try:
            for chunk in chunks:
                self.summary.rows_read += chunk.rows_read
                self.file_tickers |= chunk.tickers
                self.layout = chunk.layout
                valid = chunk.valid
                kept = valid[valid["ticker"].astype(str).isin(self.scope).to_numpy()]
                self.summary.add(kept, chunk.rejected, len(valid))
                yield kept, chunk.rejected
        except UnsupportedFileError as exc:
            self.error = f"{self.source}: {exc}"
        except Exception as exc:  # noqa: BLE001 (one bad file never stops the others)
            self.error = f"{self.source}: {type(exc).__name__}: {exc}"

    @property
    def complete(self) -> bool:
        return self.error is None and self.file_tickers <= self.scope

    def manifest(self) -> dict[str, Any]:
        """The file's ``raw_files`` row (once :meth:`blocks` is exhausted); hashes the file."""
        return dict(
            path=self.source,
            sha256=file_sha256(self.path),
            size_bytes=self.path.stat().st_size,
            layout=self.layout,
            rows_read=self.summary.rows_read,
            rows_valid=self.summary.rows_valid,
            rows_rejected=self.summary.rows_rejected,
            tickers=sorted(self.file_tickers),
        )


def price_file_streams(
    files: Iterable[tuple[str, Path]], scope: set[str], chunk_rows: int = STREAM_BLOCK_ROWS
) -> list[PriceFileStream]:
    """One :class:`PriceFileStream` per ``(source name, path)``, nothing read yet."""
    return [PriceFileStream(source, Path(path), set(scope), chunk_rows) for source, path in files]


class EodSource(Protocol):
    """What :func:`fetch_fmp_bars` needs of the FMP client."""

    api_version: str

    def historical_eod(self, symbol: str, start: dt.date, end: dt.date) -> list[dict]: ...

    def eod_bulk(self, day: dt.date, symbols: Collection[str] | None = None) -> list[dict]: ...


@dataclass(frozen=True)
class FMPReply:
    """The records one request gave for one symbol; ``source`` names that request."""

    source: str
    symbol: str
    records: list[dict]


@dataclass
class FMPFetch:
    """What one run fetched from FMP, before anything is written.

    ``bad_payloads`` maps the source of each request whose reply was not price data to
    ``(symbol or "", message)``: reported and quarantined, the other requests still land.
    """

    replies: list[FMPReply] = field(default_factory=list)
    without_bars: list[str] = field(default_factory=list)
    bad_payloads: dict[str, tuple[str, str]] = field(default_factory=dict)
    requests: int = 0


def fmp_source(api_version: str, symbol: str, start: dt.date, end: dt.date) -> str:
    """The source of a per-symbol request's rows: ``fmp/stable/AAPL/2021-05-03_2021-05-07``."""
    return f"fmp/{api_version}/{symbol}/{start.isoformat()}_{end.isoformat()}"


def bulk_source(day: dt.date, symbol: str | None = None) -> str:
    """The source of a bulk request (``fmp/eod-bulk/2021-05-03``) or of one symbol's rows in it
    (``fmp/eod-bulk/AAPL/2021-05-03``)."""
    return f"fmp/eod-bulk/{symbol}/{day.isoformat()}" if symbol else f"fmp/eod-bulk/{day}"


def fetch_fmp_bars(
    fmp: EodSource,
    tickers: list[str],
    days: list[dt.date],
    bulk: bool = False,
) -> FMPFetch:
    """Every ticker's end-of-day records for the trading ``days``, fetched before any write.

    Per symbol (every plan): one request per ticker for ``days[0]..days[-1]``. Bulk (plans
    with FMP's bulk endpoint): one request per day for every symbol, kept to ``tickers``.
    A symbol FMP does not know counts as having no bars. A reply that is not price data
    (:class:`FMPPayloadError`) is kept in ``bad_payloads`` and the other requests go on; any
    other FMP error (outage, rate limit, key) raises :class:`FMPError` naming the ticker or
    day, so that nothing is written and the next run catches up.
    """
    out = _fetch_bulk(fmp, tickers, days) if bulk else _fetch_per_symbol(fmp, tickers, days)
    fetched = {reply.symbol for reply in out.replies}
    out.without_bars = [t for t in tickers if t not in fetched]
    return out


def _fetch_per_symbol(fmp: EodSource, tickers: list[str], days: list[dt.date]) -> FMPFetch:
    out, start, end = FMPFetch(), days[0], days[-1]
    for ticker in tickers:
        source = fmp_source(fmp.api_version, ticker, start, end)
        out.requests += 1
        try:
            records = fmp.historical_eod(ticker, start, end)
        except FMPNotFoundError:
            continue
        except FMPPayloadError as exc:
            out.bad_payloads[source] = (ticker, str(exc))
            continue
        except FMPError as exc:
            raise FMPError(f"FMP fetch failed for {ticker} {start}..{end}: {exc}") from exc
        if records:
            out.replies.append(FMPReply(source, ticker, records))
    return out


def _fetch_bulk(fmp: EodSource, tickers: list[str], days: list[dt.date]) -> FMPFetch:
    out, universe = FMPFetch(), set(tickers)
    for day in days:
        out.requests += 1
        try:
            records = fmp.eod_bulk(day, universe)
        except FMPPayloadError as exc:
            out.bad_payloads[bulk_source(day)] = ("", str(exc))
            continue
        except FMPError as exc:
            raise FMPError(f"FMP bulk fetch failed for {day}: {exc}") from exc
        by_symbol: dict[str, list[dict]] = {}
        for record in records:
            by_symbol.setdefault(str(record.get("symbol")), []).append(record)
        out.replies += [
            FMPReply(bulk_source(day, symbol), symbol, by_symbol[symbol])
            for symbol in sorted(by_symbol)
        ]
    return out


def fmp_bars_batch(fetch: FMPFetch) -> IngestBatch:
    """The validated bars of every reply, each row's source naming its own request."""
    batch = IngestBatch()
    if fetch.replies:
        batch.add(*validate_fmp_records(fetch.replies), None)
    return batch


def bad_payload_rows(fetch: FMPFetch) -> pd.DataFrame:
    """One quarantine row per request whose reply was not price data (rule ``fmp_payload``)."""
    items = sorted(fetch.bad_payloads.items())
    return pd.DataFrame(
        {
            "source": [source for source, _ in items],
            "location": "response",
            "ticker": [symbol or None for _, (symbol, _) in items],
            "date": None,
            "rule": "fmp_payload",
            "reason": ["fmp_payload: " + message for _, (_, message) in items],
            "raw_values": None,
        },
        columns=REJECTED_COLUMNS,
    )


def fmp_rejections(batch: IngestBatch, fetch: FMPFetch) -> pd.DataFrame:
    """The batch's rejected rows plus one row per reply that was not price data."""
    frames = [f for f in (batch.rejected_frame(), bad_payload_rows(fetch)) if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def validate_fmp_records(replies: list[FMPReply]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate the bars of many replies at once (per reply it would cost ~10 ms each).

    Each row's source is its reply's, and a rejected row's location is its record number in
    that reply. Rows whose numbers are not finite or out of range, or whose symbol is not
    the one requested, are quarantined first (:func:`fmp_value_issues`).
    """
    counts = np.array([len(r.records) for r in replies], dtype=np.int64)
    records = [{"symbol": r.symbol, **rec} for r in replies for rec in r.records]
    raw = fmp_payload_to_raw(records, source="fmp/*")
    sources = np.array([r.source for r in replies], dtype=object)
    first = np.repeat(np.cumsum(counts) - counts, counts)

    def locations(positions: np.ndarray) -> np.ndarray:
        positions = np.asarray(positions, dtype=np.int64)
        numbers = (positions - first[positions] + 1).astype(str)
        return np.char.add("record ", numbers).astype(object)

    raw = dataclasses.replace(raw, locations=locations, row_sources=np.repeat(sources, counts))
    requested = np.repeat(np.array([r.symbol for r in replies], dtype=object), counts)
    return _validate_screened(raw, fmp_value_issues(raw.frame, requested))


# Bounds of a storable number, as the issue's rules state them; the CSV validator applies the
# same rules (``non_finite``, ``out_of_range``) to files. Prices <= 0 and negative volumes keep
# their own rules (``price_not_positive``, ``volume_negative``), judged by the validator.
MAX_PRICE = 1e7
MAX_VOLUME = 1e13
_NAN_TEXT = r"[+-]?nan"


def fmp_value_issues(frame: pd.DataFrame, requested: np.ndarray) -> pd.DataFrame:
    """Rows of FMP records to quarantine before validation, as issues ``pos, rule, reason``.

    * ``non_finite``: a price or volume that is inf, -inf or NaN, as a float or as the text
      the client keeps for JSON's ``NaN``/``Infinity`` and for overflowing numbers (``1e999``);
    * ``out_of_range``: a price above :data:`MAX_PRICE` or a volume above :data:`MAX_VOLUME`;
    * ``ticker_conflict``: the record's ``symbol`` is not the symbol requested (``requested``,
      by row), so its rows are not filed under either.

    Kept apart from the CSV validator so that the two can be unified in one place later.
    """
    issues = [_value_issues(frame[col], col) for col in PRICE_FIELDS]
    symbol = frame["ticker"].astype(str).str.strip().str.upper().to_numpy(dtype=object)
    conflict = np.flatnonzero((symbol != requested) & (symbol != "") & (symbol != "NAN"))
    if len(conflict):
        reason = [
            f"ticker_conflict: requested {want!r}, the record says {got!r}"
            for want, got in zip(requested[conflict], symbol[conflict], strict=True)
        ]
        issues.append(pd.DataFrame({"pos": conflict, "rule": "ticker_conflict", "reason": reason}))
    return pd.concat(issues, ignore_index=True)


def _value_issues(values: pd.Series, column: str) -> pd.DataFrame:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", copy=True)
    nan_text = np.zeros(len(values), dtype=bool)
    if values.dtype == object:
        try:
            text = values.str.strip()  # NaN where a value is not text
        except AttributeError:  # no text at all in the column
            text = pd.Series(np.nan, index=values.index, dtype=object)
        is_text = text.notna().to_numpy()
        # Text values are few (the client keeps only odd numbers as text); pandas would read
        # "1e999" as NaN, so each is read as Python reads a number.
        numbers[is_text] = [_text_number(t) for t in text[is_text]]
        found = text.str.fullmatch(_NAN_TEXT, case=False).astype("boolean")
        nan_text = found.fillna(False).to_numpy(dtype=bool)
    non_finite = np.isinf(numbers) | nan_text
    limit = MAX_VOLUME if column == "volume" else MAX_PRICE
    with np.errstate(invalid="ignore"):
        too_large = ~non_finite & (numbers > limit)
    frames = []
    for rule, mask in (("non_finite", non_finite), ("out_of_range", too_large)):
        pos = np.flatnonzero(mask)
        shown = values.iloc[pos].astype(str).to_numpy(dtype=object)
        reason = [f"{rule}: {column}={value!r}" for value in shown]
        if rule == "out_of_range":
            reason = [f"{r} is above {limit:g}" for r in reason]
        frames.append(pd.DataFrame({"pos": pos, "rule": rule, "reason": reason}))
    return pd.concat(frames, ignore_index=True)


def _text_number(text: str) -> float:
    try:
        return float(text) if "_" not in text else np.nan
    except ValueError:
        return np.nan


def _validate_screened(raw: RawPrices, issues: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`validate_prices` on the rows without ``issues``; those are quarantined as such."""
    if issues.empty:
        return validate_prices(raw)
    bad, screened = quarantined_rows(raw, issues)
    keep = np.setdiff1d(np.arange(len(raw)), bad)
    valid, rejected = validate_prices(_rows_of(raw, keep))
    frames = [f for f in (screened, rejected) if len(f)]
    return valid, pd.concat(frames, ignore_index=True)


def _rows_of(raw: RawPrices, keep: np.ndarray) -> RawPrices:
    """``raw`` restricted to the row positions ``keep`` (sorted), locations and values intact."""
    frame = raw.frame.iloc[keep].reset_index(drop=True)
    for col in PRICE_FIELDS:
        if frame[col].dtype == object:
            # Text left only on screened rows: the numbers (JSON floats) go on exactly as read.
            numbers = pd.to_numeric(frame[col], errors="coerce")
            if (numbers.notna() | frame[col].isna()).all():
                frame[col] = numbers.astype("float64")
    lines = raw.line_issues[raw.line_issues["pos"].isin(keep)].copy()
    lines["pos"] = np.searchsorted(keep, lines["pos"].to_numpy(dtype=np.int64))
    return dataclasses.replace(
        raw,
        frame=frame,
        locations=lambda p: raw.locations(keep[np.asarray(p, dtype=np.int64)]),
        raw_values=lambda p: raw.raw_values(keep[np.asarray(p, dtype=np.int64)]),
        row_sources=None if raw.row_sources is None else raw.row_sources[keep],
        line_issues=lines,
    )
