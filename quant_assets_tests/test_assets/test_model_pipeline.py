"""prices -> factors -> trained_models -> predictions -> target_weights -> backtests -> report.

One small real pipeline (six S&P 500 tickers, 2013-2018, tiny networks, one epoch) shared by the
module: every asset materialized on a real instance, DuckDB file and MLflow store.
"""

from __future__ import annotations

import duckdb
import mlflow
import pandas as pd
import pytest
from dagster import DagsterInstance, build_sensor_context
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

from quant_assets.assets.backtest import backtest_report, backtests
from quant_assets.assets.models import predictions, trained_models
from quant_assets.assets.portfolio import target_weights
from quant_assets.automation.retrain import RETRAIN_DAYS_ENV, retrain_job, retrain_sensor
from quant_assets_tests.dagster_project import Project, write_real_ticker_files

TICKERS = ["AAPL", "AOS", "DHR", "JPM", "MSFT", "XOM"]
FIRST, TEST, LAST = "2013-02-08", "2015-10-01", "2018-02-07"
TRAIN = {
    "trained_models": {
        "config": {
            "networks": ["mlp", "lstm", "tft"],
            "forecasters": ["ridge"],
            "rules": ["long_only", "tsmom", "macd"],
            "first_test_start": "2016-01-01",
            "retrain_every": "YS",
            "validation_length": 126,
            "embargo": 21,
            "sequence_length": 10,
            "stride": 20,
            "max_epochs": 1,
            "patience": 1,
            "hidden_size": 8,
            "seeds": 2,
        }
    }
}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("pipeline")
    (root / "raw").mkdir()
    with DagsterInstance.ephemeral() as instance:
        project = Project(root=root, instance=instance)
        write_real_ticker_files(shared_data, project.raw, TICKERS)
        project.ingest_files(TICKERS)
        project.compute_factors(FIRST, LAST)
        runs = {
            "train": project.materialize([trained_models], config=TRAIN),
            "predict": project.materialize([predictions], start=TEST, end="2018-02-06"),
            "weights": project.materialize([target_weights], start=TEST, end="2018-02-06"),
        }
        runs["predict_day"] = project.materialize([predictions], start=LAST, end=LAST)
        runs["weights_day"] = project.materialize([target_weights], start=LAST, end=LAST)
        runs["backtests"] = project.materialize([backtests])
        runs["report"] = project.materialize(
            [backtest_report], config={"backtest_report": {"config": {"reports_dir": str(root)}}}
        )
        yield project, runs


def _meta(result) -> dict:
    event = result.get_asset_materialization_events()[-1]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_every_model_and_window_is_tracked_and_registered(pipeline):
    project, runs = pipeline
    train_run = runs["train"]
    versions = project.query('SELECT * FROM model_versions ORDER BY model, "window"')
    # windows 2016, 2017 and 2018 for 3 networks, 1 forecaster and 3 rules
    assert versions.groupby("model")["window"].nunique().to_dict() == {
        m: 3 for m in ("ensemble", "lstm", "long_only", "macd", "mlp", "ridge", "tft", "tsmom")
    }
    fitted = versions[~versions["family"].isin(["rule", "ensemble"])]
    assert fitted["registered_name"].notna().all() and fitted["version"].notna().all()
    assert (
        versions.loc[versions["family"] == "rule", "model_version"].str.startswith("rule:")
    ).all()
    assert versions.groupby("model")["test_end"].apply(lambda s: s.isna().sum()).eq(1).all()

    client = mlflow.MlflowClient(tracking_uri=project.mlflow_uri, registry_uri=project.mlflow_uri)
    for row in versions.itertuples():
        run = client.get_run(row.mlflow_run_id)
        assert run.data.tags["dagster_run_id"] == train_run.run_id
        if row.family == "network":
            assert "best_val_sharpe" in run.data.metrics
            assert row.seeds == 2 and run.data.metrics["seeds"] == 2
            for seed in range(2):  # every seed's loss curve: init at step 0, then each epoch
                history = client.get_metric_history(row.mlflow_run_id, f"val_loss/seed{seed}")
                assert sorted(p.step for p in history) == [0, 1]
            assert row.epochs_run == 1 and row.epochs_run_max == 1
            assert 0 <= row.beat_init_seeds <= 2 and 0 <= row.converged_seeds <= 2
            version = client.get_model_version(row.registered_name, row.version)
            assert version.run_id == row.mlflow_run_id

    parent = client.get_run(_meta(train_run)["mlflow_parent_run_id"])
    assert parent.data.tags["dagster_run_id"] == train_run.run_id
    assert parent.data.tags["run_kind"] == "dagster_run"
    assert parent.info.status == "FINISHED"
    for row in versions.itertuples():
        tags = client.get_run(row.mlflow_run_id).data.tags
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        assert tags["code_version"] and "mlflow.parentRunId" not in parent.data.tags

    meta = _meta(train_run)
    assert meta["training_id"] == train_run.run_id
    assert meta["windows"] == 3
    assert set(meta["mlflow_run_ids"].values()) == set(versions["mlflow_run_id"])


def test_the_ensemble_and_the_factor_importance_are_stored(pipeline):
    project, _ = pipeline
    versions = project.query("SELECT * FROM model_versions")
    ensemble = versions[versions["model"] == "ensemble"]
    assert (ensemble["family"] == "ensemble").all()
    assert ensemble["model_version"].str.startswith("ensemble:").all()
    importance = project.query("SELECT * FROM model_importance")
    fitted = {"lstm", "mlp", "ridge", "tft"}
    assert set(importance.loc[importance["method"] == "permutation", "model"]) == fitted
    per_window = importance.groupby(["model", "window", "method"]).size()
    assert per_window.eq(per_window.iloc[0]).all() and per_window.iloc[0] > 1
    assert set(importance["training_id"]) == set(versions["training_id"])
    with duckdb.connect(str(project.warehouse_path), read_only=True) as con:
        from quant_assets.warehouse.models import load_model_importance

        mean = load_model_importance(con)
    assert set(mean["model"]) == fitted and (mean["windows"] == 3).all()


def test_predictions_are_out_of_sample_and_keyed_by_version(pipeline):
    project, _ = pipeline
    preds = project.query("SELECT * FROM predictions")
    versions = project.query("SELECT * FROM model_versions")
    assert set(preds["model"]) == set(versions["model"])
    assert preds["date"].min() >= pd.Timestamp("2016-01-01")
    assert preds["position"].between(-1, 1).all()
    # a rule keeps one version label across windows: any of its blocks may hold the date
    joined = preds.reset_index().merge(versions, on=["model", "model_version"], how="left")
    inside = (joined["date"] >= joined["test_start"]) & (
        joined["test_end"].isna() | (joined["date"] <= joined["test_end"])
    )
    assert inside.groupby(joined["index"]).any().all(), "a prediction outside its test block"
    networks = preds[preds["model"] == "lstm"].merge(versions, on=["model", "model_version"])
    assert networks.groupby("date")["window"].nunique().eq(1).all()
    # each date has one version per model
    assert not preds.duplicated(["model", "ticker", "date"]).any()


def test_the_newest_day_only_adds_that_day(pipeline):
    project, runs = pipeline
    meta = _meta(runs["predict_day"])
    assert meta["rows_replaced"] == 0
    day = project.query("SELECT * FROM predictions WHERE date = DATE '2018-02-07'")
    assert meta["rows_written"] == len(day) > 0
    assert set(day["model"]) == set(project.query("SELECT model FROM model_versions")["model"])
    weights_meta = _meta(runs["weights_day"])
    assert weights_meta["rows_replaced"] == 0


def test_weights_respect_the_limits_and_cover_every_strategy(pipeline):
    project, _ = pipeline
    weights = project.query("SELECT * FROM weights")
    strategies = set(weights["strategy"])
    assert {"lstm:vol_target", "tsmom:vol_target", "lstm:black_litterman"} <= strategies
    assert weights["weight"].abs().max() <= 0.25 + 1e-12
    gross = weights.groupby(["strategy", "date"])["weight"].apply(lambda w: w.abs().sum())
    assert gross.max() <= 1.5 + 1e-9
    assert weights["date"].min() >= pd.Timestamp("2016-01-01")


def test_backtests_store_every_strategy_out_of_sample(pipeline):
    project, runs = pipeline
    run = runs["backtests"]
    checks = {c.check_name: c for c in run.get_asset_check_evaluations()}
    assert checks["out_of_sample_only"].passed
    metrics = project.query("SELECT * FROM backtest_metrics")
    strategies = set(project.query("SELECT DISTINCT strategy FROM weights")["strategy"])
    assert set(metrics["strategy"]) == strategies
    per_strategy = metrics.groupby("strategy")["metric"].nunique()
    assert (per_strategy >= 30).all()
    assert {"sharpe", "sortino", "max_drawdown", "alpha", "beta"} <= set(metrics["metric"])
    equity = project.query("SELECT * FROM backtest_equity")
    assert equity["date"].min() >= pd.Timestamp("2016-01-01")
    robust = project.query("SELECT * FROM backtest_robustness")
    costs = robust[robust["analysis"] == "cost_sensitivity"]
    assert sorted(costs["param"].unique()) == [0.0, 2.0, 5.0, 10.0, 20.0]
    assert set(robust.loc[robust["analysis"] == "bootstrap", "metric"]) == {
        "sharpe",
        "cagr",
        "max_drawdown",
    }


def test_report_is_written_linked_and_attached_to_mlflow(pipeline):
    project, runs = pipeline
    meta = _meta(runs["report"])
    html = project.root / "latest" / "report.html"
    assert html.exists() and (project.root / "latest" / "equity.png").exists()
    text = html.read_text()
    for strategy in project.query("SELECT DISTINCT strategy FROM weights")["strategy"]:
        assert strategy in text
    # which factors drive each fitted model, from the training's stored importance
    assert "What drives each model" in text
    for model in project.query("SELECT DISTINCT model FROM model_importance")["model"]:
        assert model in text.split('id="importance"')[1]
    assert meta["training_id"] == runs["train"].run_id
    lineage = meta["lineage"]
    versions = project.query("SELECT * FROM model_versions WHERE family <> 'rule'")
    rendered = " ".join(lineage.values())
    assert all(v in rendered for v in versions["model_version"])
    assert all(r in rendered for r in versions["mlflow_run_id"])
    assert meta["equity_curves"].startswith("![equity curves](data:image/png;base64,")
    # every model labelled with its training state; one epoch from two seeds converges only
    # when the untrained net was best (patience 1): whichever networks did not are withheld
    state = text.split('id="training-state"')[1].split("</section>")[0]
    assert all(m in state for m in ("mlp", "lstm", "tft", "ridge", "tsmom"))
    nets = project.query(
        "SELECT model, bool_and(converged) AS ok, bool_and(beat_init_seeds > seeds / 2) AS beat "
        "FROM model_versions WHERE family = 'network' GROUP BY model"
    )
    failed = set(nets.loc[~(nets["ok"] & nets["beat"]), "model"])
    strategies = project.query("SELECT DISTINCT strategy, model FROM backtest_metrics")
    withheld = sorted(strategies.loc[strategies["model"].isin(failed), "strategy"])
    assert sorted(meta["not_results"]) == withheld
    key_metrics = text.split('id="key-metrics"')[1].split("</section>")[0]
    assert all(f">{strategy}<" not in key_metrics for strategy in withheld)
    client = mlflow.MlflowClient(tracking_uri=project.mlflow_uri)
    artifacts = client.list_artifacts(versions["mlflow_run_id"].iloc[0], "backtest_report")
    assert {a.path.split("/")[-1] for a in artifacts} == {"report.html", "equity.png"}


def _sensor(project):
    with build_sensor_context(instance=project.instance, resources=project.resources()) as ctx:
        return retrain_sensor(ctx)


def test_retrain_sensor_waits_for_enough_new_data(pipeline, monkeypatch):
    project, _ = pipeline
    monkeypatch.setenv(RETRAIN_DAYS_ENV, "21")
    result = _sensor(project)
    assert "no new tickers" in result.skip_message or "(< 21)" in result.skip_message


def test_retrain_sensor_fires_on_new_days_and_new_tickers(pipeline, monkeypatch, tmp_path):
    project, _ = pipeline
    copy = tmp_path / "warehouse.duckdb"
    copy.write_bytes(project.warehouse_path.read_bytes())
    other = Project(root=tmp_path, instance=project.instance)
    con = duckdb.connect(str(copy))
    try:  # the last training "ended" 30 trading days ago; then a new ticker gets factors
        con.execute(
            "UPDATE trainings SET data_end = (SELECT DISTINCT date FROM factor_values "
            "ORDER BY date DESC LIMIT 1 OFFSET 30)"
        )
    finally:
        con.close()
    monkeypatch.setenv(RETRAIN_DAYS_ENV, "21")
    request = _sensor(other)
    assert "30 new trading days" in request.tags["quant_assets/retrain_reason"]
    monkeypatch.setenv(RETRAIN_DAYS_ENV, "40")
    assert _sensor(other).skip_message
    con = duckdb.connect(str(copy))
    try:
        con.execute(
            "INSERT INTO factor_values SELECT 'NEW', date, factor, value FROM factor_values "
            "WHERE ticker = 'AAPL'"
        )
    finally:
        con.close()
    request = _sensor(other)
    assert "new tickers NEW" in request.tags["quant_assets/retrain_reason"]


def test_retrain_sensor_never_fires_while_a_training_runs(pipeline, tmp_path):
    project, _ = pipeline
    with DagsterInstance.ephemeral() as instance:
        other = Project(root=project.root, instance=instance)
        # no training in this warehouse copy would fire; a running retrain blocks it
        instance.add_run(
            DagsterRun(job_name=retrain_job.name, run_id="r" * 8, status=DagsterRunStatus.STARTED)
        )
        result = _sensor(other)
        assert "queued or running" in result.skip_message


def test_predictions_need_a_training(tmp_path):
    with DagsterInstance.ephemeral() as instance:
        (tmp_path / "raw").mkdir()
        project = Project(root=tmp_path, instance=instance)
        result = project.materialize(
            [predictions], start="2018-02-07", end="2018-02-07", raise_on_error=False
        )
        assert not result.success
        failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
        assert "materialize trained_models first" in str(failure.event_specific_data.error)


def test_bad_training_config_fails_naming_the_field(tmp_path):
    with DagsterInstance.ephemeral() as instance:
        (tmp_path / "raw").mkdir()
        project = Project(root=tmp_path, instance=instance)
        result = project.materialize(
            [trained_models],
            config={"trained_models": {"config": {"max_epochs": -1}}},
            raise_on_error=False,
        )
        assert not result.success
        failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
        message = str(failure.event_specific_data.error)
        assert "max_epochs" in message and "greater than or equal to 1" in message
