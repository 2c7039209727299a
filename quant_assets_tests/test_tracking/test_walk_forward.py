"""The walk-forward training of trained_models, called as plain Python on a small real panel."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from quant_assets.models import walk_forward_splits
from quant_assets.models.evaluation import positions_sharpe
from quant_assets.models.networks import SeedAveragedModel
from quant_assets.models.prediction import predict_positions
from quant_assets.models.walk_forward import average_positions, window_seed
from quant_assets.tracking import RunProvenance
from quant_assets.tracking.predictions import predict_with_versions, served_dates
from quant_assets.tracking.registry import load_registered_model
from quant_assets.tracking.walk_forward import ModelPlan, train_and_track
from quant_assets_tests.test_tracking.conftest import SMALL

PLAN = ModelPlan(
    networks=["mlp"],
    forecasters=["ridge"],
    rules=["tsmom"],
    train_config=dataclasses.replace(SMALL, max_epochs=40, patience=3),
    seeds=2,
)
PROVENANCE = RunProvenance(dagster_run_id="walkforward-run", code_version="test-1")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mlflow_template, panel, real_closes):
    from quant_assets_tests.test_tracking.conftest import copy_store

    tracker = copy_store(tmp_path_factory.mktemp("walk_forward"), mlflow_template)
    splits = walk_forward_splits(
        panel.dates,
        first_test_start=pd.Timestamp("2016-07-01"),
        retrain_every="YS",
        window="expanding",
        validation_length=126,
        embargo=10,
    )
    with tracker.start_run("parent", tags={"dagster_run_id": "walkforward-run"}) as parent:
        outcome = train_and_track(
            panel, real_closes, splits, PLAN, tracker, provenance=PROVENANCE, parent_run_id=parent
        )
    return tracker, parent, splits, outcome


def test_every_model_and_window_is_a_nested_run(trained):
    tracker, parent, splits, outcome = trained
    versions = outcome.versions
    assert len(splits) == 3
    assert versions.groupby("model")["window"].apply(list).to_dict() == {
        m: [0, 1, 2] for m in ("mlp", "ridge", "tsmom")
    }
    for row in versions.itertuples():
        tags = tracker.client.get_run(row.mlflow_run_id).data.tags
        assert tags["mlflow.parentRunId"] == parent
        assert tags["dagster_run_id"] == "walkforward-run" and tags["code_version"] == "test-1"
    fitted = versions[versions["family"] != "rule"]
    assert sorted(fitted["version"]) == ["1", "1", "2", "2", "3", "3"]
    assert versions.groupby("model")["test_end"].apply(lambda s: s.isna().sum()).eq(1).all()
    assert set(outcome.summary["model"]) == {"mlp", "ridge", "tsmom"}


def test_networks_are_trained_to_convergence_from_seeds_per_window(trained):
    tracker, _, _, outcome = trained
    networks = outcome.versions[outcome.versions["family"] == "network"]
    assert networks["seed"].tolist() == [window_seed(SMALL.seed, w) for w in range(3)]
    assert networks["seed"].nunique() == 3
    assert (networks["seeds"] == PLAN.seeds).all()
    assert networks["converged"].all(), "early stopping, not max_epochs, ended every seed"
    assert (networks["converged_seeds"] == PLAN.seeds).all()
    assert (networks["epochs_run_max"] < PLAN.train_config.max_epochs).all()
    assert (networks["epochs_run"] <= networks["epochs_run_max"]).all()
    assert (networks["epochs_run"] >= networks["best_epoch"] + PLAN.train_config.patience).all()
    # the restored nets are never worse than the untrained ones on validation (means over
    # seeds), and training beats initialisation on most network windows x seeds
    assert (networks["best_val_loss"] <= networks["initial_val_loss"]).all()
    assert networks["beat_init_seeds"].between(0, PLAN.seeds).all()
    assert networks["beat_init_seeds"].sum() >= 4
    for row in networks.itertuples():
        run = tracker.client.get_run(row.mlflow_run_id)
        assert run.data.params["seed"] == str(int(row.seed))
        assert run.data.params["n_seeds"] == str(PLAN.seeds)
        assert run.data.metrics["seeds"] == PLAN.seeds
        assert run.data.metrics["beat_init_seeds"] == row.beat_init_seeds
        epochs = []
        for seed in range(PLAN.seeds):
            # every seed's loss curve: the untrained net at step 0, then one point per epoch
            curve = tracker.client.get_metric_history(row.mlflow_run_id, f"val_loss/seed{seed}")
            train = tracker.client.get_metric_history(row.mlflow_run_id, f"train_loss/seed{seed}")
            assert sorted(p.step for p in curve) == list(range(len(train) + 1))
            assert sorted(p.step for p in train) == list(range(1, len(train) + 1))
            epochs.append(len(train))
        assert max(epochs) == row.epochs_run_max
        assert sum(epochs) / PLAN.seeds == pytest.approx(row.epochs_run)


def test_the_registered_version_is_the_seed_average(trained, panel, real_closes):
    tracker, _, splits, outcome = trained
    networks = outcome.versions[outcome.versions["family"] == "network"]
    for row, split in zip(networks.itertuples(), splits, strict=True):
        model = load_registered_model(tracker, row.registered_name, int(row.version))
        assert isinstance(model, SeedAveragedModel) and model.n_seeds == PLAN.seeds
        # the MLP reads one date, so predicting date by date is exactly what training scored:
        # the registered version's positions score the window's (averaged) test Sharpe
        positions = predict_positions(model, panel, panel.dates[split.test])
        config = PLAN.train_config
        sharpe = positions_sharpe(
            panel, positions, target_vol=config.target_vol, cost_bps=config.cost_bps
        )
        assert sharpe == pytest.approx(row.test_sharpe, abs=1e-6)  # float32 mean vs float64
        members = [predict_positions(m, panel, panel.dates[split.test]) for m in model.members]
        expected = average_positions(members)
        assert (positions["ticker"].to_numpy() == expected["ticker"].to_numpy()).all()
        assert positions["position"].to_numpy() == pytest.approx(
            expected["position"].to_numpy(), abs=1e-6
        )


def test_predictions_come_from_the_version_serving_each_date(trained, panel, real_closes):
    tracker, _, splits, outcome = trained
    versions = outcome.versions.assign(test_start=lambda v: pd.to_datetime(v["test_start"]))
    dates = panel.dates[splits[1].test[0] - 5 :]
    positions = predict_with_versions(
        versions, panel, real_closes, dates, tracker, training_id="t1"
    )
    first_block = versions[(versions["model"] == "mlp") & (versions["window"] == 1)]
    served = served_dates(first_block, dates)[0]
    mlp = positions[positions["model"] == "mlp"]
    assert set(mlp.loc[mlp["date"].isin(served), "model_version"]) == set(
        first_block["model_version"]
    )
    assert not positions.duplicated(["model", "ticker", "date"]).any()
    assert positions["position"].between(-1, 1).all()


def test_served_dates_by_hand():
    dates = pd.bdate_range("2020-01-01", periods=10)
    versions = pd.DataFrame({"test_start": [dates[0], dates[4]], "test_end": [dates[3], None]})
    first, last = served_dates(versions, dates)
    assert list(first) == list(dates[:4]) and list(last) == list(dates[4:])


def test_unknown_kinds_are_named():
    with pytest.raises(ValueError, match="cnn"):
        ModelPlan(networks=["cnn"]).check()


BOOSTED_PLAN = ModelPlan(
    networks=["mlp"],
    forecasters=["ridge", "xgboost"],
    train_config=dataclasses.replace(SMALL, max_epochs=2, patience=1),
    seeds=1,
    ensemble_size=2,
    importance_repeats=1,
    shap_rows=200,
)


@pytest.fixture(scope="module")
def ensembled(tmp_path_factory, mlflow_template, panel, real_closes):
    from quant_assets_tests.test_tracking.conftest import copy_store

    tracker = copy_store(tmp_path_factory.mktemp("ensembled"), mlflow_template)
    splits = walk_forward_splits(
        panel.dates,
        first_test_start=pd.Timestamp("2017-01-01"),
        retrain_every="YS",
        window="expanding",
        validation_length=126,
        embargo=10,
    )
    with tracker.start_run("parent") as parent:
        outcome = train_and_track(
            panel, real_closes, splits, BOOSTED_PLAN, tracker, parent_run_id=parent
        )
    return tracker, parent, splits, outcome


def test_the_ensemble_is_chosen_on_validation_and_served_as_its_members_average(
    ensembled, panel, real_closes
):
    tracker, parent, splits, outcome = ensembled
    versions = outcome.versions
    ensemble = versions[versions["model"] == "ensemble"]
    assert list(ensemble["window"]) == list(range(len(splits)))
    assert (ensemble["family"] == "ensemble").all()
    assert ensemble["model_version"].str.startswith("ensemble:").all()
    for row in ensemble.itertuples():
        run = tracker.client.get_run(row.mlflow_run_id)
        assert run.data.tags["mlflow.parentRunId"] == parent
        members = run.data.params["members"].split(",")
        assert len(members) == 2 and set(members) <= {"mlp", "ridge", "xgboost"}
        # chosen on validation: the members are the two best validation Sharpes of the window
        window = versions[(versions["window"] == row.window) & (versions["family"] != "rule")]
        best = window[window["model"] != "ensemble"].nlargest(2, "val_sharpe")["model"]
        assert set(members) == set(best)
    dates = panel.dates[splits[-1].test]
    positions = predict_with_versions(
        versions.assign(test_start=lambda v: pd.to_datetime(v["test_start"])),
        panel,
        real_closes,
        dates,
        tracker,
        training_id="t1",
    )
    last = ensemble.iloc[-1]
    members = tracker.client.get_run(last.mlflow_run_id).data.params["members"].split(",")
    wide = positions.pivot_table(index=["date", "ticker"], columns="model", values="position")
    both = wide[members + ["ensemble"]].dropna()
    assert len(both) > 0
    pd.testing.assert_series_equal(both["ensemble"], both[members].mean(axis=1), check_names=False)


def test_importance_is_logged_per_fitted_model_and_window(ensembled, panel):
    tracker, _, splits, outcome = ensembled
    importance = outcome.importance
    fitted = {"mlp", "ridge", "xgboost"}
    perm = importance[importance["method"] == "permutation"]
    assert set(perm["model"]) == fitted
    assert perm.groupby(["model", "window"]).size().eq(len(panel.factors)).all()
    shap = importance[importance["method"] == "shap"]
    assert set(shap["model"]) == {"xgboost"}  # ridge and the network: permutation only
    assert (shap["importance"] >= 0).all() and shap["importance"].gt(0).any()
    row = outcome.versions.query("model == 'xgboost' and window == 0").iloc[0]
    metrics = tracker.client.get_run(row.mlflow_run_id).data.metrics
    factor = panel.factors[0]
    assert f"importance_shap_{factor}" in metrics
    assert f"importance_permutation_{factor}" in metrics
    artifacts = [a.path for a in tracker.client.list_artifacts(row.mlflow_run_id)]
    assert "importance.csv" in artifacts


def test_a_boosted_version_records_its_library(ensembled):
    tracker, _, _, outcome = ensembled
    row = outcome.versions.query("model == 'xgboost'").iloc[0]
    import mlflow

    with tracker.activate():
        requirements = mlflow.artifacts.download_artifacts(
            f"models:/{row.registered_name}/{row.version}/requirements.txt"
        )
    with open(requirements) as handle:
        assert any(line.startswith("xgboost==") for line in handle)
