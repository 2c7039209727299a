"""Dagster's event log for a single-run backfill: Dagster's consolidated SQLite store vs ours.

``make run`` materializes factors, predictions and weights over decades of trading days, one
materialization event per day. This times a do-nothing asset backfilled over the same number of
days on two instances that differ only in ``event_log_storage``: Dagster's
``ConsolidatedSqliteEventLogStorage`` and ``quant_assets.dagster_instance.
PooledSqliteEventLogStorage`` (``dagster_home/dagster.yaml``), and prints the ratio. Both record
the same partitions (checked).

    python benchmarks/event_log.py [--days 2000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import dagster as dg

REPO = Path(__file__).resolve().parents[1]
STORES = {
    "dagster ConsolidatedSqliteEventLogStorage": (
        "dagster._core.storage.event_log",
        "ConsolidatedSqliteEventLogStorage",
    ),
    "quant_assets PooledSqliteEventLogStorage": (
        "quant_assets.dagster_instance",
        "PooledSqliteEventLogStorage",
    ),
}


def backfill_seconds(module: str, cls: str, days: int) -> tuple[float, int]:
    partitions = dg.TimeWindowPartitionsDefinition(
        cron_schedule="0 0 * * 1-5", fmt="%Y-%m-%d", start="1990-01-01"
    )
    keys = partitions.get_partition_keys()[:days]

    @dg.asset(partitions_def=partitions, backfill_policy=dg.BackfillPolicy.single_run())
    def nothing(context):
        return dg.MaterializeResult(metadata={"days": len(context.partition_keys)})

    home = Path(tempfile.mkdtemp())
    config = (REPO / "dagster_home" / "dagster.yaml").read_text()
    config = config.replace(
        "module: quant_assets.dagster_instance\n  class: PooledSqliteEventLogStorage",
        f"module: {module}\n  class: {cls}",
    )
    (home / "dagster.yaml").write_text(config)
    os.environ["DAGSTER_HOME"] = str(home)
    with dg.DagsterInstance.get() as instance:
        started = time.perf_counter()
        dg.materialize(
            [nothing],
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": keys[0],
                "dagster/asset_partition_range_end": keys[-1],
            },
        )
        seconds = time.perf_counter() - started
        recorded = len(instance.get_materialized_partitions(nothing.key))
    return seconds, recorded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=2000)
    days = parser.parse_args().days
    # As make run: one planned event per asset for a single-run backfill (Makefile).
    os.environ["DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"] = "1"
    times = {}
    for name, (module, cls) in STORES.items():
        seconds, recorded = backfill_seconds(module, cls, days)
        assert recorded == days, (name, recorded)
        times[name] = seconds
        print(f"{name:<45} {days} days: {seconds:6.2f} s ({1000 * seconds / days:.2f} ms/day)")
    base, ours = times.values()
    print(f"ratio dagster / quant_assets: {base / ours:.2f}x")


if __name__ == "__main__":
    main()
