"""Fuzz harness: random but plausible price files, written as vendors write them, then read.

Each example writes one file (a layout, an encoding, a separator and decimal mark, a date
format, a file name, optional gzip) from known rows, injects bad values (``inf``, ``nan``,
``1e999``, text, negatives, absurd sizes), blank lines and sometimes a truncation, then
asserts what :func:`quant_assets.ingest.read_prices` promises:

* nothing escapes but a :class:`PriceFileError` that names the file (and a file that is
  neither truncated nor in an order-ambiguous date format is never refused);
* ``valid + rejected`` equals the rows read (non-blank data lines, or JSON records);
* every valid row holds a (ticker, date, close, volume) the file holds, finite and in range.

The suite runs a bounded number of examples (a few seconds); set ``QUANT_ASSETS_FUZZ_EXAMPLES``
(read here only) to run longer, e.g. ``QUANT_ASSETS_FUZZ_EXAMPLES=2000 pytest
quant_assets_tests/test_ingest/test_fuzz_files.py``.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_assets.ingest import MAX_PRICE, MAX_VOLUME, PriceFileError, read_prices

FUZZ_EXAMPLES = int(os.environ.get("QUANT_ASSETS_FUZZ_EXAMPLES", "30"))
AS_OF = dt.date(2024, 1, 2)
TICKERS = ["AAPL", "MSFT", "BRK-B"]
# Weekdays of 2023 with days above and below 12, so that day/month order has evidence or not.
DAYS = [dt.date(2023, m, d) for m, d in [(1, 3), (1, 4), (2, 6), (3, 13), (5, 22), (6, 1)]]
BAD_VALUES = ["inf", "-inf", "nan", "NaN", "1e999", "abc", "-5", "0", "2e7", "1e14"]
DATE_FORMATS = ["iso", "iso_utc", "iso_offset", "epoch", "epoch_ms", "compact", "us", "eu"]
UNAMBIGUOUS = {"iso", "iso_utc", "iso_offset", "epoch", "epoch_ms", "compact"}


@dataclass(frozen=True)
class Row:
    ticker: str
    day: dt.date
    close: float | None  # None where a bad value was written
    volume: float | None
    texts: dict[str, str]  # field -> text as written (before separator / decimal mark)


def _date_text(day: dt.date, fmt: str) -> str:
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return {
        "iso": day.isoformat(),
        "iso_utc": f"{day.isoformat()}T21:00:00Z",  # 16:00 in New York
        "iso_offset": f"{day.isoformat()}T16:00:00-05:00",
        "epoch": str(int(midnight.timestamp())),  # midnight UTC: a date label
        "epoch_ms": str(int(midnight.timestamp() + 21 * 3600) * 1000),
        "compact": day.strftime("%Y%m%d"),
        "us": day.strftime("%m/%d/%Y"),
        "eu": day.strftime("%d/%m/%Y"),
    }[fmt]


@st.composite
def rows(draw) -> list[Row]:
    out = []
    for _ in range(draw(st.integers(0, 10))):
        ticker = draw(st.sampled_from(TICKERS))
        day = draw(st.sampled_from(DAYS))
        close = round(draw(st.floats(1, 5000)), 2)
        volume = float(draw(st.integers(0, 10**9)))
        texts = {
            "open": repr(close),
            "high": repr(round(close * 1.01, 2)),
            "low": repr(round(close * 0.99, 2)),
            "close": repr(close),
            "volume": str(int(volume)),
        }
        kept_close, kept_volume = close, volume
        if draw(st.integers(0, 3)) == 0:  # one bad value in a quarter of the rows
            field = draw(st.sampled_from(list(texts)))
            texts[field] = draw(st.sampled_from(BAD_VALUES))
            # What the file then holds there (a finite number, or nothing a row may keep).
            held = _json_value(texts[field])
            held = held if isinstance(held, float) and math.isfinite(held) else None
            if field == "close":
                kept_close = held
            if field == "volume":
                kept_volume = held
        out.append(Row(ticker, day, kept_close, kept_volume, texts))
    return out


@st.composite
def price_files(draw):
    """``(name, content bytes, rows, rows read, never refused?)``."""
    data = draw(rows())
    layout = draw(st.sampled_from(["long", "per_ticker", "fmp_v3", "fmp_stable"]))
    date_format = draw(st.sampled_from(DATE_FORMATS))
    if layout == "per_ticker" or layout == "fmp_v3":
        ticker = draw(st.sampled_from(TICKERS))
        data = [Row(ticker, r.day, r.close, r.volume, r.texts) for r in data]
        name = draw(st.sampled_from([f"{ticker}", f"daily_adjusted_{ticker}", f"{ticker}_1d"]))
    else:
        name = draw(st.sampled_from(["export", "prices", "data", "quotes_2023"]))
    if layout.startswith("fmp"):
        records = [
            {
                "date": _date_text(r.day, date_format),
                **{k: _json_value(v) for k, v in r.texts.items()},
            }
            for r in data
        ]
        if layout == "fmp_stable":
            records = [{"symbol": r.ticker, **rec} for r, rec in zip(data, records, strict=True)]
            payload: object = records
        else:
            payload = {"symbol": data[0].ticker if data else "AAPL", "historical": records}
        text = json.dumps(payload)  # NaN / Infinity come out as JSON literals
        n_rows, name = len(records), name + ".json"
    else:
        sep, decimal = draw(st.sampled_from([(",", "."), (";", ","), ("\t", ".")]))
        thousands = sep == "," and draw(st.booleans())
        fields = ["open", "high", "low", "close", "volume"]
        head = ["date"] + (["ticker"] if layout == "long" else []) + fields
        lines = [sep.join(head)]
        for r in data:
            values = [_csv_number(r.texts[f], decimal, thousands) for f in fields]
            cells = [_date_text(r.day, date_format)] + ([r.ticker] if layout == "long" else [])
            lines.append(sep.join(cells + values))
        blank_at = draw(st.lists(st.integers(1, len(lines)), max_size=3))
        for at in sorted(blank_at, reverse=True):
            lines.insert(at, draw(st.sampled_from(["", "  "])))
        eol = draw(st.sampled_from(["\n", "\r\n"]))
        text = eol.join(lines) + eol + eol * draw(st.integers(0, 2))
        n_rows = len(data)
        name = name + draw(st.sampled_from([".csv", ".txt"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
    content = text.encode(encoding)
    truncated = draw(st.integers(0, 4)) == 0
    if truncated:
        content = content[: draw(st.integers(0, len(content)))]
    if draw(st.booleans()):
        content, name = gzip.compress(content), name + ".gz"
    refusable = truncated or date_format not in UNAMBIGUOUS
    return name, content, data, n_rows, refusable


def _json_value(text: str) -> object:
    """A price as a JSON number where it is one (inf / nan as JSON literals), else text."""
    try:
        return float(text)
    except ValueError:
        return text


def _csv_number(text: str, decimal: str, thousands: bool) -> str:
    try:
        number = float(text)
    except ValueError:
        return text
    if thousands and math.isfinite(number) and abs(number) >= 1000 and "." in text:
        return f'"{number:,.2f}"'
    return text.replace(".", decimal) if decimal != "." else text


def _lines_read(content: bytes, name: str) -> int | None:
    """Non-blank data lines of a CSV file as it reached the reader; None where undecodable."""
    if name.endswith(".gz"):
        content = gzip.decompress(content)
    try:
        text = content.decode("utf-16") if content[:2] == b"\xff\xfe" else content.decode()
    except UnicodeDecodeError:
        return None
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").split("\n")
    return sum(1 for line in lines[1:] if line.strip(" \r"))


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(file=price_files())
def test_random_plausible_files_are_read_or_refused_by_name_and_lose_nothing(file):
    name, content, data, n_rows, refusable = file
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        try:
            valid, rejected = read_prices(path, as_of=AS_OF)
        except PriceFileError as exc:
            assert str(exc).startswith(str(path)) and exc.path == str(path)
            assert refusable, f"refused a whole, unambiguous file: {exc}"
            return
    # valid + rejected = rows read
    if name.removesuffix(".gz").endswith(".json"):
        assert len(valid) + len(rejected) == n_rows
    else:
        lines = _lines_read(content, name)
        assert lines is not None
        assert len(valid) + len(rejected) == lines
    # no valid row holds a value the file does not hold
    prices = valid[["open", "high", "low", "close", "adj_close"]].to_numpy(dtype=float)
    assert np.all(np.isnan(prices) | ((prices > 0) & (prices <= MAX_PRICE)))
    volume = valid["volume"].to_numpy(dtype=float)
    assert np.all(np.isnan(volume) | ((volume >= 0) & (volume <= MAX_VOLUME)))
    written = {(r.ticker, r.day, r.close, r.volume) for r in data}
    for ticker, day, close, vol in zip(
        valid["ticker"].astype(str),
        valid["date"].dt.date,
        valid["close"],
        valid["volume"],
        strict=True,
    ):
        assert (ticker, day, close, None if math.isnan(vol) else vol) in written
