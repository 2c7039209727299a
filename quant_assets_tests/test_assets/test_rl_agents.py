"""factor_values -> trained_models -> rl_agents -> predictions on a small real slice.

Four S&P 500 tickers, 2014-2018, a rule-only supervised training (its windows: test years 2017
and 2018), then tiny PPO agents (two seeds, a thousand timesteps) on the same windows, with a
real Dagster instance, DuckDB file and MLflow store.
"""

from __future__ import annotations

import duckdb
import mlflow
import pandas as pd
import pytest
from dagster import DagsterInstance

from quant_assets.assets.models import predictions, trained_models
from quant_assets.assets.rl import rl_agents
from quant_assets.models.tensors import build_panel
from quant_assets.rl import ppo_positions, trading_data
from quant_assets.tracking.predictions import served_dates
from quant_assets.tracking.rl import load_ppo_agent
from quant_assets.tracking.store import MlflowTracker
from quant_assets.warehouse.models import load_prediction_inputs
from quant_assets_tests.dagster_project import Project, write_real_ticker_files

TICKERS = ["AAPL", "JPM", "MSFT", "XOM"]
FIRST, TEST, LAST = "2014-01-02", "2017-01-03", "2018-02-06"
CONFIG = {
    "trained_models": {
        "config": {
            "networks": [],
            "forecasters": [],
            "rules": ["long_only"],
            "first_test_start": "2017-01-01",
            "retrain_every": "YS",
            "validation_length": 126,
            "embargo": 21,
        }
    },
    "rl_agents": {
        "config": {
            "seeds": 2,
            "total_timesteps": 1024,
            "n_envs": 4,
            "episode_length": 64,
            "observation_window": 10,
            "device": "cpu",
            "use_tuned_params": False,
        }
    },
}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("rl_pipeline")
    (root / "raw").mkdir()
    with DagsterInstance.ephemeral() as instance:
        project = Project(root=root, instance=instance)
        write_real_ticker_files(shared_data, project.raw, TICKERS)
        project.ingest_files(TICKERS)
        project.compute_factors(FIRST, LAST)
        runs = {
            "train": project.materialize([trained_models, rl_agents], config=CONFIG),
            "predict": project.materialize([predictions], start=TEST, end=LAST),
        }
        yield project, runs


def _meta(result, key: str) -> dict:
    events = [
        e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key
    ]
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


def test_ppo_trains_on_the_supervised_windows(pipeline):
    project, _ = pipeline
    versions = project.query('SELECT * FROM model_versions ORDER BY model, "window"')
    ppo, rule = versions[versions["model"] == "ppo"], versions[versions["model"] == "long_only"]
    assert list(ppo["window"]) == list(rule["window"]) == [0, 1]
    assert list(ppo["test_start"]) == list(rule["test_start"])
    assert ppo["test_end"].isna().tolist() == [False, True]
    assert (ppo["family"] == "rl").all() and ppo["training_id"].nunique() == 1
    assert ppo["model_version"].str.startswith("quant_assets-ppo/").all()


def test_every_window_and_seed_is_a_nested_run_with_reward_curves(pipeline):
    project, runs = pipeline
    meta = _meta(runs["train"], "rl_agents")
    assert meta["agents"] == 4 and meta["windows"] == 2
    client = mlflow.MlflowClient(tracking_uri=project.mlflow_uri, registry_uri=project.mlflow_uri)
    parent = meta["mlflow_parent_run_id"]
    assert client.get_run(parent).data.tags["dagster_run_id"] == runs["train"].run_id
    run_ids = meta["mlflow_run_ids"]
    assert set(run_ids) == {"0/0", "0/1", "1/0", "1/1"}
    for run_id in run_ids.values():
        run = client.get_run(run_id)
        assert run.data.tags["mlflow.parentRunId"] == parent
        assert run.data.params["ppo.n_steps"] and run.data.params["env.window"] == "10"
        assert len(client.get_metric_history(run_id, "val_mean_reward")) >= 1
        assert len(client.get_metric_history(run_id, "train_episode_reward")) >= 1
        (version,) = client.search_model_versions(f"run_id = '{run_id}'")
        assert version.name == "quant_assets-ppo"
    # the served version per window is its best seed's
    served = project.query("SELECT * FROM model_versions WHERE model = 'ppo'")
    for row in served.itertuples():
        seeds = [client.get_run(run_ids[f"{row.window}/{s}"]) for s in (0, 1)]
        best = max(seeds, key=lambda r: r.data.metrics["best_mean_reward"])
        assert row.mlflow_run_id == best.info.run_id


def test_predictions_serve_the_loaded_agents(pipeline):
    project, _ = pipeline
    preds = project.query("SELECT * FROM predictions WHERE model = 'ppo' ORDER BY date, ticker")
    assert len(preds) > 0 and preds["position"].isin([-1.0, 0.0, 1.0]).all()
    assert set(project.query("SELECT DISTINCT model FROM predictions")["model"]) == {
        "ppo",
        "long_only",
    }
    tracker = MlflowTracker(project.mlflow_uri)
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    try:
        inputs = load_prediction_inputs(con, pd.Timestamp(TEST).date(), pd.Timestamp(LAST).date())
    finally:
        con.close()
    # orders fill at the next open, as in training: the opens are read on the closes' axes
    assert inputs.opens is not None
    assert inputs.opens.index.equals(inputs.closes.index)
    assert list(inputs.opens.columns) == list(inputs.closes.columns)
    assert inputs.opens.notna().to_numpy().mean() > 0.99
    assert not inputs.opens.equals(inputs.closes)
    first = inputs.features["date"].min()
    panel = build_panel(
        inputs.features, inputs.closes.loc[first:], factors=tuple(inputs.training["factors"])
    )
    versions = inputs.versions[inputs.versions["model"] == "ppo"]
    expected = []
    for row, dates in zip(
        versions.itertuples(), served_dates(versions, inputs.in_window), strict=True
    ):
        agent, scaler = load_ppo_agent(tracker, row.registered_name, int(row.version))
        data = trading_data(panel, inputs.closes, scaler=scaler, opens=inputs.opens)
        expected.append(ppo_positions(agent, data, dates).assign(model_version=row.model_version))
    expected = pd.concat(expected, ignore_index=True).sort_values(["date", "ticker"])
    pd.testing.assert_frame_equal(
        preds[["date", "ticker", "position", "model_version"]].reset_index(drop=True),
        expected[["date", "ticker", "position", "model_version"]].reset_index(drop=True),
        check_dtype=False,
    )
