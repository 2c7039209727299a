"""Where runs are stored, how the URI is chosen, and how a run opens and closes."""

from __future__ import annotations

import os

import mlflow
import pytest
from mlflow.entities import RunStatus

from quant_assets.resources.mlflow import MLflowResource
from quant_assets.tracking import MlflowTracker


@pytest.fixture
def no_mlflow_env(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)


def test_default_store_is_a_sqlite_file_under_the_data_dir(tmp_path, monkeypatch, no_mlflow_env):
    monkeypatch.setenv("QUANT_ASSETS_DATA_DIR", str(tmp_path / "data"))
    tracker = MLflowResource().tracker()
    root = (tmp_path / "data" / "mlflow").resolve()
    assert tracker.tracking_uri == f"sqlite:///{root / 'mlflow.db'}"
    assert tracker.registry_uri == tracker.tracking_uri
    assert tracker.artifact_location == (root / "artifacts" / "quant_assets").as_uri()
    assert tracker.experiment_name == "quant_assets"
    assert not root.exists()  # nothing is created until the store is used
    tracker.ensure_local_dirs()
    assert (root / "artifacts" / "quant_assets").is_dir()


def test_store_and_schema_are_created_on_first_use(mlflow_template):
    # The template fixture opened a tracker whose folder did not exist yet.
    assert mlflow_template.is_file() and mlflow_template.stat().st_size > 0


def test_environment_overrides_the_default_and_config_overrides_both(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////srv/mlflow/env.db")
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    assert MLflowResource().tracker().tracking_uri == "sqlite:////srv/mlflow/env.db"
    assert (
        MLflowResource().tracker().artifact_location == "file:///srv/mlflow/artifacts/quant_assets"
    )
    configured = MLflowResource(
        tracking_uri="http://127.0.0.1:5000", experiment_name="study", artifact_location=None
    ).tracker()
    assert configured.tracking_uri == "http://127.0.0.1:5000"
    assert configured.experiment_name == "study"
    assert configured.artifact_location is None  # a server chooses its own


def test_experiment_is_created_once_with_artifacts_beside_the_database(tracker):
    again = MlflowTracker(tracker.tracking_uri)
    assert again.experiment_id == tracker.experiment_id
    experiment = tracker.client.get_experiment(tracker.experiment_id)
    assert experiment.name == "quant_assets"
    expected = (tracker.database_path.parent / "artifacts" / "quant_assets").resolve()
    assert experiment.artifact_location == expected.as_uri()


def test_activation_restores_mlflows_process_wide_uris(tracker, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere/mlflow.db")
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    mlflow.set_tracking_uri("sqlite:////elsewhere/mlflow.db")
    try:
        with tracker.activate():
            assert mlflow.get_tracking_uri() == tracker.tracking_uri
            assert mlflow.get_registry_uri() == tracker.registry_uri
        assert mlflow.get_tracking_uri() == "sqlite:////elsewhere/mlflow.db"
        assert os.environ["MLFLOW_TRACKING_URI"] == "sqlite:////elsewhere/mlflow.db"
        assert "MLFLOW_REGISTRY_URI" not in os.environ
    finally:
        mlflow.set_tracking_uri(None)  # leave MLflow's global as other tests expect it


def test_an_exception_ends_the_run_failed_and_is_raised(tracker):
    with pytest.raises(RuntimeError, match="boom"), tracker.start_run("doomed") as run_id:
        raise RuntimeError("boom")
    run = tracker.client.get_run(run_id)
    assert run.info.status == RunStatus.to_string(RunStatus.FAILED)
    assert mlflow.active_run() is None


def test_runs_are_found_by_dagster_run_id_and_refuse_odd_ids(tracker):
    with tracker.start_run("a", tags={"dagster_run_id": "run-1"}) as first:
        pass
    with tracker.start_run("b", tags={"dagster_run_id": "run-2"}):
        pass
    assert [r.info.run_id for r in tracker.runs_for_dagster_run("run-1")] == [first]
    with pytest.raises(ValueError, match="Dagster run id"):
        tracker.runs_for_dagster_run("x' OR '1'='1")


def test_a_run_opened_inside_another_is_nested_under_it(tracker):
    with tracker.start_run("walk-forward") as parent:
        with tracker.start_run("lstm-2017") as child:
            pass
        with tracker.start_run("lstm-2018", parent_run_id=parent) as sibling:
            pass
    for run_id in (child, sibling):
        assert tracker.client.get_run(run_id).data.tags["mlflow.parentRunId"] == parent
    assert tracker.client.get_run(parent).info.status == "FINISHED"
