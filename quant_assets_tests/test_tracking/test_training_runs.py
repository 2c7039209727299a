"""One MLflow run per network per window: params, epoch history, tags, registered versions."""

from __future__ import annotations

import dataclasses

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.entities import RunStatus

from quant_assets.models import TrainConfig, train_model
from quant_assets.tracking import (
    EPOCH_METRICS,
    RunProvenance,
    latest_version,
    load_registered_model,
    log_training,
    predict_with_model_version,
    start_training_run,
)
from quant_assets_tests.test_tracking.conftest import SMALL, copy_store

PROVENANCE = RunProvenance(
    dagster_run_id="0f3c2a9e-run", asset_key="trained_model", partition_key="2017"
)


@pytest.fixture(scope="module")
def shared_tracker(tmp_path_factory, mlflow_template):
    """One store for the tests that only read what a logged run holds."""
    return copy_store(tmp_path_factory.mktemp("runs"), mlflow_template)


@pytest.fixture(scope="module")
def logged_mlp(shared_tracker, trained_mlp, panel):
    return log_training(
        shared_tracker,
        trained_mlp,
        panel,
        window=2017,
        provenance=PROVENANCE,
        compute={"device": "cpu", "torch_version": "2.13.0+cpu"},
    )


@pytest.fixture(scope="module")
def logged_lstm(shared_tracker, panel, split):
    result = train_model("lstm", panel, split, dataclasses.replace(SMALL, max_epochs=2))
    logged = log_training(shared_tracker, result, panel, window="2017", provenance=PROVENANCE)
    return result, logged


def test_run_records_config_window_bounds_and_provenance(shared_tracker, logged_mlp, trained_mlp):
    tracker, logged = shared_tracker, logged_mlp
    run = tracker.client.get_run(logged.run_id)
    params, tags, metrics = run.data.params, run.data.tags, run.data.metrics
    for field in dataclasses.fields(TrainConfig):
        assert params[field.name] == str(getattr(SMALL, field.name))
    assert params["kind"] == "mlp" and params["window"] == "2017"
    assert params["torch_device"] == "cpu"
    assert (params["n_features"], params["n_tickers"], params["embargo"]) == ("8", "4", "10")
    assert (params["validation_start"], params["test_start"]) == ("2016-07-01", "2017-07-03")
    assert (params["train_start"], params["test_end"]) == ("2013-02-08", "2018-02-07")
    assert tags["dagster_run_id"] == "0f3c2a9e-run"
    assert tags["dagster_asset_key"] == "trained_model"
    assert tags["dagster_partition"] == "2017"
    assert (tags["data_start"], tags["data_end"]) == ("2013-02-08", "2018-02-07")
    assert tags["compute.device"] == "cpu" and tags["mlflow.runName"] == "mlp-2017"
    assert metrics["best_val_sharpe"] == pytest.approx(trained_mlp.val_sharpe)
    assert metrics["test_sharpe"] == pytest.approx(trained_mlp.test_sharpe)
    assert metrics["best_epoch"] == trained_mlp.best_epoch
    assert run.info.status == RunStatus.to_string(RunStatus.FINISHED)
    assert (logged.registered_name, logged.version) == ("quant_assets-mlp", 1)
    assert logged.model_uri == "models:/quant_assets-mlp/1"


def test_epoch_history_has_one_point_per_epoch_run(shared_tracker, logged_mlp, trained_mlp):
    """Training metrics per epoch from 1; the validation curves start at the untrained net (0)."""
    history = trained_mlp.history
    initial = {
        "val_loss": trained_mlp.initial_val_loss,
        "val_sharpe": trained_mlp.initial_val_sharpe,
    }
    for name in EPOCH_METRICS:
        points = shared_tracker.client.get_metric_history(logged_mlp.run_id, name)
        points = sorted(points, key=lambda p: p.step)
        steps, values = history["epoch"].tolist(), history[name].tolist()
        if name in initial:
            steps, values = [0, *steps], [initial[name], *values]
        assert [p.step for p in points] == steps
        np.testing.assert_allclose([p.value for p in points], values, rtol=1e-12)


def test_convergence_is_recorded(shared_tracker, logged_mlp, trained_mlp):
    metrics = shared_tracker.client.get_run(logged_mlp.run_id).data.metrics
    assert metrics["epochs_run"] == len(trained_mlp.history)
    assert metrics["converged"] == int(trained_mlp.stopped_early)
    assert metrics["initial_val_loss"] == pytest.approx(trained_mlp.initial_val_loss)
    assert metrics["best_val_loss"] == pytest.approx(trained_mlp.best_val_loss)
    assert metrics["best_val_loss"] <= metrics["initial_val_loss"]


def test_live_run_logs_each_epoch_as_training_goes(tracker, panel, split):
    config = dataclasses.replace(SMALL, max_epochs=30, patience=1, learning_rate=0.05)
    seen = []
    with start_training_run(
        tracker, kind="mlp", panel=panel, split=split, config=config, provenance=PROVENANCE
    ) as run:

        def log_and_count(row):
            run.log_epoch(row)
            seen.append(len(tracker.client.get_metric_history(run.run_id, "val_sharpe")))

        result = train_model("mlp", panel, split, config, on_epoch_end=log_and_count)
        run.log_result(result)
    assert seen == list(range(1, len(result.history) + 1))  # on disk before the next epoch
    assert len(result.history) < config.max_epochs  # early stopping: history length is the truth
    logged = tracker.client.get_run(run.run_id)
    assert logged.data.metrics["epochs_run"] == len(result.history)
    assert logged.data.tags["window"] == "2017-07-03"  # default: the first test date
    assert logged.info.run_name == "mlp-2017-07-03"


def test_registered_version_reloads_and_reproduces_the_positions(
    shared_tracker, logged_lstm, panel, split
):
    tracker, (result, logged) = shared_tracker, logged_lstm
    test_dates = panel.dates[split.test]
    predicted = predict_with_model_version(
        tracker, panel, logged.registered_name, logged.version, dates=test_dates
    )
    assert (predicted["model_name"] == "quant_assets-lstm").all()
    assert (predicted["model_version"] == logged.version).all()
    pd.testing.assert_frame_equal(
        predicted[["date", "ticker", "position"]], result.positions, atol=1e-6, rtol=0
    )
    version = tracker.client.get_model_version(logged.registered_name, str(logged.version))
    assert version.tags["window"] == "2017" and version.tags["dagster_run_id"] == "0f3c2a9e-run"
    assert version.tags["test_start"] == "2017-07-03" and version.run_id == logged.run_id


def test_logged_model_carries_a_signature_with_a_free_ticker_axis(
    shared_tracker, logged_lstm, panel
):
    tracker, (result, logged) = shared_tracker, logged_lstm
    with tracker.activate():
        info = mlflow.models.get_model_info(logged.model_uri)
    (inputs,) = info.signature.inputs.inputs
    length = result.model.context_length
    assert inputs.shape == (-1, length, -1, len(panel.factors))
    assert info.signature.outputs.inputs[0].shape == (-1, length, -1)
    loaded = load_registered_model(tracker, logged.registered_name)  # latest version
    assert torch.equal(loaded.network.head.weight, result.model.network.head.weight)


def test_rerunning_adds_a_version_and_never_fails_on_an_existing_name(
    shared_tracker, logged_mlp, trained_mlp, panel
):
    again = log_training(shared_tracker, trained_mlp, panel, window=2017)
    assert again.registered_name == logged_mlp.registered_name == "quant_assets-mlp"
    assert again.version == logged_mlp.version + 1
    assert again.run_id != logged_mlp.run_id
    assert latest_version(shared_tracker, "quant_assets-mlp") == again.version


def test_a_crash_during_training_fails_the_run_and_registers_nothing(tracker, panel, split):
    with (
        pytest.raises(RuntimeError, match="out of memory"),
        start_training_run(tracker, kind="mlp", panel=panel, split=split, config=SMALL) as run,
    ):
        run.log_epoch({"epoch": 1, "train_loss": 0.5, "val_sharpe": 0.1})
        raise RuntimeError("CUDA out of memory")
    assert tracker.client.get_run(run.run_id).info.status == "FAILED"
    assert tracker.client.search_registered_models() == []
    with pytest.raises(LookupError):
        latest_version(tracker, "quant_assets-mlp")
