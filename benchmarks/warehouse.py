"""Warehouse benchmark: upsert/read throughput for one and two writers, and the features view.

Usage: ``python benchmarks/warehouse.py [--data DIR] [--tickers 500] [--years 20]``.

Backends: ``duckdb`` (one file; a second writer waits for the lock), ``ducklake`` with a
PostgreSQL catalog (``pgserver``, a throwaway cluster) and Parquet files in a temp folder.

1. Upsert: the real bars of ``sp500_5yr_2013_2018.csv.gz`` (505 tickers x 5 years), one
   transaction per calendar year (a date partition). One writer process upserts every year;
   then two processes upsert half of the years each, started together. Rows/s of the wall time;
   the scaling is two writers' rows/s over one's (aim on DuckLake: >= 1.6x; a 2-core machine
   shared with other work caps it).
2. Read: ``SELECT * FROM prices`` into pandas, rows/s.
3. The ``features`` view at ``--tickers`` x ``--years``: synthesised from real rows, said so:
   the 50 long-history stocks of ``us_stocks_long_1962_2017.csv.gz`` over their last ``--years``
   years, repeated under suffixed tickers (AAPL, AAPL_1, ...) until ``--tickers``, each copy's
   closes scaled by a constant; ``factor_values`` holds 5 return factors (1/5/21/63/252 days)
   computed from those closes in SQL. Timed: ``SELECT * FROM features`` for every row, and for
   one year.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from quant_assets.ingest import read_prices  # noqa: E402
from quant_assets.resources.warehouse import Warehouse  # noqa: E402
from quant_assets.warehouse.factors import refresh_features_view  # noqa: E402
from quant_assets.warehouse.prices import upsert_prices  # noqa: E402

RETURN_LAGS = (1, 5, 21, 63, 252)


def _writer(config: dict, parts: list[pd.DataFrame], barrier) -> None:
    warehouse = Warehouse(**config)
    with warehouse.connect():
        pass
    barrier.wait()
    for part in parts:
        with warehouse.transaction() as con:
            upsert_prices(con, part)


def _timed_writers(config: dict, groups: list[list[pd.DataFrame]]) -> float:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(groups) + 1)
    procs = [context.Process(target=_writer, args=(config, g, barrier)) for g in groups]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.perf_counter()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"a writer failed (exit {p.exitcode})")
    return time.perf_counter() - start


def _config(backend: str, root: Path, postgres_url: str | None, name: str) -> dict:
    if backend == "duckdb":
        return {"backend": "duckdb", "path": str(root / f"{name}.duckdb")}
    import psycopg2

    con = psycopg2.connect(postgres_url)
    try:
        con.autocommit = True
        con.cursor().execute(f"CREATE DATABASE {name}")
    finally:
        con.close()
    catalog = postgres_url.replace("/postgres?", f"/{name}?")
    return {"backend": "ducklake", "catalog": catalog, "data_path": str(root / f"{name}_files")}


def bench_writers(bars: pd.DataFrame, root: Path, postgres_url: str) -> None:
    years = [part for _, part in bars.groupby(bars["date"].dt.year)]
    print(f"upsert: {len(bars):,} real rows in {len(years)} yearly partitions")
    for backend in ("duckdb", "ducklake"):
        one = _timed_writers(_config(backend, root, postgres_url, f"{backend}_one"), [years])
        two_config = _config(backend, root, postgres_url, f"{backend}_two")
        two = _timed_writers(two_config, [years[0::2], years[1::2]])
        warehouse = Warehouse(**two_config)
        start = time.perf_counter()
        with warehouse.connect(read_only=True) as con:
            read = con.execute("SELECT * FROM prices").df()
        read_s = time.perf_counter() - start
        assert len(read) == len(bars), (len(read), len(bars))
        print(
            f"  {backend:8s} one writer {len(bars) / one:>10,.0f} rows/s | two writers "
            f"{len(bars) / two:>10,.0f} rows/s | scaling {one / two:.2f}x | "
            f"read {len(read) / read_s:>12,.0f} rows/s"
        )


def bench_features(data: Path, root: Path, tickers: int, n_years: int, postgres_url: str) -> None:
    long, _ = read_prices(data / "us_stocks_long_1962_2017.csv.gz")
    long = long[long["date"] >= long["date"].max() - pd.DateOffset(years=n_years)]
    base = long[["ticker", "date", "close"]].astype({"ticker": str})
    names = sorted(base["ticker"].unique())
    copies = []
    for i in range(-(-tickers // len(names))):
        copy = base.assign(
            ticker=base["ticker"] + ("" if i == 0 else f"_{i}"), close=base["close"] * (1 + i / 100)
        )
        copies.append(copy)
    panel = pd.concat(copies, ignore_index=True)
    keep = sorted(panel["ticker"].unique())[:tickers]
    panel = panel[panel["ticker"].isin(keep)]
    factors = [f"ret_{lag}" for lag in RETURN_LAGS]
    print(
        f"features view: {panel['ticker'].nunique()} tickers x {n_years} years "
        f"({len(panel):,} ticker-days, synthesised by repeating {len(names)} real stocks), "
        f"{len(factors)} factors"
    )
    for backend in ("duckdb", "ducklake"):
        warehouse = Warehouse(**_config(backend, root, postgres_url, f"{backend}_features"))
        with warehouse.transaction() as con:
            con.register("panel", panel)
            columns = ", ".join(
                f"close / lag(close, {lag}) OVER w - 1 AS ret_{lag}" for lag in RETURN_LAGS
            )
            con.execute(
                f"CREATE TEMP TABLE wide AS SELECT ticker, CAST(date AS DATE) AS date, {columns} "
                "FROM panel WINDOW w AS (PARTITION BY ticker ORDER BY date)"
            )
            con.execute(
                "INSERT INTO factor_values SELECT ticker, date, factor, value FROM "
                f"(UNPIVOT wide ON {', '.join(factors)} INTO NAME factor VALUE value) "
                "WHERE isfinite(value)"
            )
            refresh_features_view(con, factors)
        with warehouse.connect(read_only=True) as con:
            values = con.execute("SELECT count(*) FROM factor_values").fetchone()[0]
            start = time.perf_counter()
            full = con.execute("SELECT * FROM features").df()
            full_s = time.perf_counter() - start
            start = time.perf_counter()
            year = con.execute(
                "SELECT * FROM features WHERE date >= (SELECT max(date) - INTERVAL 1 YEAR "
                "FROM factor_values)"
            ).df()
            year_s = time.perf_counter() - start
        print(
            f"  {backend:8s} {values:,} factor values: all {len(full):,} rows {full_s:.2f} s | "
            f"last year {len(year):,} rows {year_s:.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    repo = Path(__file__).resolve().parents[1]
    parser.add_argument("--data", type=Path, default=repo.parent / "shared" / "data")
    parser.add_argument("--tickers", type=int, default=500)
    parser.add_argument("--years", type=int, default=20)
    args = parser.parse_args()
    import pgserver

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = pgserver.get_server(root / "pgdata", cleanup_mode="stop")
        try:
            bars, _ = read_prices(args.data / "sp500_5yr_2013_2018.csv.gz")
            bench_writers(bars, root, server.get_uri())
            bench_features(args.data, root, args.tickers, args.years, server.get_uri())
        finally:
            server.cleanup()


if __name__ == "__main__":
    main()
