"""The instance's event log store (``dagster_home/dagster.yaml``): Dagster's consolidated SQLite
store with one pooled engine per process; it must record exactly what Dagster's own store does."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import dagster as dg
import pytest

from quant_assets.dagster_instance import PooledSqliteEventLogStorage
from quant_assets_tests.conftest import REPO_ROOT

PARTITIONS = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 * * 1-5", fmt="%Y-%m-%d", start="2020-01-01", end="2020-04-01"
)


@dg.asset(partitions_def=PARTITIONS, backfill_policy=dg.BackfillPolicy.single_run())
def daily_rows(context) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"days": len(context.partition_keys)})


@pytest.fixture
def project_instance(tmp_path, monkeypatch):
    shutil.copy(REPO_ROOT / "dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.get() as instance:
        yield instance


def _backfill(instance, keys: list[str]) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [daily_rows],
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        },
    )


def test_the_project_instance_uses_the_pooled_store(project_instance):
    assert isinstance(project_instance.event_log_storage, PooledSqliteEventLogStorage)


@pytest.mark.parametrize("planned_per_asset", [False, True])
def test_a_backfill_records_every_partition_and_its_metadata(
    project_instance, monkeypatch, planned_per_asset
):
    if planned_per_asset:  # as make run does
        monkeypatch.setenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "1")
    keys = PARTITIONS.get_partition_keys()
    assert _backfill(project_instance, keys).success
    assert project_instance.get_materialized_partitions(daily_rows.key) == set(keys)
    latest = project_instance.get_latest_materialization_event(daily_rows.key)
    assert latest.asset_materialization.metadata["days"].value == len(keys)
    # a second backfill of part of the range adds events, not partitions
    assert _backfill(project_instance, keys[:5]).success
    records = project_instance.fetch_materializations(daily_rows.key, limit=1000).records
    assert len(records) == len(keys) + 5


def test_another_process_writing_the_same_store_is_seen(project_instance, tmp_path):
    """A second process (a run worker, the daemon) writes to the same file while this process
    holds pooled connections: both processes' events land and each sees the other's."""
    keys = PARTITIONS.get_partition_keys()
    assert _backfill(project_instance, keys[:10]).success
    script = textwrap.dedent(
        """
        import dagster as dg
        from quant_assets_tests.test_dagster_instance import _backfill, PARTITIONS
        with dg.DagsterInstance.get() as instance:
            assert _backfill(instance, PARTITIONS.get_partition_keys()[10:20]).success
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=REPO_ROOT, timeout=120)
    assert project_instance.get_materialized_partitions(daily_rows.key) == set(keys[:20])
