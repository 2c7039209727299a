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

CSV lines are also checked as text, because pandas reads some damage as plausible values: a line
with fewer fields than the header (NaN-filled), a line with more (pandas would refuse the whole
file, or shift every column when it is the first data line), a NUL byte (it ends the field: a
volume ``4110\\x007592`` reads as 4110) and a last line without a line terminator (the file may
have been cut inside its last field). Such rows keep their place in the frame and are listed in
:attr:`RawPrices.line_issues` (rules ``field_count``, ``nul_byte``, ``unterminated_last_line``) for
the validator to quarantine; a line with more fields is read up to the header's count of fields,
so that the rest of the file lands.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
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


LINE_ISSUE_COLUMNS: tuple[str, ...] = ("pos", "rule", "detail")


def _no_line_issues() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pos": np.array([], dtype=np.int64),
            "rule": np.array([], dtype=object),
            "detail": np.array([], dtype=object),
        },
        columns=list(LINE_ISSUE_COLUMNS),
    )


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
    row_sources
        Where rows of one batch came from different requests (FMP bars of many symbols,
        validated together): each row's own source, by row position; ``None`` means ``source``
        for every row.
    layout
        One of ``long``, ``per_ticker``, ``wide``, ``fmp_v3``, ``fmp_stable``.
    line_issues
        Damage seen in the text of a CSV line, by row position of ``frame``: columns ``pos``,
        ``rule`` (``field_count``, ``nul_byte`` or ``unterminated_last_line``, see
        :data:`quant_assets.ingest.schemas.RULES`) and ``detail`` (the reason without the rule
        name). The values of such rows cannot be trusted: a line with more fields than the
        header is read up to the header's count of fields. In a wide file every cell of a
        damaged line carries its issues, and a damaged line without any value still gets one
        row (empty ticker and close) so that it is quarantined. Empty for JSON layouts.
    """

    frame: pd.DataFrame
    locations: Callable[[np.ndarray], np.ndarray]
    raw_values: Callable[[np.ndarray], list[str]]
    source: str
    layout: str
    line_issues: pd.DataFrame = field(default_factory=_no_line_issues)
    row_sources: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frame)


def _numbered(
    prefix: str, numbers: np.ndarray, suffixes: np.ndarray | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """``positions -> ["line 12", ...]`` (with ``", TICKER"`` appended for wide files).

    An empty suffix (a wide file's damaged line without any value) adds nothing.
    """

    def locations(positions: np.ndarray) -> np.ndarray:
        text = np.char.add(prefix, numbers[positions].astype(str)).astype(object)
        if suffixes is not None:
            suffix = suffixes[positions]
            text = np.where(suffix == "", text, text + ", " + suffix)
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
    rows = _csv_rows(path, data, header)
    text_columns = {by_canonical[c]: "category" for c in ("date", "ticker") if c in by_canonical}
    try:
        # Blank lines are kept as rows so that line numbers stay true; index_col=False stops
        # pandas from taking the first column as an index when a row has more fields.
        df = pd.read_csv(
            io.BytesIO(rows.readable),
            dtype=text_columns,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,
            skipinitialspace=True,
            index_col=False,
        )
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UnsupportedFileError(f"{path}: not a readable CSV file: {exc}") from exc
    if len(df) != len(rows.lines):
        raise UnsupportedFileError(
            f"{path}: not a readable CSV file: pandas read {len(df)} rows from "
            f"{len(rows.lines)} lines after the header, so rows cannot be matched to lines"
        )

    renamed = df.rename(columns=mapping)
    if "ticker" in renamed.columns:
        layout = "long"
    elif "close" in renamed.columns or "adj_close" in renamed.columns:
        layout = "per_ticker"
        renamed["ticker"] = pd.Categorical([ticker_from_filename(path)] * len(renamed))
    else:
        return _wide_to_raw(path, data, df, header.index(by_canonical["date"]), rows, source)

    frame = renamed.reindex(columns=list(RAW_COLUMNS))
    for col in PRICE_FIELDS:
        if frame[col].dtype != object:
            frame[col] = frame[col].astype("float64")
    locations = _numbered("line ", rows.lines)
    raw_values = _csv_line_values(data, header, rows)
    return RawPrices(frame, locations, raw_values, source, layout, rows.issues)


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


# --- the text of CSV lines: where each row lies, and what is wrong with its line -------------

_LF, _CR, _COMMA, _NUL = 10, 13, 44, 0
_UNTERMINATED = (
    "the file does not end with a line break, so its last line may be cut (a copy still "
    "being written, or interrupted); if the line is complete, add a line break at the end"
)


@dataclass(frozen=True)
class _CsvRows:
    """Where each data row of a CSV file lies in its bytes, and what is wrong with its text.

    Row ``k`` is the ``k``-th row pandas reads (blank lines included): ``data[starts[k]:ends[k]]``
    (line terminator excluded), beginning on line ``lines[k]`` (the header is line 1).
    ``issues`` has :data:`LINE_ISSUE_COLUMNS`, by row. ``readable`` is what pandas is given:
    the file with every line that has more fields than the header cut to the header's count.
    """

    starts: np.ndarray
    ends: np.ndarray
    lines: np.ndarray
    issues: pd.DataFrame
    readable: bytes


def _physical_lines(data: bytes, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (terminator excluded) of each line of ``data``, the header included.

    LF, CRLF and a lone CR each end a line, as for pandas' C parser and the csv module; a
    final line break does not begin another line.
    """
    if b"\r" not in data:
        breaks = ends = np.flatnonzero(arr == _LF)
    else:
        lf = arr == _LF
        cr_of_crlf = (arr[:-1] == _CR) & lf[1:]
        is_break = lf | (arr == _CR)
        is_break[:-1] &= ~cr_of_crlf  # the LF ends a CRLF line, not its CR
        breaks = np.flatnonzero(is_break)
        ends = breaks.copy()
        after_first = breaks > 0
        ends[after_first] -= cr_of_crlf[breaks[after_first] - 1]
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((ends, [len(data)]))
    if data.endswith((b"\n", b"\r")):
        starts, ends = starts[:-1], ends[:-1]
    return starts, ends


def _count_per_line(flags: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """How many ``flags`` are set in each line; line ``k`` runs from ``starts[k]`` to the next.

    The flags are packed 64 to a word: a running count over words, plus the low bits of the
    word a line starts in, gives the count before each line start (about twice as fast as
    ``np.add.reduceat``, which stays as the fallback for numpy < 2).
    """
    if not len(starts):
        return np.zeros(0, dtype=np.int64)
    if not hasattr(np, "bitwise_count"):
        return np.add.reduceat(flags, starts, dtype=np.int64)
    packed = np.packbits(flags, bitorder="little")
    words = np.pad(packed, (0, -len(packed) % 8)).view("<u8")
    through = np.cumsum(np.bitwise_count(words), dtype=np.int64)
    word = starts >> 6
    low_bits = (np.uint64(1) << (starts & 63).astype(np.uint64)) - np.uint64(1)
    before = through[word] - np.bitwise_count(words[word] & ~low_bits)
    return np.diff(before, append=through[-1])


def _field_name(header: list[str], i: int) -> str:
    return header[i] if i < len(header) else f"field {i + 1}"


def _nul_detail(header: list[str], fields: list[str]) -> str:
    named = [f"{_field_name(header, i)}={v!r}" for i, v in enumerate(fields) if "\x00" in v]
    return (", ".join(named) or "the line") + " contains a NUL byte"


def _csv_rows(path: Path, data: bytes, header: list[str]) -> _CsvRows:
    """Locate the data rows of a CSV file and check the text of their lines, vectorised.

    A file with quotes may hold commas and line breaks inside them; its records are counted
    with the csv module instead (slower, and rare in price files).
    """
    arr = np.frombuffer(data, np.uint8)
    starts, ends = _physical_lines(data, arr)
    if b'"' in data:
        return _quoted_csv_rows(path, data, header, starts, ends)
    n_commas = _count_per_line(arr == _COMMA, starts)[1:]
    starts, ends = starts[1:], ends[1:]
    blank = ends == starts
    # Spaces only: pandas reads an empty row, as for an empty line.
    for i in np.flatnonzero((n_commas == 0) & ~blank):
        blank[i] = not data[starts[i] : ends[i]].strip(b" ")
    nul_details: dict[int, str] = {}
    if b"\x00" in data:
        row_of = np.searchsorted(starts, np.flatnonzero(arr == _NUL), side="right") - 1
        for row in np.unique(row_of[row_of >= 0]):
            text = data[starts[row] : ends[row]].decode("utf-8", errors="replace")
            nul_details[int(row)] = _nul_detail(header, text.split(","))
    lines = np.arange(len(starts), dtype=np.int64) + 2  # line 1 is the header

    def first_fields(row: int) -> bytes:
        cut = starts[row] - 1
        for _ in range(len(header)):
            cut = data.index(b",", cut + 1)
        return data[starts[row] : cut]

    return _checked_rows(
        data, header, starts, ends, lines, n_commas + 1, blank, nul_details, first_fields
    )


def _quoted_csv_rows(
    path: Path, data: bytes, header: list[str], starts: np.ndarray, ends: np.ndarray
) -> _CsvRows:
    """:func:`_csv_rows` for a file with quotes: one csv-module record per row."""
    text = data.decode("utf-8", errors="replace")  # pandas refuses what is not UTF-8
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    first: list[int] = []  # index of each record's first and last line (0 = the header)
    last: list[int] = []
    fields: list[int] = []
    blank: list[bool] = []
    nul_details: dict[int, str] = {}
    kept: dict[int, list[str]] = {}  # the header's count of fields, of rows that have more
    try:
        next(reader, None)
        consumed = reader.line_num
        for record in reader:
            first.append(consumed)
            consumed = reader.line_num
            last.append(consumed - 1)
            fields.append(len(record))
            blank.append(not record or (len(record) == 1 and not record[0].strip(" ")))
            if any("\x00" in value for value in record):
                nul_details[len(fields) - 1] = _nul_detail(header, record)
            if len(record) > len(header):
                kept[len(fields) - 1] = record[: len(header)]
    except csv.Error as exc:
        raise UnsupportedFileError(f"{path}: not a readable CSV file: {exc}") from exc
    first_line = np.asarray(first, dtype=np.int64)

    def first_fields(row: int) -> bytes:
        out = io.StringIO()
        csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="").writerow(kept[row])
        return out.getvalue().encode()

    return _checked_rows(
        data,
        header,
        starts[first_line],
        ends[np.asarray(last, dtype=np.int64)],
        first_line + 1,
        np.asarray(fields, dtype=np.int64),
        np.asarray(blank, dtype=bool),
        nul_details,
        first_fields,
    )


def _checked_rows(
    data: bytes,
    header: list[str],
    starts: np.ndarray,
    ends: np.ndarray,
    lines: np.ndarray,
    fields: np.ndarray,
    blank: np.ndarray,
    nul_details: dict[int, str],
    first_fields: Callable[[int], bytes],
) -> _CsvRows:
    """The :class:`_CsvRows` of rows with these field counts, blank flags and NUL bytes.

    ``first_fields(row)`` is the text of a row's first ``len(header)`` fields (asked only of
    rows with more).
    """
    n = len(header)
    wrong = np.flatnonzero((fields != n) & ~blank)
    unterminated = len(starts) > 0 and not data.endswith((b"\n", b"\r")) and not blank[-1]
    if not len(wrong) and not nul_details and not unterminated:
        return _CsvRows(starts, ends, lines, _no_line_issues(), data)

    issues = []
    if len(wrong):
        counts = pd.Series(fields[wrong]).astype(str)
        noun = np.where(fields[wrong] == 1, " field", " fields")
        detail = "line has " + counts + noun + f", header has {n}"
        issues.append(pd.DataFrame({"pos": wrong, "rule": "field_count", "detail": detail}))
    if nul_details:
        issues.append(
            pd.DataFrame(
                {
                    "pos": np.fromiter(nul_details, dtype=np.int64, count=len(nul_details)),
                    "rule": "nul_byte",
                    "detail": list(nul_details.values()),
                }
            )
        )
    if unterminated:
        issues.append(
            pd.DataFrame(
                {
                    "pos": [len(starts) - 1],
                    "rule": "unterminated_last_line",
                    "detail": _UNTERMINATED,
                }
            )
        )
    readable = data
    too_many = wrong[fields[wrong] > n]
    if len(too_many):
        # pandas gets the header's count of fields: the row keeps its place, and its ticker
        # and date show in the quarantine.
        pieces, at = [], 0
        for row in too_many:
            pieces += [data[at : starts[row]], first_fields(int(row))]
            at = ends[row]
        readable = b"".join([*pieces, data[at:]])
    issues_frame = pd.concat(issues, ignore_index=True)[list(LINE_ISSUE_COLUMNS)]
    issues_frame["pos"] = issues_frame["pos"].astype(np.int64)
    return _CsvRows(starts, ends, lines, issues_frame, readable)


def _row_fields(data: bytes, rows: _CsvRows, positions: np.ndarray) -> list[list[str]]:
    """The fields of the given rows (0 = the first row after the header), exactly as written."""
    texts = [
        data[start:end].decode("utf-8", errors="replace")
        for start, end in zip(rows.starts[positions], rows.ends[positions], strict=True)
    ]
    return [next(csv.reader([text]), []) for text in texts]


def _fields_as_json(header: list[str], fields: list[str]) -> str:
    """A row as JSON object text by header name; fields beyond the header as ``field N``."""
    named = dict(zip(header, fields, strict=False))
    named.update({_field_name(header, i): fields[i] for i in range(len(header), len(fields))})
    return json.dumps(named, ensure_ascii=False)


def _csv_line_values(
    data: bytes, header: list[str], rows: _CsvRows
) -> Callable[[np.ndarray], list[str]]:
    def raw_values(positions: np.ndarray) -> list[str]:
        if len(positions) == 0:
            return []
        return [_fields_as_json(header, f) for f in _row_fields(data, rows, positions)]

    return raw_values


def _wide_cell_values(
    data: bytes,
    rows: _CsvRows,
    header: list[str],
    date_pos: int,
    row_of: np.ndarray,
    col_of: np.ndarray,
) -> Callable[[np.ndarray], list[str]]:
    def raw_values(positions: np.ndarray) -> list[str]:
        if len(positions) == 0:
            return []
        fields = _row_fields(data, rows, row_of[positions])
        col_index = {name: i for i, name in enumerate(header)}
        out = []
        for f, col in zip(fields, col_of[positions], strict=True):
            if col == "":  # a damaged line without any value: all of it
                out.append(_fields_as_json(header, f))
                continue
            cell = f[col_index[col]] if col_index[col] < len(f) else ""
            date = f[date_pos] if date_pos < len(f) else ""
            out.append(json.dumps({header[date_pos]: date, col: cell}, ensure_ascii=False))
        return out

    return raw_values


def _wide_to_raw(
    path: Path, data: bytes, df: pd.DataFrame, date_pos: int, rows: _CsvRows, source: str
) -> RawPrices:
    """Melt a close-only wide table; an empty cell is 'no observation', not a row.

    The issues of a damaged line go to every cell of it; a damaged line without any value
    becomes one row without ticker or close, so that it is quarantined rather than lost.
    """
    keep = [i for i in range(df.shape[1]) if i != date_pos]
    if not keep:
        raise UnsupportedFileError(f"{path}: only a date column, no prices")
    names = np.asarray(df.columns[keep], dtype=object)
    values = df.iloc[:, keep]
    present = values.notna().to_numpy()
    row_idx, col_idx = np.nonzero(present)
    damaged = np.unique(rows.issues["pos"].to_numpy(dtype=np.int64))
    bare = damaged[~present[damaged].any(axis=1)]
    if len(bare):
        row_idx = np.concatenate([row_idx, bare])
        col_idx = np.concatenate([col_idx, np.full(len(bare), -1)])
        order = np.argsort(row_idx, kind="stable")
        row_idx, col_idx = row_idx[order], col_idx[order]
    cells = values.to_numpy(dtype=object)[row_idx, col_idx]
    has_cell = col_idx >= 0
    cells[~has_cell] = np.nan
    numeric = pd.to_numeric(pd.Series(cells, dtype=object), errors="coerce")
    close = numeric if numeric[has_cell].notna().all() else pd.Series(cells, dtype=object)
    tickers = np.append(names, "")[col_idx]  # "" for a damaged line without any value
    frame = pd.DataFrame(
        {
            "ticker": pd.Categorical(tickers),
            "date": pd.Categorical(df.iloc[:, date_pos].to_numpy(dtype=object)[row_idx]),
            "close": close.to_numpy(),
        }
    ).reindex(columns=list(RAW_COLUMNS))
    loc = _numbered("line ", rows.lines[row_idx], tickers)
    header = [str(c) for c in df.columns]
    raw = _wide_cell_values(data, rows, header, date_pos, row_idx, tickers)
    return RawPrices(frame, loc, raw, source, "wide", _issues_by_cell(rows.issues, row_idx))


def _issues_by_cell(issues: pd.DataFrame, row_idx: np.ndarray) -> pd.DataFrame:
    """Line issues by row of a file -> the same issues on each frame row from that line.

    ``row_idx`` (the file row of each frame row) is sorted.
    """
    if issues.empty:
        return issues
    row = issues["pos"].to_numpy(dtype=np.int64)
    lo = np.searchsorted(row_idx, row, side="left")
    n = np.searchsorted(row_idx, row, side="right") - lo
    which = np.repeat(np.arange(len(issues)), n)
    pos = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n) + np.repeat(lo, n)
    return pd.DataFrame(
        {
            "pos": pos.astype(np.int64),
            "rule": issues["rule"].to_numpy()[which],
            "detail": issues["detail"].to_numpy()[which],
        }
    )


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

    Only the ticker column (or the header) of a CSV file is parsed; rows of damaged lines
    (see :attr:`RawPrices.line_issues`) name no ticker, since they will be quarantined.
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
        rows = _csv_rows(path, data, header)
        col = pd.read_csv(
            io.BytesIO(rows.readable),
            usecols=[by_canonical["ticker"]],
            dtype="category",
            skipinitialspace=True,
            skip_blank_lines=False,
            index_col=False,
        ).iloc[:, 0]
        used = col.cat.categories
        if len(rows.issues):
            if len(col) != len(rows.lines):
                raise UnsupportedFileError(f"{path}: rows cannot be matched to lines")
            codes = np.delete(col.cat.codes.to_numpy(), rows.issues["pos"].to_numpy())
            used = used[np.unique(codes[codes >= 0])]
        return sorted(set(used.astype(str).str.strip().str.upper()) - {""})
    if "close" in by_canonical or "adj_close" in by_canonical:
        return [ticker_from_filename(path)]
    return sorted({c.strip().upper() for c in header if c != by_canonical["date"]})
