"""The raw-folder sensor: new tickers become partitions, new or changed files become runs.

A file is identified by its path and content hash. The cursor remembers size, mtime and hash,
so an untouched file costs one ``stat``; a touched file is hashed, and only a new hash (one the
warehouse's ``raw_files`` manifest does not hold either) requests a run. Each run reads just
that file, for its tickers. Tickers the warehouse already holds but the instance does not know
(a new instance on an existing data directory) become partitions again, with no run.
"""

# No `from __future__ import annotations` here: Dagster reads these annotations at runtime.
import json
import re
from dataclasses import dataclass

import duckdb
from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    define_asset_job,
    sensor,
)

from quant_assets.assets.ingest import price_files, prices
from quant_assets.ingest import TICKER_PATTERN, UnsupportedFileError, peek_tickers
from quant_assets.partitions import RANGE_END, RANGE_START, ticker_partitions
from quant_assets.resources.raw_files import RawFileStore, file_sha256
from quant_assets.resources.warehouse import Warehouse
from quant_assets.warehouse.prices import ingested_hashes

ingest_price_files_job = define_asset_job(
    "ingest_price_files",
    selection=[price_files, prices],
    description="Read price files into the warehouse for a range of ticker partitions.",
)


@dataclass(frozen=True)
class ChangedFile:
    relative: str
    sha256: str
    tickers: list[str]


def contiguous_blocks(tickers: list[str], order: list[str]) -> list[tuple[str, str]]:
    """Group tickers into runs of neighbours in the partition order, as (first, last) keys.

    A run covers a contiguous range of dynamic partitions; a file's tickers are usually one
    block (they were added together), but a changed file may need several.
    """
    position = {key: i for i, key in enumerate(order)}
    ranks = sorted(position[t] for t in tickers)
    blocks, start = [], ranks[0]
    for prev, cur in zip(ranks, ranks[1:], strict=False):
        if cur != prev + 1:
            blocks.append((order[start], order[prev]))
            start = cur
    blocks.append((order[start], order[ranks[-1]]))
    return blocks


def _warehouse_state(warehouse: Warehouse) -> tuple[dict[str, str], list[str]]:
    """The file manifest ``{path: sha256}`` and the tickers ``prices`` holds.

    Both empty while a run holds the write lock: the cursor alone decides that tick, and the
    next one catches up.
    """
    try:
        with warehouse.connect(read_only=True, wait=False) as con:
            stored = [t for (t,) in con.execute("SELECT ticker FROM instruments").fetchall()]
            return ingested_hashes(con), stored
    except duckdb.IOException:
        return {}, []


@sensor(
    job=ingest_price_files_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Watches data/raw: adds ticker partitions and ingests new or changed files.",
)
def raw_files_sensor(
    context: SensorEvaluationContext, raw_files: RawFileStore, warehouse: Warehouse
) -> SensorResult:
    cursor: dict[str, list] = json.loads(context.cursor) if context.cursor else {}
    manifest, stored_tickers = _warehouse_state(warehouse)
    next_cursor: dict[str, list] = {}
    changed: list[ChangedFile] = []
    for path in raw_files.list_files():
        rel = raw_files.relative(path)
        stat = path.stat()
        previous = cursor.get(rel)
        if previous and previous[:2] == [stat.st_size, stat.st_mtime_ns]:
            next_cursor[rel] = previous
            continue
        sha = file_sha256(path)
        next_cursor[rel] = [stat.st_size, stat.st_mtime_ns, sha]
        if (previous and previous[2] == sha) or manifest.get(f"raw/{rel}") == sha:
            continue
        try:
            tickers = peek_tickers(path)
        except (UnsupportedFileError, ValueError) as exc:
            context.log.error(f"cannot read raw/{rel}: {exc}")
            continue
        good = [t for t in tickers if re.match(TICKER_PATTERN, t)]
        if len(good) < len(tickers):
            bad = sorted(set(tickers) - set(good))[:10]
            context.log.warning(f"raw/{rel}: refused tickers not matching {TICKER_PATTERN}: {bad}")
        if good:
            changed.append(ChangedFile(rel, sha, good))

    known = context.instance.get_dynamic_partitions(ticker_partitions.name)
    known_set = set(known)
    # Tickers already in the warehouse count too: a new instance (say, after moving to
    # PostgreSQL storage) on an existing data directory gets their partitions back without
    # re-ingesting anything.
    new_tickers = sorted(
        ({t for f in changed for t in f.tickers} | set(stored_tickers)) - known_set
    )
    order = list(known) + new_tickers
    run_requests = []
    for f in changed:
        for i, (first, last) in enumerate(contiguous_blocks(f.tickers, order)):
            run_requests.append(
                RunRequest(
                    run_key=f"{f.relative}@{f.sha256[:16]}#{i}",
                    run_config={"ops": {"price_files": {"config": {"paths": [f.relative]}}}},
                    tags={RANGE_START: first, RANGE_END: last, "quant_assets/raw_file": f.relative},
                )
            )
    return SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=(
            [ticker_partitions.build_add_request(new_tickers)] if new_tickers else []
        ),
        cursor=json.dumps(next_cursor, sort_keys=True),
    )
