"""Readers that turn price files of any supported layout into one raw, string-valued table.

Supported layouts (detected from the content, not the file name):

* ``long``: one row per ticker and date, e.g. ``date,ticker,open,high,low,close[,adj_close],volume``.
* ``per_ticker``: one file per ticker without a ticker column; the ticker comes from the file
  name (``AAPL.csv``, ``AAPL_data.csv``, ``aapl.us.txt``, ``daily_adjusted_AAPL.csv``; see
  :func:`quant_assets.ingest.names.ticker_from_filename`). A generic name (``export.csv``)
  gives no ticker: such a file is refused.
* ``wide``: close-only, a date column and one column per ticker.
* ``fmp_v3``: FMP ``historical-price-full`` JSON (``{"symbol": .., "historical": [..]}``).
* ``fmp_stable``: FMP ``stable/historical-price-eod/full`` JSON (a bare array of records).

Any of them may be gzip-compressed, UTF-8 (with or without a byte-order mark) or UTF-16 with
a byte-order mark. CSV fields may be separated by ``,``, ``;`` or tabs (taken from the header
line); a ``;`` or tab file whose numbers have a decimal comma (``154,89``) is read as such.
Headers are matched case-insensitively with common aliases (``Date``, ``Name``, ``Symbol``,
``Adj Close``, ``adjClose``); two columns for one field (``Close`` and ``close``) refuse the
file. A file with an adjusted close but no close stores the adjusted close as both ``close``
and ``adj_close``. Values are kept as the exact strings of the file so that a rejected row can
be shown as it was; parsing happens in :mod:`quant_assets.ingest.validation`.

Ticker identity (one rule for every layout with a ticker column or an FMP ``symbol``): the
column gives each row's ticker, and the file name is parsed by
:func:`~quant_assets.ingest.names.ticker_from_filename`. When the name gives a ticker and the
column holds that ticker or a single ticker, the file is that ticker's file: rows whose column
disagrees with the name are quarantined (``ticker_conflict``). A column holding several
tickers, none of them the name's, makes a multi-ticker file whose name is not a ticker.

Blank lines (empty or spaces only) are skipped: they are no rows. A line may end with empty
fields beyond the header (a trailing separator), and the header may end with empty names.

Every refusal is a :class:`~quant_assets.ingest.errors.PriceFileError` naming the file and the
reason (empty file, no date column, duplicate columns, bytes that are not text, an HTML page,
an FMP error or an FMP payload without a list of records, an ambiguous date format); any other
exception inside the reader is reported the same way rather than escaping bare.

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

import codecs
import csv
import dataclasses
import io
import itertools
import json
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from quant_assets.ingest.dates import AmbiguousDateOrder, day_first_order, parse_dates
from quant_assets.ingest.errors import PriceFileError, PriceFileNotFoundError, UnsupportedFileError
from quant_assets.ingest.memory import return_freed_memory
from quant_assets.ingest.names import is_generic_filename, name_text, ticker_from_filename

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
__all__ = [
    "PriceFileError",
    "PriceFileNotFoundError",
    "RawPrices",
    "UnsupportedFileError",
    "fmp_payload_to_raw",
    "peek_tickers",
    "CHUNK_ROWS",
    "RawChunk",
    "concat_rows",
    "iter_raw_chunks",
    "read_raw",
    "take_rows",
    "ticker_from_filename",
]

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
    name_ticker
        The ticker the file name gives (:func:`ticker_from_filename`) where the rows carry
        their own tickers and the name is a claim to check (``ticker_conflict``); else None.
    day_first
        The file's order for numeric day/month dates (see
        :func:`quant_assets.ingest.dates.day_first_order`); None where no value needs it.
    decimal
        The decimal mark of numbers kept as text (``,`` in a ``;`` file with decimal commas).
    """

    frame: pd.DataFrame
    locations: Callable[[np.ndarray], np.ndarray]
    raw_values: Callable[[np.ndarray], list[str]]
    source: str
    layout: str
    line_issues: pd.DataFrame = field(default_factory=_no_line_issues)
    row_sources: np.ndarray | None = None
    name_ticker: str | None = None
    day_first: bool | None = None
    decimal: str = "."

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


MAX_GZIP_RATIO = 200
"""Largest decompressed/compressed size ratio of a gzip file (a gzip bomb is refused).

Price CSVs compress 3-20x; a bomb of repeated bytes about 1000x. Checked while decompressing,
once :data:`GZIP_RATIO_FLOOR_BYTES` have come out, so the file is never decompressed whole."""
GZIP_RATIO_FLOOR_BYTES = 64 * 2**20
"""Decompressed bytes below which the ratio is not judged (a small file may compress well)."""
MAX_DECOMPRESSED_BYTES = 64 * 2**30
"""Largest decompressed size of a gzip file, whatever its ratio (64 GiB)."""
READ_WHOLE_MAX_BYTES = 512 * 2**20
"""Largest decompressed file :func:`read_raw` reads whole; larger files go through
:func:`iter_raw_chunks` (``read_prices`` switches by itself)."""
_IN_PIECE = 2**20  # compressed bytes read at a time
_OUT_PIECE = 16 * 2**20  # most decompressed bytes produced at a time


class FileTooLargeToReadWhole(PriceFileError):
    """The decompressed file exceeds :data:`READ_WHOLE_MAX_BYTES`: read it in chunks."""


def _gunzip_pieces(path: Path, handle, first: bytes) -> Iterator[bytes]:
    """Decompressed pieces of a gzip file (every member), refusing a bomb on the way."""
    decompressor = zlib.decompressobj(wbits=31)
    fed, out_total, pending, in_member = len(first), 0, first, False
    try:
        while True:
            if not pending:
                pending = handle.read(_IN_PIECE)
                fed += len(pending)
                if not pending:
                    break
            in_member = True
            out = decompressor.decompress(pending, _OUT_PIECE)
            pending = decompressor.unconsumed_tail
            if decompressor.eof:
                rest = decompressor.unused_data + pending
                if rest and rest[:2] != b"\x1f\x8b":
                    raise PriceFileError(
                        path, "corrupt or truncated gzip data: bytes after the gzip stream"
                    )
                decompressor, pending, in_member = zlib.decompressobj(wbits=31), rest, False
            out_total += len(out)
            consumed = fed - len(pending)
            if out_total > MAX_DECOMPRESSED_BYTES or (
                out_total > GZIP_RATIO_FLOOR_BYTES and out_total > MAX_GZIP_RATIO * consumed
            ):
                raise PriceFileError(
                    path,
                    f"refused as a likely gzip bomb: {consumed:,} compressed bytes already "
                    f"decompress to {out_total:,} (ratio {out_total / max(consumed, 1):,.0f}; "
                    f"limits: ratio {MAX_GZIP_RATIO}, size {MAX_DECOMPRESSED_BYTES:,} bytes)",
                )
            if out:
                yield out
    except zlib.error as exc:
        raise PriceFileError(path, f"corrupt or truncated gzip data: {exc}") from exc
    if in_member:
        raise PriceFileError(
            path,
            "corrupt or truncated gzip data: the compressed file ended before the "
            "end-of-stream marker was reached (truncated gzip)",
        )


def _text_pieces(path: Path) -> Iterator[bytes]:
    """The file's content as UTF-8 bytes, piece by piece: decompressed if gzip (guarded),
    without a byte-order mark; UTF-16 with a byte-order mark is re-encoded as UTF-8."""
    with path.open("rb") as handle:
        first = handle.read(_IN_PIECE)
        if first[:2] == b"\x1f\x8b":
            pieces = _gunzip_pieces(path, handle, first)
        else:
            pieces = _plain_pieces(handle, first)
        head = b""
        for piece in pieces:  # at least 3 bytes to see a byte-order mark
            head += piece
            if len(head) >= 3:
                break
        if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
            decoder = codecs.getincrementaldecoder("utf-16")()
            try:
                for piece in itertools.chain([head], pieces):
                    yield decoder.decode(piece).encode("utf-8")
                yield decoder.decode(b"", final=True).encode("utf-8")
            except UnicodeDecodeError as exc:
                raise PriceFileError(
                    path, f"not UTF-16 text after its byte-order mark: {exc}"
                ) from exc
            return
        yield head[3:] if head[:3] == b"\xef\xbb\xbf" else head
        yield from pieces


def _plain_pieces(handle, first: bytes) -> Iterator[bytes]:
    piece = first
    while piece:
        yield piece
        piece = handle.read(_OUT_PIECE)


def _read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The file's content as UTF-8 bytes (see :func:`_text_pieces`), read whole.

    Raises :class:`FileTooLargeToReadWhole` past ``limit`` bytes (default
    :data:`READ_WHOLE_MAX_BYTES`).
    """
    limit = READ_WHOLE_MAX_BYTES if limit is None else limit
    pieces, size = [], 0
    for piece in _text_pieces(path):
        size += len(piece)
        if size > limit:
            raise FileTooLargeToReadWhole(
                path, f"larger than {limit:,} bytes decompressed: read it in chunks"
            )
        pieces.append(piece)
    return b"".join(pieces)


def _undecodable(path: Path, data: bytes) -> PriceFileError:
    """The error for bytes that are not UTF-8 text, naming the line of the first bad byte."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = exc.start
        line = data.count(b"\n", 0, at) + 1
        return PriceFileError(
            path,
            f"not a readable CSV file: not UTF-8 text, byte {data[at : at + 1]!r} at line {line} "
            "cannot be decoded "
            "(save the file as UTF-8)",
        )
    return PriceFileError(path, "not a readable CSV file: its text cannot be decoded")


def _looks_like_markup(data: bytes) -> bool:
    """An HTML or XML page (a vendor's error or login page saved as a price file)."""
    return data.lstrip()[:1] == b"<"


def read_raw(path: str | Path, *, source: str | None = None) -> RawPrices:
    """Read any supported file into a :class:`RawPrices` without judging its values.

    ``source`` is how rows and quarantined rows name the file (default: the path as given).

    Raises
    ------
    PriceFileNotFoundError
        The path does not exist (also a :class:`FileNotFoundError`).
    PriceFileError
        The file is not a price file we understand, or cannot be read (the message starts
        with the path and says why). It is also an :class:`UnsupportedFileError`. No other
        exception leaves the reader.
    """
    path = Path(path)
    if not path.is_file():
        raise PriceFileNotFoundError(path, "price file not found")
    return _naming_the_file(path, lambda: _read_any(path, source or str(path)))


def _naming_the_file(path: str | Path, read: Callable[[], object]):
    """Run ``read``; any exception but a :class:`PriceFileError` becomes one naming ``path``."""
    try:
        return read()
    except PriceFileError:
        raise
    except MemoryError as exc:
        raise PriceFileError(path, "too large to read into memory") from exc
    except Exception as exc:  # what the reader did not foresee still names the file
        raise PriceFileError(
            path, f"cannot be read as a price file ({type(exc).__name__}: {exc})"
        ) from exc


def _read_any(path: Path, source: str) -> RawPrices:
    data = _read_bytes(path)
    if not data.strip():
        raise PriceFileError(path, "empty file, no header line")
    if data.lstrip()[:1] in (b"{", b"["):
        try:
            # NaN / Infinity literals stay text, so the validator names them (non_finite).
            payload = json.loads(data, parse_constant=str)
        except UnicodeDecodeError as exc:
            raise _undecodable(path, data) from exc
        except json.JSONDecodeError as exc:
            raise PriceFileError(
                path, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from exc
        name = ticker_from_filename(path)
        default = name or ("" if is_generic_filename(path) else name_text(path))
        return fmp_payload_to_raw(
            payload, source=source, default_ticker=default, name_ticker=name, where=path
        )
    if _looks_like_markup(data):
        raise PriceFileError(
            path, "an HTML or XML page, not a price file (a vendor's error or login page?)"
        )
    return _read_csv(path, data, source)


def _canonical_key(name: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


_DATE_KEYS = {k for k, v in _ALIASES.items() if v == "date"}
_ALIAS_RANK = {key: rank for rank, key in enumerate(_ALIASES)}


def _canonical_columns(header: list[str], where: str | Path | None = None) -> dict[str, str]:
    """Header name -> canonical column, one header per canonical column.

    Where two aliases of one field are present (``Symbol`` and ``Name``), the alias listed
    first in ``_ALIASES`` wins and the other column is ignored. The same header twice
    (``Close`` and ``close``) is a duplicate column: with ``where`` (the file), it refuses
    the file.
    """
    keys = [_canonical_key(name) for name in header]
    if where is not None:
        seen: dict[str, str] = {}
        for name, key in zip(header, keys, strict=True):
            if key in _ALIASES and key in seen:
                raise PriceFileError(
                    where,
                    f"duplicate column headers {seen[key]!r} and {name!r} (both are "
                    f"{_ALIASES[key]!r}); keep one",
                )
            seen[key] = name
    mapping: dict[str, str] = {}
    chosen: dict[str, int] = {}
    for name, key in sorted(
        ((n, k) for n, k in zip(header, keys, strict=True) if k in _ALIASES),
        key=lambda item: _ALIAS_RANK[item[1]],
    ):
        canonical = _ALIASES[key]
        if canonical not in chosen:
            chosen[canonical] = _ALIAS_RANK[key]
            mapping[name] = canonical
    return mapping


def _first_line(data: bytes) -> bytes:
    """The header line, without its terminator (LF, CRLF or a lone CR)."""
    ends = [at for at in (data.find(b"\n"), data.find(b"\r")) if at >= 0]
    return data[: min(ends)] if ends else data


def _separator(data: bytes) -> str:
    """The field separator of a CSV file: the most frequent of ``,`` ``;`` tab in its header."""
    head = _first_line(data)
    counts = {sep: head.count(sep.encode()) for sep in (",", ";", "\t")}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","


_DECIMAL_COMMA = re.compile(rb"(?:^|[;\t])\s*[-+]?\d+,\d+\s*(?=[;\t\r\n]|$)", re.MULTILINE)


def _decimal_mark(data: bytes, sep: str) -> str:
    """``,`` where a ``;`` or tab file writes numbers with a decimal comma, else ``.``."""
    return "," if sep != "," and _DECIMAL_COMMA.search(data) else "."


def _ticker_of_name(path: Path) -> str:
    """The ticker of a one-ticker file without a ticker column: from its name.

    A generic name gives none: the file is refused. A name that is not generic but no
    ticker keeps its text, so that the rows are quarantined (``ticker_format``) showing it.
    """
    ticker = ticker_from_filename(path)
    if ticker is not None:
        return ticker
    if is_generic_filename(path):
        raise PriceFileError(
            path,
            "no ticker: the file has no ticker or symbol column and its name is generic "
            "(name the file after its ticker, e.g. AAPL.csv, or add a ticker column)",
        )
    return name_text(path)


def _name_claim(name_ticker: str | None, tickers: pd.Series) -> str | None:
    """The file name's ticker where it is a claim about rows that carry their own tickers.

    It is one when the rows hold that ticker, or a single ticker: the file is then that
    ticker's file (rows that disagree become ``ticker_conflict``). Rows holding several
    tickers, none of them the name's, make a multi-ticker file whose name is no ticker.
    """
    if name_ticker is None:
        return None
    present = pd.Series(tickers.astype("category").cat.categories.astype(str))
    present = set(present.str.strip().str.upper()) - {"", "NAN"}
    return name_ticker if name_ticker in present or len(present) == 1 else None


def _finish(raw: RawPrices, where: str | Path) -> RawPrices:
    """Settle the file's order for day/month dates; an ambiguous file is refused."""
    dates = raw.frame["date"]
    values = dates.cat.categories if isinstance(dates.dtype, pd.CategoricalDtype) else dates
    try:
        order = day_first_order(pd.Series(np.asarray(values, dtype=object)).dropna())
    except AmbiguousDateOrder as exc:
        raise PriceFileError(where, str(exc)) from exc
    return dataclasses.replace(raw, day_first=order) if order is not None else raw


@dataclass(frozen=True)
class _FileFacts:
    """What a file decides as a whole, for reading it one block of lines at a time.

    ``decimal``: the decimal mark; ``name_claim``: the ticker the file name claims
    (:func:`_name_claim`, over all rows); ``text_columns``: header names pandas reads as text
    somewhere in the file (read as text in every block, so that every block shows a value as
    the whole file would); ``text_close``: a wide file whose close cells are not all numbers.
    """

    decimal: str
    name_claim: str | None
    text_columns: frozenset[str] = frozenset()
    text_close: bool = False


def _read_csv(path: Path, data: bytes, source: str) -> RawPrices:
    raw, _ = _read_csv_block(path, data, source)
    return _finish(raw, path)


def _read_csv_block(
    path: Path,
    data: bytes,
    source: str,
    facts: _FileFacts | None = None,
    line_offset: int = 0,
) -> tuple[RawPrices, frozenset[str]]:
    """Read CSV text (a whole file, or its header and a block of its lines) without settling
    the date order; also say which header columns pandas read as text.

    ``facts`` (None: decided from ``data``) are the whole file's; ``line_offset`` is how many
    lines of the file came before the block's first line (after the header).
    """
    sep = _separator(data)
    raw_header, header = _csv_header(path, data, sep)
    _canonical_columns(raw_header, where=path)  # refuses duplicate columns
    mapping = _canonical_columns(header)
    by_canonical = {v: k for k, v in mapping.items()}
    if "date" not in by_canonical:
        raise PriceFileError(
            path, f"no date column in header {raw_header} (expected one of date, Date, timestamp)"
        )
    decimal = _decimal_mark(data, sep) if facts is None else facts.decimal
    rows = _csv_rows(path, data, raw_header, sep, line_offset)
    text_columns: dict[str, object] = {}
    if facts is not None:
        text_columns = {name: str for name in facts.text_columns}
    text_columns |= {by_canonical[c]: "category" for c in ("date", "ticker") if c in by_canonical}
    try:
        # Blank lines are kept as rows so that rows match lines (dropped below);
        # index_col=False stops pandas from taking the first column as an index when a row
        # has more fields.
        df = pd.read_csv(
            io.BytesIO(rows.readable),
            sep=sep,
            decimal=decimal,
            dtype=text_columns,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,
            skipinitialspace=True,
            index_col=False,
        )
    except UnicodeDecodeError as exc:
        raise _undecodable(path, data) from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise PriceFileError(path, f"not a readable CSV file: {exc}") from exc
    if len(df) != len(rows.lines):
        raise PriceFileError(
            path,
            f"not a readable CSV file: pandas read {len(df)} rows from "
            f"{len(rows.lines)} lines after the header, so rows cannot be matched to lines",
        )
    df, rows = _without_blank_rows(df, rows)
    as_text = frozenset(
        str(c)
        for c in df.columns
        if str(c) in header and df[c].dtype == object and text_columns.get(c) != "category"
    )

    renamed = df.rename(columns=mapping)
    name_ticker = ticker_from_filename(path)
    claim = None
    if "ticker" in renamed.columns:
        layout = "long"
        claim = _name_claim(name_ticker, renamed["ticker"]) if facts is None else facts.name_claim
    elif "close" in renamed.columns or "adj_close" in renamed.columns:
        layout = "per_ticker"
        renamed["ticker"] = pd.Categorical.from_codes(
            np.zeros(len(renamed), dtype=np.int8), [_ticker_of_name(path)]
        )
    else:
        text_close = facts is not None and facts.text_close
        raw = _wide_to_raw(
            path, data, df, header.index(by_canonical["date"]), rows, source, text_close
        )
        return raw, as_text
    if "close" not in renamed.columns and "adj_close" in renamed.columns:
        renamed["close"] = renamed["adj_close"]  # adjusted-close-only file: close = adj close

    frame = renamed.reindex(columns=list(RAW_COLUMNS))
    for col in PRICE_FIELDS:
        if frame[col].dtype != object:
            frame[col] = frame[col].astype("float64")
    locations = _numbered("line ", rows.lines)
    raw_values = _csv_line_values(data, raw_header, rows)
    raw = RawPrices(
        frame,
        locations,
        raw_values,
        source,
        layout,
        rows.issues,
        name_ticker=claim,
        decimal=decimal,
    )
    return raw, as_text


def _csv_header(path: Path, data: bytes, sep: str) -> tuple[list[str], list[str]]:
    """The header's names as written (csv module) and as pandas names its columns."""
    head = _first_line(data)
    if not head.strip():
        raise PriceFileError(path, "the first line is blank: no header line")
    try:
        written = next(csv.reader([head.decode("utf-8")], delimiter=sep, skipinitialspace=True))
        named = pd.read_csv(
            io.BytesIO(head + b"\n"), sep=sep, nrows=0, skipinitialspace=True
        ).columns
    except UnicodeDecodeError as exc:
        raise _undecodable(path, data) from exc
    except pd.errors.EmptyDataError as exc:
        raise PriceFileError(path, "empty file, no header line") from exc
    except (pd.errors.ParserError, csv.Error) as exc:
        raise PriceFileError(path, f"not a readable CSV file: {exc}") from exc
    return [str(c) for c in written], [str(c) for c in named]


def _without_blank_rows(df: pd.DataFrame, rows: _CsvRows) -> tuple[pd.DataFrame, _CsvRows]:
    """Blank lines are no rows: drop them from the frame and from the rows' positions."""
    if not rows.blank.any():
        return df, rows
    keep = ~rows.blank
    new_pos = np.cumsum(keep) - 1
    issues = rows.issues
    if len(issues):
        issues = issues[keep[issues["pos"].to_numpy()]].copy()
        issues["pos"] = new_pos[issues["pos"].to_numpy()].astype(np.int64)
        issues = issues.reset_index(drop=True)
    kept = _CsvRows(
        rows.starts[keep],
        rows.ends[keep],
        rows.lines[keep],
        issues,
        rows.readable,
        rows.blank[keep],
        rows.sep,
    )
    return df[keep].reset_index(drop=True), kept


# --- the text of CSV lines: where each row lies, and what is wrong with its line -------------

_LF, _CR, _COMMA, _NUL = 10, 13, 44, 0
_UNTERMINATED = (
    "the file does not end with a line break, so its last line may be cut (a copy still "
    "being written, or interrupted); if the line is complete, add a line break at the end"
)


@dataclass(frozen=True)
class _CsvRows:
    """Where each data row of a CSV file lies in its bytes, and what is wrong with its text.

    Row ``k`` is the ``k``-th row pandas reads (blank lines included until
    :func:`_without_blank_rows` drops them): ``data[starts[k]:ends[k]]`` (line terminator
    excluded), beginning on line ``lines[k]`` (the header is line 1). ``issues`` has
    :data:`LINE_ISSUE_COLUMNS`, by row. ``readable`` is what pandas is given: the file with
    every damaged line that has more fields than the header cut to the header's count, and
    the header widened by empty names where lines end with empty fields beyond it.
    ``blank`` flags blank rows; ``sep`` is the field separator.
    """

    starts: np.ndarray
    ends: np.ndarray
    lines: np.ndarray
    issues: pd.DataFrame
    readable: bytes
    blank: np.ndarray
    sep: str = ","


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


def _trailing_unnamed(header: list[str]) -> int:
    """How many columns at the end of the header have no name (a trailing separator)."""
    count = 0
    for name in reversed(header):
        if name.strip():
            break
        count += 1
    return count


def _nul_detail(header: list[str], fields: list[str]) -> str:
    named = [f"{_field_name(header, i)}={v!r}" for i, v in enumerate(fields) if "\x00" in v]
    return (", ".join(named) or "the line") + " contains a NUL byte"


def _csv_rows(
    path: Path, data: bytes, header: list[str], sep: str = ",", line_offset: int = 0
) -> _CsvRows:
    """Locate the data rows of a CSV file and check the text of their lines, vectorised.

    A file with quotes may hold commas and line breaks inside them; its records are counted
    with the csv module instead (slower, and rare in price files).
    """
    arr = np.frombuffer(data, np.uint8)
    starts, ends = _physical_lines(data, arr)
    if b'"' in data:
        return _quoted_csv_rows(path, data, header, starts, ends, sep, line_offset)
    sep_byte = ord(sep)
    n_commas = _count_per_line(arr == sep_byte, starts)[1:]
    header_end = int(ends[0])
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
            nul_details[int(row)] = _nul_detail(header, text.split(sep))
    lines = np.arange(len(starts), dtype=np.int64) + 2 + line_offset  # line 1: the header
    fields = n_commas + 1
    # Empty fields at the end of a line (``...,100,,``): count the separators it ends with,
    # for the lines with more fields than the header (vectorised, one pass per extra field).
    trailing = np.zeros(len(starts), dtype=np.int64)
    longer = np.flatnonzero((fields > len(header)) & ~blank)
    if len(longer):
        extra = fields[longer] - len(header)
        run = np.ones(len(longer), dtype=bool)
        for j in range(1, min(int(extra.max()), 256) + 1):
            at = ends[longer] - j
            run &= (j <= extra) & (at >= starts[longer]) & (arr[np.maximum(at, 0)] == sep_byte)
            trailing[longer] += run
            if not run.any():
                break

    def first_fields(row: int) -> bytes:
        cut = starts[row] - 1
        for _ in range(len(header)):
            cut = data.index(sep.encode(), cut + 1)
        return data[starts[row] : cut]

    return _checked_rows(
        data,
        header,
        starts,
        ends,
        lines,
        fields,
        blank,
        nul_details,
        first_fields,
        trailing=trailing,
        header_end=header_end,
        sep=sep,
    )


def _quoted_csv_rows(
    path: Path,
    data: bytes,
    header: list[str],
    starts: np.ndarray,
    ends: np.ndarray,
    sep: str,
    line_offset: int = 0,
) -> _CsvRows:
    """:func:`_csv_rows` for a file with quotes: one csv-module record per row."""
    text = data.decode("utf-8", errors="replace")  # pandas refuses what is not UTF-8
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, skipinitialspace=True)
    first: list[int] = []  # index of each record's first and last line (0 = the header)
    last: list[int] = []
    fields: list[int] = []
    trailing: list[int] = []
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
            empty_tail = 0
            while empty_tail < len(record) - len(header) and record[-1 - empty_tail] == "":
                empty_tail += 1
            trailing.append(empty_tail)
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
        csv.writer(out, delimiter=sep, quoting=csv.QUOTE_ALL, lineterminator="").writerow(kept[row])
        return out.getvalue().encode()

    return _checked_rows(
        data,
        header,
        starts[first_line],
        ends[np.asarray(last, dtype=np.int64)],
        first_line + 1 + line_offset,
        np.asarray(fields, dtype=np.int64),
        np.asarray(blank, dtype=bool),
        nul_details,
        first_fields,
        trailing=np.asarray(trailing, dtype=np.int64),
        header_end=int(ends[0]),
        sep=sep,
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
    *,
    trailing: np.ndarray,
    header_end: int,
    sep: str,
) -> _CsvRows:
    """The :class:`_CsvRows` of rows with these field counts, blank flags and NUL bytes.

    ``first_fields(row)`` is the text of a row's first ``len(header)`` fields (asked only of
    rows with more). ``trailing`` counts the empty fields a row ends with beyond the header:
    a line whose extra fields are all empty (a trailing separator) is not damaged, nor is a
    line that lacks only the header's unnamed trailing columns. ``header_end`` is where the
    header line ends (without its terminator).
    """
    n = len(header)
    named = n - _trailing_unnamed(header)
    damaged = ~blank & ((fields < named) | (fields - trailing > n))
    wrong = np.flatnonzero(damaged)
    widen = int((fields[~blank & ~damaged] - n).max(initial=0))
    unterminated = len(starts) > 0 and not data.endswith((b"\n", b"\r")) and not blank[-1]
    readable = data
    if widen > 0:
        # Lines with empty fields beyond the header: pandas gets as many (unnamed) columns.
        readable = data[:header_end] + sep.encode() * widen + data[header_end:]
    if not len(wrong) and not nul_details and not unterminated:
        return _CsvRows(starts, ends, lines, _no_line_issues(), readable, blank, sep)

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
    too_many = wrong[fields[wrong] > n]
    if len(too_many):
        # pandas gets the header's count of fields: the row keeps its place, and its ticker
        # and date show in the quarantine.
        pieces, at = [], 0
        if widen > 0:
            pieces, at = [data[:header_end], sep.encode() * widen], header_end
        for row in too_many:
            pieces += [data[at : starts[row]], first_fields(int(row))]
            at = ends[row]
        readable = b"".join([*pieces, data[at:]])
    issues_frame = pd.concat(issues, ignore_index=True)[list(LINE_ISSUE_COLUMNS)]
    issues_frame["pos"] = issues_frame["pos"].astype(np.int64)
    return _CsvRows(starts, ends, lines, issues_frame, readable, blank, sep)


def _row_fields(data: bytes, rows: _CsvRows, positions: np.ndarray) -> list[list[str]]:
    """The fields of the given rows (0 = the first row after the header), exactly as written."""
    texts = [
        data[start:end].decode("utf-8", errors="replace")
        for start, end in zip(rows.starts[positions], rows.ends[positions], strict=True)
    ]
    return [next(csv.reader([text], delimiter=rows.sep), []) for text in texts]


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
    path: Path,
    data: bytes,
    df: pd.DataFrame,
    date_pos: int,
    rows: _CsvRows,
    source: str,
    text_close: bool = False,
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
    all_numbers = numeric[has_cell].notna().all() and not text_close
    close = numeric if all_numbers else pd.Series(cells, dtype=object)
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


def fmp_payload_to_raw(
    payload: object,
    *,
    source: str,
    default_ticker: str = "",
    name_ticker: str | None = None,
    where: str | Path | None = None,
) -> RawPrices:
    """Turn a decoded FMP JSON payload (v3 or stable layout) into :class:`RawPrices`.

    ``6.3890796E7`` volumes stay numbers in JSON and become their decimal text here.
    ``default_ticker`` labels records of a payload without a ``symbol``; ``name_ticker`` (the
    ticker of the file's name, if any) is checked against the symbols (see :func:`_name_claim`).
    ``where`` names the payload in errors (default ``source``).

    Raises
    ------
    PriceFileError
        An FMP error object, an empty object ``{}``, ``"historical": null`` or anything that
        is not a list of JSON objects (the message names ``where`` and says what was found).
    """
    where = where if where is not None else source
    return _naming_the_file(
        where,
        lambda: _fmp_payload_to_raw(payload, source, default_ticker, name_ticker, where),
    )


_FMP_ERROR_KEYS = ("Error Message", "error", "Error", "message", "Information", "Note")


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _fmp_records(payload: object, where: str | Path, default_ticker: str) -> tuple[list, str]:
    """The payload's records (``symbol`` added from the payload where it has one) and layout."""
    if isinstance(payload, list):
        return payload, "fmp_stable"
    if not isinstance(payload, dict):
        raise PriceFileError(where, f"JSON {_kind(payload)} is not an FMP price payload")
    if "historicalStockList" in payload:
        blocks = payload["historicalStockList"]
        if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
            raise PriceFileError(
                where, f'"historicalStockList" is {_kind(blocks)}, not a list of objects'
            )
        records: list = []
        for block in blocks:
            history = block.get("historical", [])
            if not isinstance(history, list):
                raise PriceFileError(
                    where,
                    f'"historical" of {block.get("symbol")!r} is {_kind(history)}, not a list',
                )
            symbol = block.get("symbol", default_ticker)
            records += [{"symbol": symbol, **r} if isinstance(r, dict) else r for r in history]
        return records, "fmp_v3"
    if "historical" in payload:
        history = payload["historical"]
        if not isinstance(history, list):
            raise PriceFileError(
                where,
                f'"historical" is {_kind(history)}, not a list of price records (FMP answers '
                "so for a symbol it has no prices for)",
            )
        symbol = payload.get("symbol", default_ticker)
        return [{"symbol": symbol, **r} if isinstance(r, dict) else r for r in history], "fmp_v3"
    for key in _FMP_ERROR_KEYS:
        if key in payload:
            raise PriceFileError(where, f"FMP error payload: {payload[key]}")
    if not payload:
        raise PriceFileError(
            where, "empty JSON object {}: no price records (FMP answers {} for an unknown symbol)"
        )
    keys = ", ".join(sorted(map(str, payload))[:5])
    raise PriceFileError(
        where,
        f"JSON object with keys {keys} is neither an FMP historical-price-full object nor an "
        "EOD array",
    )


def _json_values_as_numbers(values: pd.Series) -> pd.Series:
    """A JSON field as float64 where every present value is a number; else as text."""
    if values.dtype != object:
        return pd.to_numeric(values, errors="coerce").astype("float64")
    present = values.notna().to_numpy()
    text = values.astype(str).where(present)
    numeric = pd.to_numeric(text, errors="coerce")
    if (numeric.notna().to_numpy() | ~present).all():
        return numeric.astype("float64")
    return text.astype(object)  # the validator names the values that are not numbers


def _fmp_payload_to_raw(
    payload: object,
    source: str,
    default_ticker: str,
    name_ticker: str | None,
    where: str | Path,
) -> RawPrices:
    records, layout = _fmp_records(payload, where, default_ticker)
    bad = next((i for i, rec in enumerate(records) if not isinstance(rec, dict)), None)
    if bad is not None:
        raise PriceFileError(
            where,
            f"FMP records must be JSON objects; record {bad + 1} is {_kind(records[bad])}",
        )

    table = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    table.columns = [str(c) for c in table.columns]
    _canonical_columns(list(table.columns), where=where)  # refuses duplicate fields
    mapping = _canonical_columns(list(table.columns))
    renamed = table.rename(columns=mapping)
    if "ticker" not in renamed.columns:
        if records and not default_ticker:
            raise PriceFileError(
                where,
                "no ticker: the records have no symbol and the file name gives no ticker "
                "(name the file after its ticker, e.g. AAPL.json)",
            )
        renamed["ticker"] = default_ticker
    frame = renamed.reindex(columns=list(RAW_COLUMNS))
    frame["ticker"] = frame["ticker"].fillna("").astype(str).astype("category")
    frame["date"] = frame["date"].fillna("").astype(str).astype("category")
    for col in PRICE_FIELDS:
        frame[col] = _json_values_as_numbers(frame[col])
    if "close" not in renamed.columns and "adj_close" in renamed.columns:
        frame["close"] = frame["adj_close"]  # adjusted-close-only records: close = adj close
    location = _numbered("record ", np.arange(1, len(frame) + 1))

    def raw_values(positions: np.ndarray) -> list[str]:
        return _rows_as_json(table.iloc[positions])

    raw = RawPrices(
        frame,
        location,
        raw_values,
        source,
        layout,
        name_ticker=_name_claim(name_ticker, frame["ticker"]),
    )
    return _finish(raw, where)


def peek_tickers(path: str | Path) -> list[str]:
    """The distinct upper-case tickers a file holds, read cheaply (for the sensor).

    Only the ticker column (or the header) of a CSV file is parsed; rows of damaged lines
    (see :attr:`RawPrices.line_issues`) name no ticker, since they will be quarantined, and
    in a file whose name claims a ticker (see :func:`_name_claim`) only that ticker counts,
    if its rows hold it (rows of other tickers are ``ticker_conflict``).

    Raises
    ------
    PriceFileError
        As :func:`read_raw` (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise PriceFileNotFoundError(path, "price file not found")
    return _naming_the_file(path, lambda: _peek_tickers(path))


def _peek_tickers(path: Path) -> list[str]:
    try:
        data = _read_bytes(path)
    except FileTooLargeToReadWhole:
        return _peek_tickers_in_chunks(path)
    if data.lstrip()[:1] in (b"{", b"[") or _looks_like_markup(data) or not data.strip():
        raw = read_raw(path)
        found = set(raw.frame["ticker"].astype(str).str.strip().str.upper()) - {"", "NAN"}
        if raw.name_ticker is not None:  # rows of other tickers are ticker conflicts
            found &= {raw.name_ticker}
        return sorted(found)
    sep = _separator(data)
    raw_header, header = _csv_header(path, data, sep)
    _canonical_columns(raw_header, where=path)
    by_canonical = {v: k for k, v in _canonical_columns(header).items()}
    if "date" not in by_canonical:
        raise PriceFileError(path, f"no date column in header {raw_header}")
    name_ticker = ticker_from_filename(path)
    if "ticker" in by_canonical:
        rows = _csv_rows(path, data, raw_header, sep)
        col = pd.read_csv(
            io.BytesIO(rows.readable),
            sep=sep,
            usecols=[by_canonical["ticker"]],
            dtype="category",
            skipinitialspace=True,
            skip_blank_lines=False,
            index_col=False,
        ).iloc[:, 0]
        used = col.cat.categories
        if len(rows.issues):
            if len(col) != len(rows.lines):
                raise PriceFileError(path, "rows cannot be matched to lines")
            codes = np.delete(col.cat.codes.to_numpy(), rows.issues["pos"].to_numpy())
            used = used[np.unique(codes[codes >= 0])]
        found = set(used.astype(str).str.strip().str.upper()) - {""}
        claim = _name_claim(name_ticker, pd.Series(pd.Categorical(used)))
        if claim is not None:  # rows of other tickers are ticker conflicts
            found &= {claim}
        return sorted(found)
    if "close" in by_canonical or "adj_close" in by_canonical:
        return [_ticker_of_name(path)]
    date_name = by_canonical["date"]
    return sorted({c.strip().upper() for c in header if c != date_name and c.strip()})


# --- large files: blocks of lines, read one at a time -----------------------------------------

CHUNK_ROWS = 200_000
"""Lines per block when a file is read in chunks (:func:`iter_raw_chunks`)."""


@dataclass(frozen=True)
class RawChunk:
    """One block of a file read in chunks: its rows, and the row keys of the whole file.

    ``raw`` is the block as :func:`read_raw` would give those rows (file-global line numbers,
    the file's date order, decimal mark and ticker claim). ``keys`` gives each row's
    (ticker, trading date) as one int64 (``-1``: no usable ticker or date), and ``repeated``
    the sorted keys that occur more than once in the file: only rows with such keys can be
    duplicates, so only they need to be judged together.
    """

    raw: RawPrices
    keys: np.ndarray
    repeated: np.ndarray


def _line_blocks(path: Path, rows: int) -> tuple[bytes, Iterator[bytes]]:
    """The header line (with its terminator) and the file's following lines in blocks of
    about ``rows`` lines, each ending with a line terminator (but maybe the last).

    A line break inside quotes does not end a block (an even count of quotes before it).
    """
    pieces = _text_pieces(path)
    buf = b""
    for piece in pieces:
        buf += piece
        if b"\n" in buf or b"\r" in buf:
            break
    head_end = len(_first_line(buf))
    lone_cr = buf[head_end : head_end + 1] == b"\r" and buf[head_end + 1 : head_end + 2] != b"\n"
    term = b"\r" if lone_cr else b"\n"
    head_len = head_end + (len(term) if head_end < len(buf) else 0)
    if buf[head_end : head_end + 2] == b"\r\n":
        head_len = head_end + 2
    head, rest = buf[:head_len], buf[head_len:]

    def blocks() -> Iterator[bytes]:
        text, pending, counted = rest, [], rest.count(term)
        for piece in pieces:
            pending.append(piece)
            counted += piece.count(term)
            if counted < rows:
                continue
            text, pending = text + b"".join(pending), []
            while (cut := _block_end(text, term, rows)) >= 0:
                yield text[:cut]
                text = text[cut:]
            counted = text.count(term)
        text += b"".join(pending)
        while (cut := _block_end(text, term, rows)) >= 0:
            yield text[:cut]
            text = text[cut:]
        if text:
            yield text

    return head, blocks()


def _block_end(text: bytes, term: bytes, rows: int) -> int:
    """Where the first ``rows`` whole lines of ``text`` end (-1: fewer lines than that)."""
    arr = np.frombuffer(text, np.uint8)
    breaks = np.flatnonzero(arr == term[0])
    if b'"' in text:
        quotes_before = np.cumsum(arr == ord('"'))[breaks]
        breaks = breaks[quotes_before % 2 == 0]
    return int(breaks[rows - 1]) + 1 if len(breaks) >= rows else -1


def _physical_line_count(block: bytes) -> int:
    return len(_physical_lines(block, np.frombuffer(block, np.uint8))[0]) if block else 0


def _json_or_page(path: Path) -> bool:
    """A JSON payload, an HTML page or an empty file: read whole, never in line blocks."""
    for piece in _text_pieces(path):
        start = piece.lstrip()[:1]
        if start:
            return start in (b"{", b"[", b"<")
    return True


def iter_raw_chunks(
    path: str | Path, *, rows: int = CHUNK_ROWS, source: str | None = None
) -> Iterator[RawChunk]:
    """Read a file in blocks of about ``rows`` lines, with bounded memory.

    Two passes over the (decompressed) text, one block in memory at a time: the first settles
    what belongs to the whole file (the date order from every date value, the decimal mark,
    the ticker the name claims, which columns hold text, and which (ticker, date) keys occur
    more than once); the second yields each block as a :class:`RawChunk`. JSON payloads and
    HTML pages are read whole (one chunk). Errors are :class:`PriceFileError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise PriceFileNotFoundError(path, "price file not found")
    source = source or str(path)
    if _naming_the_file(path, lambda: _json_or_page(path)):
        raw = read_raw(path, source=source)
        keys = np.full(len(raw), -1, dtype=np.int64)
        yield RawChunk(raw, keys, np.array([], dtype=np.int64))
        return
    facts, keyer, repeated = _naming_the_file(path, lambda: _first_pass(path, rows, source))
    blocks = _blocks_with_offsets(path, rows)
    while True:
        read = _naming_the_file(path, lambda: _next_chunk(path, blocks, source, facts, keyer))
        if read is None:
            return
        raw, keys = read
        yield RawChunk(raw, keys, repeated)


def _blocks_with_offsets(path: Path, rows: int) -> Iterator[tuple[bytes, int]]:
    """``(header + block, lines before the block)``; at least one (an empty block)."""
    head, blocks = _line_blocks(path, rows)
    offset, any_block = 0, False
    for block in blocks:
        any_block = True
        yield head + block, offset
        offset += _physical_line_count(block)
    if not any_block:
        yield head, 0


def _next_chunk(path, blocks, source, facts, keyer):
    item = next(blocks, None)
    if item is None:
        return None
    data, offset = item
    raw, _ = _read_csv_block(path, data, source, facts, offset)
    raw = dataclasses.replace(raw, day_first=keyer.day_first)
    return raw, keyer.keys(raw.frame)


class _Keys:
    """Row keys (normalised ticker, trading date) as int64, through dictionaries of the
    distinct ticker and date texts of the file (so a block's keys cost a lookup)."""

    def __init__(self) -> None:
        self.tickers = pd.Index([], dtype=object)
        self.dates = pd.Index([], dtype=object)
        self.day_first: bool | None = None
        self._ticker_ids: np.ndarray | None = None
        self._days: np.ndarray | None = None

    def learn(self, frame: pd.DataFrame) -> np.ndarray:
        """Add a block's texts; its rows' text keys (ticker text id << 32 | date text id)."""
        t = self._codes(frame["ticker"], "tickers")
        d = self._codes(frame["date"], "dates")
        keys = (t.astype(np.int64) << 32) | d.astype(np.int64)
        keys[(t < 0) | (d < 0)] = -1
        return keys

    def _codes(self, column: pd.Series, which: str) -> np.ndarray:
        cat = column.astype("category")
        values = pd.Index(np.asarray(cat.cat.categories.astype(str), dtype=object))
        index = getattr(self, which)
        new = values[index.get_indexer(values) < 0]
        if len(new):
            index = index.append(new.unique())
            setattr(self, which, index)
        ids = np.append(index.get_indexer(values), -1)
        return ids[cat.cat.codes.to_numpy()]

    def settle(self, where: Path) -> None:
        """Decide the date order over every date of the file; build the key tables."""
        try:
            self.day_first = day_first_order(pd.Series(np.asarray(self.dates, dtype=object)))
        except AmbiguousDateOrder as exc:
            raise PriceFileError(where, str(exc)) from exc
        cleaned = pd.Index(self.tickers).str.strip().str.upper()
        ticker_ids, labels = pd.factorize(cleaned)
        ticker_ids = ticker_ids.astype(np.int64)
        ticker_ids[np.asarray(labels == "")[ticker_ids]] = -1
        self._ticker_ids = ticker_ids
        text = pd.Series(np.asarray(self.dates, dtype=object)).str.strip()
        parsed = parse_dates(text, day_first=self.day_first).to_numpy()
        days = parsed.astype("datetime64[D]").astype(np.int64) + 2**31
        days[np.isnat(parsed)] = -1
        self._days = days

    def final(self, text_keys: np.ndarray) -> np.ndarray:
        """Text keys -> (normalised ticker id << 32 | day + 2**31); -1 stays -1."""
        out = np.full(len(text_keys), -1, dtype=np.int64)
        ok = text_keys >= 0
        t = self._ticker_ids[text_keys[ok] >> 32]
        d = self._days[text_keys[ok] & 0xFFFFFFFF]
        out[ok] = np.where((t < 0) | (d < 0), -1, (t << 32) | d)
        return out

    def keys(self, frame: pd.DataFrame) -> np.ndarray:
        return self.final(self.learn(frame))


def _first_pass(path: Path, rows: int, source: str) -> tuple[_FileFacts, _Keys, np.ndarray]:
    head, _ = _line_blocks(path, 1)
    sep = _separator(head)
    decimal = "."
    if sep != ",":  # a decimal comma anywhere decides how every block reads its numbers
        blocks = _blocks_with_offsets(path, rows)
        if any(_decimal_mark(data, sep) == "," for data, _ in blocks):
            decimal = ","
    text_columns: set[str] = set()
    text_close = False
    keyer = _Keys()
    claims: set[str] = set()
    name_ticker = ticker_from_filename(path)
    key_blocks = []
    facts = _FileFacts(decimal, None)
    for data, offset in _blocks_with_offsets(path, rows):
        raw, as_text = _read_csv_block(path, data, source, facts, offset)
        text_columns |= as_text
        text_close |= raw.layout == "wide" and raw.frame["close"].dtype == object
        key_blocks.append(keyer.learn(raw.frame))
        if raw.layout == "long" and name_ticker is not None:
            claims |= set(raw.frame["ticker"].astype("category").cat.categories.astype(str))
    keyer.settle(path)
    claim = None
    if name_ticker is not None:
        claim = _name_claim(name_ticker, pd.Series(sorted(claims), dtype=object))
    for i, text_keys in enumerate(key_blocks):  # block by block: one copy of the keys at most
        final = keyer.final(text_keys)
        key_blocks[i] = final[final >= 0]
    # Moved into one array block by block (not np.concatenate, which holds both copies).
    keys = np.empty(sum(len(k) for k in key_blocks), dtype=np.int64)
    at = 0
    for i, block_keys in enumerate(key_blocks):
        keys[at : at + len(block_keys)] = block_keys
        at += len(block_keys)
        key_blocks[i] = None
    key_blocks.clear()
    keys.sort()
    repeated = np.unique(keys[1:][keys[1:] == keys[:-1]])
    del keys
    return_freed_memory()  # the blocks' freed arrays, kept resident by glibc otherwise
    facts = _FileFacts(decimal, claim, frozenset(text_columns), text_close)
    return facts, keyer, repeated


def take_rows(raw: RawPrices, positions: np.ndarray, *, materialize: bool = False) -> RawPrices:
    """The rows of ``raw`` at ``positions`` (sorted) as a :class:`RawPrices` of their own.

    With ``materialize``, their locations and raw values are computed now, so that the
    result no longer needs the file's text (rows held back while the rest is streamed).
    """
    positions = np.asarray(positions, dtype=np.int64)
    frame = raw.frame.iloc[positions].reset_index(drop=True)
    issues = raw.line_issues
    if len(issues):
        pos = issues["pos"].to_numpy(dtype=np.int64)
        at = np.searchsorted(positions, pos)
        found = at < len(positions)
        found[found] = positions[at[found]] == pos[found]
        issues = issues[found].reset_index(drop=True)
        issues["pos"] = at[found].astype(np.int64)
    row_sources = None if raw.row_sources is None else raw.row_sources[positions]
    if materialize:
        locations_now = np.asarray(raw.locations(positions), dtype=object)
        values_now = np.asarray(raw.raw_values(positions), dtype=object)

        def locations(p: np.ndarray) -> np.ndarray:
            return locations_now[p]

        def raw_values(p: np.ndarray) -> list[str]:
            return list(values_now[p])
    else:

        def locations(p: np.ndarray) -> np.ndarray:
            return raw.locations(positions[p])

        def raw_values(p: np.ndarray) -> list[str]:
            return raw.raw_values(positions[p])

    return dataclasses.replace(
        raw,
        frame=frame,
        locations=locations,
        raw_values=raw_values,
        line_issues=issues,
        row_sources=row_sources,
    )


def concat_rows(parts: list[RawPrices]) -> RawPrices:
    """Rows of one file taken with ``take_rows(..., materialize=True)``, in one table."""
    frame = pd.concat([p.frame for p in parts], ignore_index=True)
    sizes = np.cumsum([0] + [len(p) for p in parts])
    issues = [
        p.line_issues.assign(pos=p.line_issues["pos"] + int(start))
        for p, start in zip(parts, sizes, strict=False)
        if len(p.line_issues)
    ]
    every = np.arange(int(sizes[-1]))
    locations_all = np.concatenate(
        [np.asarray(p.locations(np.arange(len(p))), dtype=object) for p in parts]
    )
    values_all = np.asarray(
        [v for p in parts for v in p.raw_values(np.arange(len(p)))], dtype=object
    )

    def locations(p: np.ndarray) -> np.ndarray:
        return locations_all[p]

    def raw_values(p: np.ndarray) -> list[str]:
        return list(values_all[p])

    row_sources = None
    if parts[0].row_sources is not None:
        row_sources = np.concatenate([p.row_sources for p in parts])[every]
    return dataclasses.replace(
        parts[0],
        frame=frame,
        locations=locations,
        raw_values=raw_values,
        line_issues=pd.concat(issues, ignore_index=True) if issues else _no_line_issues(),
        row_sources=row_sources,
    )


def _peek_tickers_in_chunks(path: Path) -> list[str]:
    """:func:`peek_tickers` of a file too large to read whole: block by block."""
    found: set[str] = set()
    claim = None
    for chunk in iter_raw_chunks(path):
        raw = chunk.raw
        tickers = raw.frame["ticker"]
        if len(raw.line_issues):  # damaged lines name no ticker
            tickers = tickers.drop(index=np.unique(raw.line_issues["pos"].to_numpy()))
        found |= set(tickers.dropna().astype(str).str.strip().str.upper()) - {"", "NAN"}
        claim = raw.name_ticker
    return sorted(found & {claim} if claim is not None else found)
