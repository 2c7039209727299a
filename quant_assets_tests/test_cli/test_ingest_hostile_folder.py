"""``quant-assets ingest`` over a folder of good and hostile price files, built from real rows.

The contract (``quant_assets.cli.ingest``): every good file lands, one line per file, each line
starting with the file's path, exit 1 when any file was refused, and no exception escapes
without the file named.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from quant_assets.cli import app
from quant_assets_tests.test_cli.test_commands import home  # noqa: F401 (fixture)

GOOD = ("AAPL", "MSFT", "ABT", "ABBV")
CONFLICTING_DAYS = 5
NON_FINITE_ROWS = (10, 20)


@pytest.fixture(scope="module")
def real_rows(shared_data) -> dict[str, pd.DataFrame]:
    source = pd.read_csv(
        shared_data / "sp500_5yr_2013_2018.csv.gz", dtype=str, keep_default_na=False
    )
    return {t: source[source["ticker"] == t].reset_index(drop=True) for t in (*GOOD, "XOM", "GE")}


def _csv(rows: pd.DataFrame, sep: str = ",") -> str:
    return rows.drop(columns="ticker").to_csv(index=False, sep=sep)


def _write_folder(folder: Path, real: dict[str, pd.DataFrame]) -> dict[str, Path]:
    """The good files (plain, UTF-16, ``;`` + decimal comma, some non-finite values, a second
    source conflicting with AAPL on a few days) and the hostile ones; their paths by role."""
    folder.mkdir(parents=True)
    files = {
        role: folder / name
        for role, name in {
            "plain": "AAPL_data.csv",
            "utf16": "MSFT_data.csv",
            "decimal_comma": "ABT_data.csv",
            "non_finite": "ABBV_data.csv",
            "second_source": "export.csv",
            "html": "XOM_data.csv",
            "bomb": "GE_data.csv.gz",
            "duplicate_headers": "duplicate_headers.csv",
            "ambiguous_dates": "GE_data.csv",
            "empty": "empty.csv",
        }.items()
    }
    files["plain"].write_text(_csv(real["AAPL"]))
    files["utf16"].write_bytes(_csv(real["MSFT"]).encode("utf-16"))  # with its BOM
    comma = real["ABT"].copy()
    for column in ("open", "high", "low", "close"):
        comma[column] = comma[column].str.replace(".", ",", regex=False)
    files["decimal_comma"].write_text(_csv(comma, sep=";"))
    bad = real["ABBV"].copy()
    bad.loc[NON_FINITE_ROWS[0], "close"] = "inf"
    bad.loc[NON_FINITE_ROWS[1], "volume"] = "1e999"
    files["non_finite"].write_text(_csv(bad))
    other = real["AAPL"].iloc[100 : 100 + CONFLICTING_DAYS].copy()
    for column in ("open", "high", "low", "close"):  # 1 % higher: a consistent, other bar
        other[column] = (other[column].astype(float) * 1.01).map("{:.4f}".format)
    files["second_source"].write_text(other.to_csv(index=False))
    files["html"].write_text(
        "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n"
        "<body><h1>Not Found</h1><p>The requested URL was not found.</p></body></html>\n"
    )
    with gzip.open(files["bomb"], "wb", compresslevel=6) as out:  # ~128 MiB of zeros
        out.write(b"date,open,high,low,close,volume\n")
        zeros = b"0" * 2**24
        for _ in range(8):
            out.write(zeros)
    dup = real["GE"].iloc[:50].drop(columns="ticker")
    files["duplicate_headers"].write_text(
        "date,ticker,open,high,low,close,close,volume\n"
        + "\n".join(
            f"{r.date},GE,{r.open},{r.high},{r.low},{r.close},{r.close},{r.volume}"
            for r in dup.itertuples()
        )
        + "\n"
    )
    # US dates whose day is never above 12: as well read day-first; the reader must not guess.
    ge = real["GE"][pd.to_datetime(real["GE"]["date"]).dt.day <= 12].copy()
    ge["date"] = pd.to_datetime(ge["date"]).dt.strftime("%m/%d/%Y")
    files["ambiguous_dates"].write_text(_csv(ge))
    files["empty"].write_bytes(b"")
    return files


def _prices(data: Path) -> pd.DataFrame:
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute("SELECT ticker, strftime(date, '%Y-%m-%d') AS date FROM prices").df()
    finally:
        con.close()


def test_ingest_lands_every_good_file_of_a_hostile_folder_and_names_every_refused_one(
    home,  # noqa: F811
    real_rows,
):
    files = _write_folder(home / "data" / "raw" / "drop", real_rows)

    result = CliRunner().invoke(app, ["ingest", str(home / "data" / "raw" / "drop")])

    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    lines = result.stdout.splitlines()
    assert len(lines) == len(files), result.output  # one line per file
    by_file = {}
    for line in lines:
        shown = next(p for p in files.values() if line.startswith(f"{p}: "))
        by_file[shown] = line[len(str(shown)) + 2 :]
    assert set(by_file) == set(files.values())
    good = ("plain", "utf16", "decimal_comma", "non_finite", "second_source")
    hostile = ("html", "bomb", "duplicate_headers", "ambiguous_dates", "empty")
    for role in good:
        assert by_file[files[role]].startswith("valid "), (role, by_file[files[role]])
    assert by_file[files["non_finite"]] == f"valid {1259 - 2}, rejected 2"
    assert by_file[files["second_source"]] == f"valid {CONFLICTING_DAYS}, rejected 0"
    for role in hostile:
        assert by_file[files[role]].startswith("refused: "), (role, by_file[files[role]])
    assert result.exit_code == 1  # a file was refused; the others landed all the same

    stored = _prices(home / "data")
    stored_dates = {t: set(g["date"]) for t, g in stored.groupby("ticker")}
    assert set(stored_dates) == set(GOOD)  # nothing of a refused file
    conflicted = set(real_rows["AAPL"]["date"].iloc[100 : 100 + CONFLICTING_DAYS])
    assert stored_dates["AAPL"] == set(real_rows["AAPL"]["date"]) - conflicted
    assert stored_dates["MSFT"] == set(real_rows["MSFT"]["date"])
    assert stored_dates["ABT"] == set(real_rows["ABT"]["date"])
    non_finite_days = set(real_rows["ABBV"]["date"].iloc[list(NON_FINITE_ROWS)])
    assert stored_dates["ABBV"] == set(real_rows["ABBV"]["date"]) - non_finite_days
