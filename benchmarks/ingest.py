"""Ingest benchmark: read + validate (+ upsert) of the 619,040-row S&P 500 file vs a bare read.

Usage: ``python benchmarks/ingest.py [--data PATH] [--fuzz N] [--big [GB]]``. Prints the times (best of N)
of a bare ``pandas.read_csv``, of ``read_prices`` (read + validate; goal <= 2x the bare read)
and of read + validate + upsert into an empty warehouse, the row accounting (valid + rejected
must equal the rows read) and what a second ingestion of the same file changed (goal:
nothing). ``--fuzz N`` then runs the reader's fuzz harness
(``quant_assets_tests/test_ingest/test_fuzz_files.py``) with N examples instead of the
suite's bounded count.

``--big`` (default 1 GB) instead writes a CSV of that size from the real rows (repeated with
dates shifted by whole weeks and tickers suffixed per copy, so that every row stays valid and
unique) into a temporary directory and ingests it THROUGH THE ASSET PATH in a child process:
what ``price_files`` calls (:func:`~quant_assets.ingest.batches.price_file_streams` and
:func:`~quant_assets.warehouse.staging.store_price_file_streams` under the warehouse's
default ``ingest_memory_limit``) on a real DuckDB file in the same temporary directory. It prints that child's
peak RSS (``ru_maxrss``) beside the peak RSS of a child that only runs a bare
``pandas.read_csv`` of the same file, and their ratio (goal: < 1 GB for a 1 GB file). The
temporary directory is deleted afterwards; run it with ``nice -n 10``, it takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from quant_assets.ingest import read_prices
from quant_assets.ingest.batches import price_file_streams
from quant_assets.resources.warehouse import Warehouse
from quant_assets.warehouse.prices import replace_rejections, upsert_prices
from quant_assets.warehouse.staging import INGEST_THREADS, store_price_file_streams

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO.parent / "shared" / "data" / "sp500_5yr_2013_2018.csv.gz"


def ingest(path: Path, warehouse: Warehouse):
    valid, rejected = read_prices(path)
    with warehouse.transaction() as con:
        counts = upsert_prices(con, valid)
        replace_rejections(con, str(path), rejected)
    return valid, rejected, counts


def best_of(n: int, fn) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(n):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def write_big_csv(source: Path, target: Path, size_bytes: int) -> tuple[int, list[str]]:
    """Write the real rows again and again (dates shifted by 300-week steps, tickers suffixed
    ``.k``: every row unique) until the file has ``size_bytes``; the rows and tickers."""
    frame = pd.read_csv(source, dtype={"ticker": str})
    dates = pd.to_datetime(frame["date"])
    rows, copy, tickers = 0, 0, set()
    with target.open("w") as out:
        out.write(",".join(frame.columns) + "\n")
        while target.stat().st_size < size_bytes:
            shifted = frame.assign(
                date=(dates - pd.Timedelta(weeks=300 * (copy % 20))).dt.strftime("%Y-%m-%d"),
                ticker=frame["ticker"] + f".{copy // 20}",
            )
            shifted.to_csv(out, header=False, index=False)
            out.flush()
            tickers |= set(shifted["ticker"].unique())
            rows += len(shifted)
            copy += 1
    return rows, sorted(tickers)


def _peak_rss() -> int:
    """This process's peak resident set size in bytes (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child_asset_path(csv: str, tickers_file: str, database: str) -> None:
    """Child process: ingest the file as ``price_files`` does; print counts and peak RSS."""
    scope = set(json.loads(Path(tickers_file).read_text()))
    warehouse = Warehouse(path=database)
    streams = price_file_streams([("raw/big_prices.csv", Path(csv))], scope)
    with warehouse.connect() as con:  # as price_files: each file commits on its own
        written = store_price_file_streams(
            con,
            streams,
            scope=sorted(scope),
            run_id="bench",
            memory_limit=warehouse.ingest_memory_limit or None,
        )
    if streams[0].error:
        raise SystemExit(streams[0].error)
    summary = streams[0].summary
    print(summary.rows_valid, summary.rows_rejected, written.counts.inserted, _peak_rss())


def child_pandas(csv: str) -> None:
    """Child process: a bare ``pandas.read_csv`` of the file; print rows and peak RSS."""
    print(len(pd.read_csv(csv)), _peak_rss())


def _child(*args: str) -> tuple[list[int], float]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(done.stderr[-4000:])
    return [int(x) for x in done.stdout.split()], time.perf_counter() - start


def big(source: Path, gigabytes: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path, tickers = Path(tmp) / "big_prices.csv", Path(tmp) / "tickers.json"
        start = time.perf_counter()
        rows, names = write_big_csv(source, path, int(gigabytes * 1e9))
        tickers.write_text(json.dumps(names))
        size = path.stat().st_size
        print(
            f"wrote {path.name}: {size / 1e9:.2f} GB, {rows:,} rows, {len(names):,} tickers "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
        (bare_rows, bare_peak), bare_s = _child("--child-pandas", str(path))
        print(f"pandas.read_csv (bare): {bare_rows:,} rows in {bare_s:.0f} s", flush=True)
        database = str(Path(tmp) / "warehouse.duckdb")
        (valid, rejected, inserted, peak), took = _child(
            "--child-asset-path", str(path), str(tickers), database
        )
        print(
            f"asset path (price_file_streams + store_price_file_streams, DuckDB file): "
            f"{valid:,} valid + {rejected:,} rejected, {inserted:,} inserted in {took:.0f} s"
        )
        limit = Warehouse.model_fields["ingest_memory_limit"].default
        print(
            f"peak RSS asset path     {peak / 1e9:6.2f} GB   (goal: < 1 GB; DuckDB memory_limit "
            f"{limit}, threads {INGEST_THREADS})"
        )
        print(f"peak RSS pandas.read_csv {bare_peak / 1e9:5.2f} GB")
        print(
            f"ratio asset path / pandas {peak / bare_peak:5.2f}; "
            f"asset path / file size {peak / size:5.2f} ({size / 1e9:.2f} GB file)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fuzz", type=int, default=0, help="fuzz examples to run after (0: none)")
    parser.add_argument(
        "--big",
        type=float,
        nargs="?",
        const=1.0,
        default=None,
        help="peak RSS of ingesting a CSV of this many GB through the asset path (default 1)",
    )
    parser.add_argument("--child-asset-path", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--child-pandas", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_asset_path:
        child_asset_path(*args.child_asset_path)
        return
    if args.child_pandas:
        child_pandas(args.child_pandas)
        return
    if not args.data.exists():
        raise SystemExit(f"benchmark data not found: {args.data} (needs ../shared/data)")
    if args.big is not None:
        big(args.data, args.big)
        return

    bare_s, frame = best_of(args.repeat, lambda: pd.read_csv(args.data))
    rows_in_file = len(frame)
    validate_s, _ = best_of(args.repeat, lambda: read_prices(args.data))
    with tempfile.TemporaryDirectory() as tmp:
        # Each timed ingestion starts from an empty warehouse: the first load is the costly one.
        timings = []
        for i in range(args.repeat):
            warehouse = Warehouse(path=f"{tmp}/first_{i}.duckdb")
            start = time.perf_counter()
            valid, rejected, first = ingest(args.data, warehouse)
            timings.append(time.perf_counter() - start)
        ours_s = min(timings)
        again_s, (_, _, second) = best_of(1, lambda: ingest(args.data, warehouse))

    print(f"file: {args.data.name} ({rows_in_file:,} rows)")
    print(f"pandas.read_csv (bare)            {bare_s:8.3f} s")
    print(f"read + validate (read_prices)     {validate_s:8.3f} s")
    print(f"ratio read_prices / bare          {validate_s / bare_s:8.2f}   (goal <= 2)")
    print(f"read + validate + upsert (ours)   {ours_s:8.3f} s")
    print(f"ratio ours / bare                 {ours_s / bare_s:8.2f}   (goal <= 5)")
    print(f"second ingestion of the same file {again_s:8.3f} s")
    print(
        f"rows: valid {len(valid):,} + rejected {len(rejected):,} = {len(valid) + len(rejected):,}"
        f" (file has {rows_in_file:,})"
    )
    print(f"first ingestion:  {first}")
    print(f"second ingestion: {second} (goal: inserted=0, updated=0)")
    if args.fuzz:
        harness = REPO / "quant_assets_tests" / "test_ingest" / "test_fuzz_files.py"
        env = {**os.environ, "QUANT_ASSETS_FUZZ_EXAMPLES": str(args.fuzz)}
        print(f"fuzz harness, {args.fuzz} examples:", flush=True)
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", str(harness)], env=env)
        if done.returncode:
            raise SystemExit(done.returncode)


if __name__ == "__main__":
    main()
