"""The hpo asset on a small real panel: trials nested in MLflow, best params fed to training."""

from __future__ import annotations

import json

import mlflow
import pytest
from dagster import DagsterInstance

from quant_assets.assets.hpo import hpo
from quant_assets.assets.models import trained_models
from quant_assets_tests.dagster_project import Project, write_real_ticker_files

TICKERS = ["AAPL", "JPM", "KO", "XOM"]
FIRST, LAST = "2013-02-08", "2018-02-07"


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("hpo")
    (root / "raw").mkdir()
    with DagsterInstance.ephemeral() as instance:
        project = Project(root=root, instance=instance)
        write_real_ticker_files(shared_data, project.raw, TICKERS)
        project.ingest_files(TICKERS)
        project.compute_factors(FIRST, LAST)
        storage = f"sqlite:///{root / 'optuna.db'}"
        windows = {
            "first_test_start": "2017-01-01",
            "retrain_every": "YS",
            "validation_length": 126,
            "embargo": 21,
        }
        config = {
            "kinds": ["ridge"],
            "n_trials": 3,
            "storage_url": storage,
            "n_folds": 2,
            "training": windows,
        }
        run = project.materialize([hpo], config={"hpo": {"config": config}})
        train = project.materialize(
            [trained_models],
            config={
                "trained_models": {
                    "config": {
                        "networks": [],
                        "forecasters": ["ridge"],
                        "rules": [],
                        **windows,
                    }
                }
            },
        )
        yield project, run, train, storage


def test_each_trial_is_a_nested_mlflow_run_under_the_dagster_run(tuned):
    project, run, _, _ = tuned
    client = mlflow.MlflowClient(tracking_uri=project.mlflow_uri)
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.dagster_run_id = '{run.run_id}'",
    )
    trials = [r for r in runs if "hpo_study" in r.data.tags]
    assert len(trials) == 3
    parents = {r.data.tags["mlflow.parentRunId"] for r in trials}
    assert len(parents) == 1
    parent = client.get_run(parents.pop())
    assert parent.data.tags["dagster_run_id"] == run.run_id
    assert all("ridge__alpha" in r.data.params for r in trials)


def test_the_best_params_are_stored_and_used_by_trained_models(tuned):
    project, _, train, storage = tuned
    import optuna

    best = project.query("SELECT * FROM hpo_best_params")
    assert list(best["kind"]) == ["ridge"] and best["n_trials"].iloc[0] == 3
    params = json.loads(best["params_json"].iloc[0])
    study = optuna.load_study(study_name="quant_assets-ridge", storage=storage)
    assert study.best_params == params
    client = mlflow.MlflowClient(tracking_uri=project.mlflow_uri)
    versions = project.query("SELECT * FROM model_versions WHERE model = 'ridge'")
    assert len(versions) >= 1
    for row in versions.itertuples():
        logged = client.get_run(row.mlflow_run_id).data.params
        assert {k: float(logged[f"tuned_{k}"]) for k in params} == pytest.approx(params)
