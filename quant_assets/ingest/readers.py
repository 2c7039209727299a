"""Readers that turn price files of any supported layout into one raw, string-valued table.

Supported layouts (detected from the content, not the file name):

* ``long``: one row per ticker and date, e.g. ``date,ticker,open,high,low,close[,adj_close],volume``.
* ``per_ticker``: one file per ticker without a ticker column; the ticker comes from the file
  name (``AAPL.csv``, ``AAPL_data.csv``, ``aapl.us.txt``).
* ``wide``: close-only, a date column and one column per ticker.
* ``fmp_v3``: FMP ``historical-price-full`` JSON (``{"symbol": .., "historical": [..]}``).
* ``fmp_stable``: FMP ``stable/historical-price-eod/full`` JSON (a bare array of records).

Any of them may be gzip-compressed. Headers are matched case-insensitively with common aliases
(``Date``, ``Name``, ``Symbol``, ``Adj Close``, ``adjClose``). Values are kept as the exact strings
of the file so that a rejected row can be shown as it was; parsing happens in
:mod:`quant_assets.ingest.validation`.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

PRICE_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close", "volume")
RAW_COLUMNS: tuple[str, ...] = ("ticker", "date", *PRICE_FIELDS)

# Normalised header (lower case, letters and digits only) -> canonical column.
_ALIASES: dict[str, str] = {
    "date": "date",
    "datetime": "date",
    "timestamp": "date",
    "day": "date",
    "ticker": "ticker",
    "symbol": "ticker",
    "name": "ticker",
    "tic": "ticker",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "adjclose": "adj_close",
    "adjustedclose": "adj_close",
    "volume": "volume",
    "vol": "volume",
}
_FILE_SUFFIXES = re.compile(r"(\.(csv|txt|json|gz))+$", re.IGNORECASE)
# Vendor decorations around a ticker in a file name: Kaggle's ``AAPL_data``, Stooq's ``aapl.us``.
_TICKER_DECORATIONS = re.compile(r"(_data|\.us)$", re.IGNORECASE)


class UnsupportedFileError(ValueError):
    """A file whose layout cannot be recognised; the message names the file and why."""


@dataclass(frozen=True)
class RawPrices:
    """The rows of one file, read but not yet judged.

    Attributes
    ----------
    frame
        Columns :data:`RAW_COLUMNS`. ``ticker`` and ``date`` hold the file's text (categorical
        for speed); price fields are float64 when every value parsed, else the file's text
        (``object``) so the validator can name the values that are not numbers. Absent fields
        are NaN.
    locations
        ``locations(positions)`` says where those rows came from in the file (``"line 12"``,
        ``"record 3"``, ``"line 4, MSFT"``). Computed on demand, like ``raw_values``.
    raw_values
        ``raw_values(positions)`` gives those rows exactly as the file had them (JSON object
        texts), for the quarantine table. Computed on demand: only rejected rows need it.
    source
        The file the rows came from (path as given).
    layout
        One of ``long``, ``per_ticker``, ``wide``, ``fmp_v3``, ``fmp_stable``.
    """

    frame: pd.DataFrame
    locations: Callable[[np.ndarray], np.ndarray]
    raw_values: Callable[[np.ndarray], list[str]]
    source: str
    layout: str

    def __len__(self) -> int:
        return len(self.frame)


def _numbered(
    prefix: str, numbers: np.ndarray, suffixes: np.ndarray | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """``positions -> ["line 12", ...]`` (with ``", TICKER"`` appended for wide files)."""

    def locations(positions: np.ndarray) -> np.ndarray:
        text = np.char.add(prefix, numbers[positions].astype(str)).astype(object)
        if suffixes is not None:
            text = text + ", " + suffixes[positions]
        return text

    return locations


def ticker_from_filename(path: str | Path) -> str:
    """``data/raw/aapl.us.txt.gz`` -> ``AAPL`` (not validated here)."""
    stem = _FILE_SUFFIXES.sub("", Path(path).name)
    return _TICKER_DECORATIONS.sub("", stem).strip().upper()


def _read_bytes(path: Path) -> bytes:
    """The file's content, decompressed if gzip, without a UTF-8 byte-order mark."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise UnsupportedFileError(f"{path}: corrupt or truncated gzip data: {exc}") from exc
    return data[3:] if data[:3] == b"\xef\xbb\xbf" else data


def read_raw(path: str | Path, *, source: str | None = None) -> RawPrices:
    """Read any supported file into a :class:`RawPrices` without judging its values.

    ``source`` is how rows and quarantined rows name the file (default: the path as given).

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    UnsupportedFileError
        The file is not a price file we understand (the message says why and where).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"price file not found: {path}")
    data = _read_bytes(path)
    if data.lstrip()[:1] in (b"{", b"["):
        try:
            payload = json.loads(data)
        except json.JSONDecodeError as exc:
            raise UnsupportedFileError(
                f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from exc
        return fmp_payload_to_raw(
            payload, source=source or str(path), default_ticker=ticker_from_filename(path)
        )
    return _read_csv(path, data, source or str(path))


def _canonical_key(name: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


_DATE_KEYS = {k for k, v in _ALIASES.items() if v == "date"}


def _canonical_columns(header: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for name in header:
        canonical = _ALIASES.get(_canonical_key(name))
        if canonical and canonical not in mapping.values():
            mapping[name] = canonical
    return mapping


def _read_csv(path: Path, data: bytes, source: str) -> RawPrices:
    header = _csv_header(path, data)
    mapping = _canonical_columns(header)
    by_canonical = {v: k for k, v in mapping.items()}
    if "date" not in by_canonical:
        raise UnsupportedFileError(
            f"{path}: no date column in header {header} (expected one of date, Date, timestamp)"
        )
    text_columns = {by_canonical[c]: "category" for c in ("date", "ticker") if c in by_canonical}
    try:
        # Blank lines are kept as rows so that line numbers stay true.
        df = pd.read_csv(
            io.BytesIO(data),
            dtype=text_columns,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,
            skipinitialspace=True,
        )
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UnsupportedFileError(f"{path}: not a readable CSV file: {exc}") from exc

    lines = np.arange(len(df), dtype=np.int64) + 2  # line 1 is the header
    renamed = df.rename(columns=mapping)
    if "ticker" in renamed.columns:
        layout = "long"
    elif "close" in renamed.columns or "adj_close" in renamed.columns:
        layout = "per_ticker"
        renamed["ticker"] = pd.Categorical([ticker_from_filename(path)] * len(renamed))
    else:
        return _wide_to_raw(path, data, df, header.index(by_canonical["date"]), lines, source)

    frame = renamed.reindex(columns=list(RAW_COLUMNS))
    for col in PRICE_FIELDS:
        if frame[col].dtype != object:
            frame[col] = frame[col].astype("float64")
    locations = _numbered("line ", lines)
    return RawPrices(frame, locations, _csv_line_values(data, header), source, layout)


def _csv_header(path: Path, data: bytes) -> list[str]:
    try:
        head = data[: data.find(b"\n") + 1 or len(data)]
        return [
            str(c) for c in pd.read_csv(io.BytesIO(head), nrows=0, skipinitialspace=True).columns
        ]
    except pd.errors.EmptyDataError as exc:
        raise UnsupportedFileError(f"{path}: empty file, no header line") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UnsupportedFileError(f"{path}: not a readable CSV file: {exc}") from exc


def _csv_lines(data: bytes, rows: np.ndarray) -> list[list[str]]:
    """The fields of the given data rows (0 = first line after the header), exactly as written."""
    lines = data.decode("utf-8", errors="replace").splitlines()[1:]
    return list(csv.reader([lines[i] if i < len(lines) else "" for i in rows]))


def _csv_line_values(data: bytes, header: list[str]) -> Callable[[np.ndarray], list[str]]:
    def raw_values(positions: np.ndarray) -> list[str]:
        if len(positions) == 0:
            return []
        fields = _csv_lines(data, positions)
        return [json.dumps(dict(zip(header, f, strict=False)), ensure_ascii=False) for f in fields]

    return raw_values


def _wide_cell_values(
    data: bytes, header: list[str], date_pos: int, row_of: np.ndarray, col_of: np.ndarray
) -> Callable[[np.ndarray], list[str]]:
    def raw_values(positions: np.ndarray) -> list[str]:
        if len(positions) == 0:
            return []
        fields = _csv_lines(data, row_of[positions])
        col_index = {name: i for i, name in enumerate(header)}
        out = []
        for f, col in zip(fields, col_of[positions], strict=True):
            cell = f[col_index[col]] if col_index[col] < len(f) else ""
            out.append(json.dumps({header[date_pos]: f[date_pos], col: cell}, ensure_ascii=False))
        return out

    return raw_values


def _wide_to_raw(
    path: Path, data: bytes, df: pd.DataFrame, date_pos: int, lines: np.ndarray, source: str
) -> RawPrices:
    """Melt a close-only wide table; an empty cell is 'no observation', not a row."""
    keep = [i for i in range(df.shape[1]) if i != date_pos]
    if not keep:
        raise UnsupportedFileError(f"{path}: only a date column, no prices")
    names = np.asarray(df.columns[keep], dtype=object)
    values = df.iloc[:, keep]
    present = values.notna().to_numpy()
    row_idx, col_idx = np.nonzero(present)
    cells = values.to_numpy(dtype=object)[row_idx, col_idx]
    numeric = pd.to_numeric(pd.Series(cells, dtype=object), errors="coerce")
    close = numeric if numeric.notna().all() else pd.Series(cells, dtype=object)
    frame = pd.DataFrame(
        {
            "ticker": pd.Categorical(names[col_idx]),
            "date": pd.Categorical(df.iloc[:, date_pos].to_numpy(dtype=object)[row_idx]),
            "close": close.to_numpy(),
        }
    ).reindex(columns=list(RAW_COLUMNS))
    loc = _numbered("line ", lines[row_idx], names[col_idx])
    header = [str(c) for c in df.columns]
    raw = _wide_cell_values(data, header, date_pos, row_idx, names[col_idx])
    return RawPrices(frame, loc, raw, source, "wide")


def _rows_as_json(df: pd.DataFrame) -> list[str]:
    """Each row of a table as JSON object text (vectorised through pandas)."""
    if df.empty:
        return []
    return df.to_json(orient="records", lines=True, force_ascii=False).splitlines()


def fmp_payload_to_raw(payload: object, *, source: str, default_ticker: str = "") -> RawPrices:
    """Turn a decoded FMP JSON payload (v3 or stable layout) into :class:`RawPrices`.

    ``6.3890796E7`` volumes stay numbers in JSON and become their decimal text here.
    """
    if isinstance(payload, dict) and "historicalStockList" in payload:
        records, layout = [], "fmp_v3"
        for block in payload["historicalStockList"]:
            for rec in block.get("historical", []):
                records.append({"symbol": block.get("symbol", default_ticker), **rec})
    elif isinstance(payload, dict) and "historical" in payload:
        symbol = payload.get("symbol", default_ticker)
        records = [{"symbol": symbol, **rec} for rec in payload["historical"]]
        layout = "fmp_v3"
    elif isinstance(payload, list):
        records, layout = payload, "fmp_stable"
    elif isinstance(payload, dict) and "Error Message" in payload:
        raise UnsupportedFileError(f"{source}: FMP error payload: {payload['Error Message']}")
    else:
        raise UnsupportedFileError(
            f"{source}: JSON is neither an FMP historical-price-full object nor an EOD array"
        )
    if not all(isinstance(rec, dict) for rec in records):
        raise UnsupportedFileError(f"{source}: FMP records must be JSON objects")

    table = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    mapping = _canonical_columns(list(table.columns))
    renamed = table.rename(columns=mapping)
    if "ticker" not in renamed.columns:
        renamed["ticker"] = default_ticker
    frame = renamed.reindex(columns=list(RAW_COLUMNS))
    frame["ticker"] = frame["ticker"].fillna("").astype(str).astype("category")
    frame["date"] = frame["date"].fillna("").astype(str).astype("category")
    for col in PRICE_FIELDS:
        numeric = pd.to_numeric(frame[col], errors="coerce")
        # Keep the payload's own values where any is not a number, for the validator to name.
        frame[col] = (
            numeric if (numeric.notna() | frame[col].isna()).all() else frame[col].astype(object)
        )
    location = _numbered("record ", np.arange(1, len(frame) + 1))

    def raw_values(positions: np.ndarray) -> list[str]:
        return _rows_as_json(table.iloc[positions])

    return RawPrices(frame, location, raw_values, source, layout)


def peek_tickers(path: str | Path) -> list[str]:
    """The distinct upper-case tickers a file holds, read cheaply (for the sensor).

    Only the ticker column (or the header) of a CSV file is parsed.
    """
    path = Path(path)
    data = _read_bytes(path)
    if data.lstrip()[:1] in (b"{", b"["):
        raw = read_raw(path)
        return sorted(set(raw.frame["ticker"].astype(str).str.strip().str.upper()) - {"", "NAN"})
    header = _csv_header(path, data)
    by_canonical = {v: k for k, v in _canonical_columns(header).items()}
    if "date" not in by_canonical:
        raise UnsupportedFileError(f"{path}: no date column in header {header}")
    if "ticker" in by_canonical:
        col = pd.read_csv(
            io.BytesIO(data),
            usecols=[by_canonical["ticker"]],
            dtype="category",
            skipinitialspace=True,
        ).iloc[:, 0]
        return sorted(set(col.cat.categories.astype(str).str.strip().str.upper()) - {""})
    if "close" in by_canonical or "adj_close" in by_canonical:
        return [ticker_from_filename(path)]
    return sorted({c.strip().upper() for c in header if c != by_canonical["date"]})
