"""``python -m quant_assets_tests.test_faults.killable_ingest MODE ROOT FILE``: a write to kill.

Ingests ``ROOT/raw/FILE`` into ``ROOT/warehouse.duckdb`` the way ``price_files`` does (read,
validate, then upsert, quarantine and manifest in one
:meth:`~quant_assets.resources.warehouse.Warehouse.transaction`) and prints a marker line at
the moment the parent test waits for, so that the parent can ``SIGKILL`` this process there:

``before_commit``
    Marker ``written`` after every statement of the transaction, before ``COMMIT``: every row
    has gone to DuckDB (a large insert is already in the database file) but nothing is
    committed. The process then waits on stdin until it is killed.
``mid_commit``
    Marker ``committing`` just before ``COMMIT`` (and the checkpoint DuckDB runs after a large
    commit), so the kill lands inside it or just after it.

Any other mode writes without a marker. Every mode that is not killed prints ``committed``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from quant_assets.ingest import read_raw, validate_prices
from quant_assets.resources.raw_files import RawFileStore, file_sha256
from quant_assets.resources.warehouse import Warehouse
from quant_assets.warehouse.prices import record_raw_file, replace_rejections, upsert_prices


def say(marker: str) -> None:
    print(marker, flush=True)


def ingest(root: Path, name: str, mode: str = "complete") -> None:
    """One file into the warehouse in one transaction, with the marker of ``mode``."""
    store = RawFileStore(root=str(root / "raw"))
    path = store.resolve(name)
    raw = read_raw(path, source=store.source_name(path))
    valid, rejected = validate_prices(raw)
    with Warehouse(path=str(root / "warehouse.duckdb")).transaction() as con:
        upsert_prices(con, valid)
        replace_rejections(con, raw.source, rejected)
        record_raw_file(
            con,
            path=raw.source,
            sha256=file_sha256(path),
            size_bytes=path.stat().st_size,
            layout=raw.layout,
            rows_read=len(raw),
            rows_valid=len(valid),
            rows_rejected=len(rejected),
            tickers=sorted(set(valid["ticker"])),
        )
        if mode == "before_commit":
            say("written")
            sys.stdin.readline()  # the parent kills us here
        elif mode == "mid_commit":
            say("committing")
    say("committed")


if __name__ == "__main__":
    ingest(Path(sys.argv[2]), sys.argv[3], sys.argv[1])
