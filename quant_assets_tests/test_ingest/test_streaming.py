"""Large and compressed files: read in line blocks with every rule of the whole-file reader.

A file read in chunks (``read_prices(path, chunk_rows=k)`` / ``iter_price_chunks``) must give
exactly the rows and quarantine of the one-shot read, whatever the block size: checked with
hypothesis on real rows of the S&P 500 file, with bad values, damaged lines, blank lines and
duplicates (exact and conflicting) that span blocks, and with US dates whose only evidence of
the month-first order lies in the last block. A gzip bomb is refused while decompressing.
"""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_assets.ingest import PriceFileError, iter_price_chunks, peek_tickers, read_prices
from quant_assets.ingest.readers import GZIP_RATIO_FLOOR_BYTES, MAX_GZIP_RATIO
from quant_assets_tests.test_ingest.conftest import REAL_DATA_AS_OF, SP500_FILE

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def _real_lines(count: int = 3000) -> tuple[str, list[str]]:
    path = SHARED / SP500_FILE
    if not path.exists():
        pytest.skip(f"shared data not found: {path}")
    with gzip.open(path, "rt") as handle:
        header = next(handle).rstrip("\n")
        return header, [line.rstrip("\n") for line in itertools.islice(handle, count)]


HEADER, LINES = None, None


def _lines() -> tuple[str, list[str]]:
    global HEADER, LINES
    if LINES is None:
        HEADER, LINES = _real_lines()
    return HEADER, LINES


def _us_date(line: str) -> str:
    """``2013-02-08,A,...`` -> ``02/08/2013,A,...`` (month first)."""
    iso, rest = line.split(",", 1)
    y, m, d = iso.split("-")
    return f"{m}/{d}/{y},{rest}"


def _sorted_valid(valid: pd.DataFrame) -> pd.DataFrame:
    out = valid.astype({"ticker": str}).sort_values(["ticker", "date"], kind="stable")
    return out.reset_index(drop=True)


def _sorted_rejected(rejected: pd.DataFrame) -> pd.DataFrame:
    line = rejected["location"].str.extract(r"line (\d+)")[0].astype(int)
    out = rejected.assign(_line=line.to_numpy()).sort_values("_line", kind="stable")
    return out.drop(columns="_line").reset_index(drop=True)


def _same(one: tuple[pd.DataFrame, pd.DataFrame], chunked: tuple[pd.DataFrame, pd.DataFrame]):
    pd.testing.assert_frame_equal(_sorted_valid(one[0]), _sorted_valid(chunked[0]))
    pd.testing.assert_frame_equal(_sorted_rejected(one[1]), _sorted_rejected(chunked[1]))


BAD = ["inf", "1e999", "abc", "-5", "0", "2e7", "", "nan"]


@st.composite
def hostile_real_files(draw):
    header, lines = _lines()
    start = draw(st.integers(0, len(lines) - 200))
    rows = list(lines[start : start + draw(st.integers(20, 200))])
    n = len(rows)
    for _ in range(draw(st.integers(0, 6))):  # a bad value in a price field
        i, field = draw(st.integers(0, n - 1)), draw(st.integers(2, 6))
        parts = rows[i].split(",")
        parts[field] = draw(st.sampled_from(BAD))
        rows[i] = ",".join(parts)
    for _ in range(draw(st.integers(0, 4))):  # an exact copy of a row, anywhere later
        i = draw(st.integers(0, n - 1))
        rows.insert(draw(st.integers(i, len(rows))), rows[i])
    for _ in range(draw(st.integers(0, 3))):  # a conflicting copy (another close)
        i = draw(st.integers(0, n - 1))
        parts = rows[i].split(",")
        parts[5] = str(float(parts[5] or 1) + 1) if parts[5] not in BAD else "7.5"
        rows.insert(draw(st.integers(0, len(rows))), ",".join(parts))
    for _ in range(draw(st.integers(0, 3))):  # damaged lines and blank lines
        i = draw(st.integers(0, len(rows) - 1))
        rows[i] = draw(st.sampled_from(["", "   ", rows[i].rsplit(",", 2)[0], rows[i] + ",9,9"]))
    if draw(st.booleans()):  # month-first dates, evidence (day > 12) only near the end
        rows = [_us_date(r) if r.count(",") >= 2 and r[:1].isdigit() else r for r in rows]
    text = header + "\n" + "\n".join(rows) + ("\n" if draw(st.booleans()) else "")
    return text, draw(st.integers(1, 60)), draw(st.booleans())


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=hostile_real_files())
def test_a_file_read_in_blocks_gives_exactly_the_rows_of_the_one_shot_read(tmp_path, case):
    text, block_rows, compressed = case
    path = tmp_path / ("prices.csv.gz" if compressed else "prices.csv")
    data = text.encode()
    path.write_bytes(gzip.compress(data) if compressed else data)
    try:
        one = read_prices(path, as_of=REAL_DATA_AS_OF)
    except PriceFileError as exc:  # refused whole (an ambiguous date order): refused in blocks
        with pytest.raises(PriceFileError) as chunked_exc:
            read_prices(path, as_of=REAL_DATA_AS_OF, chunk_rows=block_rows)
        assert chunked_exc.value.reason == exc.reason
        return
    chunked = read_prices(path, as_of=REAL_DATA_AS_OF, chunk_rows=block_rows)
    _same(one, chunked)
    assert len(one[0]) + len(one[1]) == sum(1 for r in text.split("\n")[1:] if r.strip())


def test_month_first_evidence_in_the_last_block_decides_every_block(tmp_path):
    """``01/02/2013`` early on is read month-first because ``02/13/2013`` comes later."""
    text = (
        "date,ticker,close\n"
        + "".join(f"01/0{d}/2013,AAA,1{d}.0\n" for d in range(2, 5))
        + "02/13/2013,AAA,20.0\n"
    )
    path = tmp_path / "prices.csv"
    path.write_text(text)
    pieces = list(iter_price_chunks(path, rows=1, as_of=dt.date(2024, 1, 1)))
    valid = pd.concat([v for v, _ in pieces], ignore_index=True)
    assert list(valid["date"].dt.strftime("%Y-%m-%d")) == [
        "2013-01-02",
        "2013-01-03",
        "2013-01-04",
        "2013-02-13",
    ]


def test_duplicates_in_different_blocks_are_judged_together_and_lines_stay_the_files(tmp_path):
    text = (
        "date,ticker,close\n"
        "2013-01-02,AAA,10.0\n"
        "2013-01-03,AAA,11.0\n"
        "2013-01-04,AAA,12.0\n"
        "2013-01-02,AAA,10.5\n"  # conflicts with line 2, three blocks later
        "2013-01-03,AAA,11.0\n"  # an exact copy of line 3
    )
    path = tmp_path / "prices.csv"
    path.write_text(text)
    pieces = list(iter_price_chunks(path, rows=1, as_of=dt.date(2024, 1, 1)))
    valid = pd.concat([v for v, _ in pieces], ignore_index=True)
    rejected = pd.concat([r for _, r in pieces], ignore_index=True)
    assert sorted(valid["date"].dt.day) == [3, 4]
    rules = dict(zip(rejected["location"], rejected["rule"], strict=True))
    assert rules == {
        "line 2": "duplicate_conflict",
        "line 5": "duplicate_conflict",
        "line 6": "duplicate_exact",
    }
    assert "line 2, line 5" in " ".join(rejected["reason"])


def _gzip_bomb(path: Path, decompressed_mib: int) -> int:
    """A gzip of zeros, one small member per MiB (cheap to make); its decompressed size."""
    member = gzip.compress(b"0" * 2**20, compresslevel=9)
    path.write_bytes(member * decompressed_mib)
    return decompressed_mib * 2**20


def test_a_gzip_bomb_is_refused_by_name_without_decompressing_it_whole(tmp_path):
    path = tmp_path / "AAPL.csv.gz"
    total = _gzip_bomb(path, 1024)  # 1 GiB of zeros in about 1 MiB
    for read in (read_prices, peek_tickers, lambda p: list(iter_price_chunks(p))):
        with pytest.raises(PriceFileError) as exc:
            read(path)
        assert exc.value.path == str(path)
        assert "gzip bomb" in exc.value.reason and f"ratio {MAX_GZIP_RATIO}" in exc.value.reason
        seen = int(exc.value.reason.split("decompress to ")[1].split(" ")[0].replace(",", ""))
        assert GZIP_RATIO_FLOOR_BYTES < seen < total


def test_a_well_compressed_small_gzip_is_not_a_bomb(tmp_path):
    """Below the floor the ratio is not judged: a tiny file may compress very well."""
    path = tmp_path / "AAPL.csv.gz"
    text = "date,close\n" + "2013-01-02,1.0\n" * 1 + "\n" * 100_000
    path.write_bytes(gzip.compress(text.encode()))
    valid, rejected = read_prices(path, as_of=dt.date(2024, 1, 1))
    assert len(valid) == 1 and rejected.empty


def test_a_truncated_or_trailing_garbage_gzip_is_refused_by_name(tmp_path):
    data = gzip.compress(b"date,close\n2013-01-02,1.0\n" * 1000)
    for name, payload in (("cut.csv.gz", data[: len(data) // 2]), ("junk.csv.gz", data + b"xx")):
        path = tmp_path / name
        path.write_bytes(payload)
        with pytest.raises(PriceFileError, match="corrupt or truncated gzip") as exc:
            read_prices(path)
        assert exc.value.path == str(path)


def test_a_multi_member_gzip_reads_every_member(tmp_path):
    path = tmp_path / "AAPL.csv.gz"
    path.write_bytes(
        gzip.compress(b"date,close\n2013-01-02,1.0\n") + gzip.compress(b"2013-01-03,2.0\n")
    )
    valid, _ = read_prices(path, as_of=dt.date(2024, 1, 1))
    assert list(valid["close"]) == [1.0, 2.0]
    assert np.all(valid["ticker"].astype(str) == "AAPL")


def test_ingest_settings_apply_while_staging_and_are_restored_after(tmp_path: Path) -> None:
    import duckdb

    from quant_assets.ingest.memory import return_freed_memory
    from quant_assets.warehouse.staging import INGEST_THREADS, duckdb_memory_limit

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("SET threads = 2")
    con.execute("SET memory_limit = '1GiB'")
    names = ("memory_limit", "threads", "preserve_insertion_order")

    def settings_now() -> tuple:
        return tuple(con.execute(f"SELECT current_setting('{n}')").fetchone()[0] for n in names)

    before = settings_now()
    with duckdb_memory_limit(con, "256MiB"):
        limit, threads, order = settings_now()
        assert threads == INGEST_THREADS == 1
        assert order is False
        assert limit == "256.0 MiB"
        return_freed_memory()  # on any C library: no error, nothing changed
    assert settings_now() == before
