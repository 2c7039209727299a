"""Four ticker partitions materialized at once, each step in its own process, one DuckDB file.

Four runs of ``price_files`` (one ticker partition each) start together on an on-disk Dagster
instance with the multiprocess executor, so four step processes write to the same warehouse
file. No concurrency pool limits them (the temp instance has no ``concurrency`` section): this
is the worst case that the ``warehouse`` pool normally prevents, and only the warehouse's lock
retry with backoff (:class:`quant_assets.resources.warehouse.Warehouse`) stands between the
runs and DuckDB's "Could not set lock" error.

To make the collision certain rather than likely, another process holds the write lock until
every step process has reported backing off from it (see
:mod:`quant_assets_tests.test_faults.multiprocess_job`); then the lock is released and the four
steps drain through it one after another.

The retry loop itself (wait, give up after ``lock_timeout_s``, ``wait=False``) is unit-tested in
``quant_assets_tests/test_ingest/test_warehouse_tables.py::test_connect_*``.
"""

from __future__ import annotations

import textwrap
import threading

import duckdb
import pytest
from dagster import DagsterEventType, DagsterInstance, execute_job, reconstructable

from quant_assets.ingest import read_prices
from quant_assets.partitions import RANGE_END, RANGE_START, ticker_partitions
from quant_assets.resources.warehouse import Warehouse
from quant_assets_tests.test_faults.multiprocess_job import (
    LOCK_WAITS_SUFFIX,
    price_files_multiprocess,
)
from quant_assets_tests.test_faults.processes import DEADLINE_S, WarehouseLockHolder, wait_until

TICKERS = ["AAPL", "AOS", "DHR", "MSFT"]
PRELOAD = [
    "quant_assets_tests.test_faults.multiprocess_job",
    # What a step process needs besides the job: instance storage and step execution.
    "dagster._core.storage.runs.sqlite.sqlite_run_storage",
    "dagster._core.storage.event_log.sqlite.sqlite_event_log",
    "dagster._core.storage.schedules.sqlite.sqlite_schedule_storage",
    "dagster._core.storage.local_compute_log_manager",
    "dagster._core.execution.plan.execute_step",
]


@pytest.fixture
def instance(tmp_path):
    """SQLite run/event storage on disk. Storage only: other instance settings make Dagster
    reconfigure Python logging per run, which is not safe for runs started from threads."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        textwrap.dedent(
            f"""
            storage:
              sqlite:
                base_dir: {home}
            """
        )
    )
    with DagsterInstance.from_config(str(home)) as instance:
        yield instance


@pytest.fixture
def warehouse_path(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with Warehouse(path=str(path)).connect():
        pass  # the schema exists before another process takes the lock
    return path


def _run_config(tmp_path, warehouse_path, ticker: str) -> dict:
    """What the raw-file sensor requests for one ticker's file, with resources in tmp_path."""
    return {
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        "ops": {"price_files": {"config": {"paths": [f"{ticker}_data.csv"]}}},
        "resources": {
            "warehouse": {"config": {"path": str(warehouse_path), "lock_timeout_s": DEADLINE_S}},
            "raw_files": {"config": {"root": str(tmp_path / "raw")}},
        },
        # Step processes fork from one server that has imported the job's modules once.
        "execution": {"config": {"start_method": {"forkserver": {"preload_modules": PRELOAD}}}},
    }


def _stored_dates(warehouse_path) -> dict[str, set]:
    con = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        rows = con.execute("SELECT ticker, date FROM prices").fetchall()
    finally:
        con.close()
    stored: dict[str, set] = {}
    for ticker, date in rows:
        stored.setdefault(ticker, set()).add(date)
    return stored


def test_four_partitions_at_once_wait_for_the_lock_and_lose_no_rows(
    tmp_path, ticker_files, instance, warehouse_path
):
    files = ticker_files(tmp_path / "raw", TICKERS)
    expected = {t: set(read_prices(p)[0]["date"].dt.date) for t, p in files.items()}
    instance.add_dynamic_partitions(ticker_partitions.name, TICKERS)
    lock_waits = tmp_path / f"warehouse.duckdb{LOCK_WAITS_SUFFIX}"
    lock_waits.touch()
    job = reconstructable(price_files_multiprocess)
    results = {}

    def launch(ticker: str) -> None:
        results[ticker] = execute_job(
            job,
            instance=instance,
            run_config=_run_config(tmp_path, warehouse_path, ticker),
            tags={RANGE_START: ticker, RANGE_END: ticker},
        )

    holder = WarehouseLockHolder(warehouse_path, tmp_path / "holder.log")
    threads = [threading.Thread(target=launch, args=(t,)) for t in TICKERS]
    try:
        for thread in threads:
            thread.start()
        wait_until(
            lambda: len(set(lock_waits.read_text().split())) == len(TICKERS),
            "all four step processes to back off from the held lock",
        )
    finally:
        holder.release()
        for thread in threads:
            thread.join(DEADLINE_S)
        holder.stop()

    assert {t: r.success for t, r in results.items()} == dict.fromkeys(TICKERS, True)
    for result in results.values():
        assert instance.all_logs(result.run_id, of_type=DagsterEventType.STEP_FAILURE) == []
    assert _stored_dates(warehouse_path) == expected
