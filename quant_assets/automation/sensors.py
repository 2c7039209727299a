"""The raw-folder sensor: new tickers become partitions, new or changed files become runs.

A file is identified by its path and content hash. The cursor remembers size, mtime and hash,
so an untouched file costs one ``stat``; a touched file is hashed, and only a new hash (one the
warehouse's ``raw_files`` manifest does not hold either) requests a run. Each run reads just
that file, for its tickers. Tickers the warehouse already holds but the instance does not know
(a new instance on an existing data directory) become partitions again, with no run.

The decisions are plain functions (:func:`scan_raw_folder`, :func:`new_partition_keys`,
:func:`file_run_requests`) that the sensor body calls in order.
"""

# No `from __future__ import annotations` here: Dagster reads these annotations at runtime.
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

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
from quant_assets.warehouse.prices import ingested_hashes, instrument_tickers

__all__ = [
    "RANGE_END",
    "RANGE_START",
    "ChangedFile",
    "RawFolderScan",
    "contiguous_blocks",
    "file_run_requests",
    "ingest_price_files_job",
    "new_partition_keys",
    "raw_files_sensor",
    "scan_raw_folder",
]

ingest_price_files_job = define_asset_job(
    "ingest_price_files",
    selection=[price_files, prices],
    description="Read price files into the warehouse for a range of ticker partitions.",
)


@dataclass(frozen=True)
class ChangedFile:
    """A raw file whose content the warehouse has not ingested: its path, hash and tickers."""

    relative: str
    sha256: str
    tickers: list[str]


@dataclass
class RawFolderScan:
    """One look at the raw folder: files to ingest, problems found, the cursor for next time."""

    changed: list[ChangedFile] = field(default_factory=list)
    cursor: dict[str, list] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


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


def scan_raw_folder(
    raw_files: RawFileStore, cursor: dict[str, list], manifest: dict[str, str]
) -> RawFolderScan:
    """Which files changed since ``cursor`` and are not in the ``{path: sha256}`` manifest.

    An untouched file (same size and mtime) costs one ``stat``; a touched one is hashed. A
    file that cannot be read (whatever the reader raises: a damaged gzip, a JSON payload that
    is no price data, a file removed mid-scan), or tickers not matching the ticker pattern,
    are reported in ``errors`` / ``warnings`` naming the file and never stop the other files.
    """
    scan = RawFolderScan()
    for path in raw_files.list_files():
        rel = raw_files.relative(path)
        try:
            _scan_file(path, rel, cursor.get(rel), manifest, scan)
        except Exception as exc:  # noqa: BLE001 (one file's failure never ends the tick)
            # Whatever a reader raises, the file is named and the other files are scanned.
            scan.errors.append(f"cannot read raw/{rel}: {_describe(exc)}")
    return scan


def _scan_file(
    path: Path, rel: str, previous: list | None, manifest: dict[str, str], scan: RawFolderScan
) -> None:
    stat = path.stat()
    if previous and previous[:2] == [stat.st_size, stat.st_mtime_ns]:
        scan.cursor[rel] = previous
        return
    sha = file_sha256(path)
    # Remembered before reading: a file that cannot be read is reported once, not every tick.
    scan.cursor[rel] = [stat.st_size, stat.st_mtime_ns, sha]
    if (previous and previous[2] == sha) or manifest.get(f"raw/{rel}") == sha:
        return
    tickers = peek_tickers(path)
    good = [t for t in tickers if re.match(TICKER_PATTERN, t)]
    if len(good) < len(tickers):
        bad = sorted(set(tickers) - set(good))[:10]
        scan.warnings.append(f"raw/{rel}: refused tickers not matching {TICKER_PATTERN}: {bad}")
    if good:
        scan.changed.append(ChangedFile(rel, sha, good))


def _describe(exc: Exception) -> str:
    # A reader's own errors already say what is wrong; anything else also says what it was.
    return str(exc) if isinstance(exc, UnsupportedFileError) else f"{type(exc).__name__}: {exc}"


def new_partition_keys(
    changed: list[ChangedFile], stored_tickers: list[str], known: list[str]
) -> list[str]:
    """Tickers to add as partitions: those of changed files and those already in the warehouse.

    Stored tickers count too: a new instance (say, after moving to PostgreSQL storage) on an
    existing data directory gets their partitions back without re-ingesting anything.
    """
    wanted = {t for f in changed for t in f.tickers} | set(stored_tickers)
    return sorted(wanted - set(known))


def file_run_requests(changed: list[ChangedFile], order: list[str]) -> list[RunRequest]:
    """One run per changed file and contiguous block of its tickers in partition ``order``."""
    return [
        RunRequest(
            run_key=f"{f.relative}@{f.sha256[:16]}#{i}",
            run_config={"ops": {"price_files": {"config": {"paths": [f.relative]}}}},
            tags={RANGE_START: first, RANGE_END: last, "quant_assets/raw_file": f.relative},
        )
        for f in changed
        for i, (first, last) in enumerate(contiguous_blocks(f.tickers, order))
    ]


def _warehouse_state(warehouse: Warehouse) -> tuple[dict[str, str], list[str]]:
    """The file manifest ``{path: sha256}`` and the tickers ``prices`` holds.

    Both empty while a run holds the write lock: the cursor alone decides that tick, and the
    next one catches up.
    """
    try:
        with warehouse.connect(read_only=True, wait=False) as con:
            return ingested_hashes(con), instrument_tickers(con)
    except duckdb.IOException:
        return {}, []


def _report(log: logging.Logger, scan: RawFolderScan) -> None:
    for message in scan.errors:
        log.error(message)
    for message in scan.warnings:
        log.warning(message)


@sensor(
    job=ingest_price_files_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Watches data/raw: adds ticker partitions and ingests new or changed files.",
)
def raw_files_sensor(
    context: SensorEvaluationContext, raw_files: RawFileStore, warehouse: Warehouse
) -> SensorResult:
    manifest, stored_tickers = _warehouse_state(warehouse)
    scan = scan_raw_folder(raw_files, json.loads(context.cursor or "{}"), manifest)
    _report(context.log, scan)
    known = context.instance.get_dynamic_partitions(ticker_partitions.name)
    new_keys = new_partition_keys(scan.changed, stored_tickers, known)
    return SensorResult(
        run_requests=file_run_requests(scan.changed, list(known) + new_keys),
        dynamic_partitions_requests=(
            [ticker_partitions.build_add_request(new_keys)] if new_keys else []
        ),
        cursor=json.dumps(scan.cursor, sort_keys=True),
    )
