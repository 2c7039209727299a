"""The report labels every model with its training state and never shows an unconverged model
as a result (issue 15, item 9): the state is read from a real warehouse's model_versions."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from quant_assets.backtest.report import (
    RESULT,
    TRAINING_SECTION,
    WITHHELD_SECTION,
    render_report,
    training_state_table,
    withhold_unconverged,
)
from quant_assets.warehouse.models import (
    TRAINING_STATE_COLUMNS,
    insert_model_versions,
    load_training_state,
    record_training,
)
from quant_assets.warehouse.schema import create_schema
from quant_assets_tests.test_backtest.test_report import _Page, sample_inputs


def _version(model, family, window, **state) -> dict:
    start = dt.date(2014 + window, 1, 2)
    return {
        "model": model,
        "family": family,
        "window": window,
        "model_version": f"{model}/{window + 1}",
        "registered_name": None,
        "version": None,
        "mlflow_run_id": None,
        "train_start": None,
        "train_end": None,
        "test_start": start,
        "test_end": None if window else dt.date(2014, 12, 31),
        "val_sharpe": 0.1,
        "test_sharpe": 0.2,
        **state,
    }


def _net(model, window, *, converged_seeds=5, beat=5, epochs=14.0):
    return _version(
        model,
        "network",
        window,
        seeds=5,
        epochs_run=epochs,
        epochs_run_max=int(epochs) + 3,
        best_epoch=epochs - 10,
        converged=converged_seeds == 5,
        converged_seeds=converged_seeds,
        beat_init_seeds=beat,
        initial_val_loss=0.2,
        best_val_loss=-0.5,
    )


VERSIONS = pd.DataFrame(
    [
        _net("equal_weight", 0),
        _net("equal_weight", 1, epochs=20.0),
        # window 1: two seeds hit max_epochs
        _net("momentum_60d", 0),
        _net("momentum_60d", 1, converged_seeds=3),
        _version("reversal_20d", "forecaster", 0),
        _version("reversal_20d", "forecaster", 1),
    ]
)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    con = duckdb.connect(str(tmp_path_factory.mktemp("wh") / "warehouse.duckdb"))
    create_schema(con)
    record_training(
        con,
        training_id="t1",
        dagster_run_id="t1",
        data_start=dt.date(2013, 2, 8),
        data_end=dt.date(2018, 2, 7),
        tickers=["A"],
        factors=["f"],
        device="cpu",
        config={},
        versions=VERSIONS,
    )
    yield con
    con.close()


def test_training_state_round_trips_through_model_versions(warehouse):
    state = load_training_state(warehouse)
    assert len(state) == len(VERSIONS)
    nets = state[state["family"] == "network"].sort_values(["model", "window"])
    assert nets["seeds"].tolist() == [5, 5, 5, 5]
    assert nets["converged_seeds"].tolist() == [5, 5, 5, 3]
    assert nets["converged"].tolist() == [True, True, True, False]
    assert nets["epochs_run"].tolist() == [14.0, 20.0, 14.0, 14.0]
    forecasters = state[state["family"] == "forecaster"]
    assert forecasters[list(TRAINING_STATE_COLUMNS)].isna().all().all()


def test_an_old_warehouse_without_the_columns_still_opens_and_reads(tmp_path):
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    create_schema(con)
    for column in TRAINING_STATE_COLUMNS:  # as the table was before the training state
        con.execute(f"ALTER TABLE model_versions DROP COLUMN IF EXISTS {column}")
    con.execute(
        "INSERT INTO trainings VALUES ('old', 'old', DATE '2013-01-01', DATE '2018-01-01', "
        "['A'], ['f'], 'cpu', '{}', now()::TIMESTAMP, NULL)"
    )
    base = VERSIONS.drop(columns=list(TRAINING_STATE_COLUMNS)).assign(training_id="old")
    insert_model_versions(con, base)  # what the RL asset writes: no training state
    state = load_training_state(con, "old")
    assert state[list(TRAINING_STATE_COLUMNS)].isna().all().all()
    table = training_state_table(state)
    old_nets = table[table["family"] == "network"]
    assert (old_nets["status"] == "not a result: training state not recorded").all()
    con.close()


def test_the_per_model_table_says_which_models_are_results(warehouse):
    table = training_state_table(load_training_state(warehouse)).set_index("model")
    assert table.loc["equal_weight", "status"] == RESULT
    assert table.loc["equal_weight", "epochs_mean"] == pytest.approx(17.0)
    assert table.loc["equal_weight", "epochs_max"] == 23
    assert table.loc["equal_weight", "beat_init_seeds"] == 10
    assert table.loc["equal_weight", "seed_runs"] == 10
    assert table.loc["momentum_60d", "status"] == ("not a result: 1 of 2 windows did not converge")
    assert table.loc["momentum_60d", "converged_windows"] == 1
    assert table.loc["reversal_20d", "status"] == RESULT
    assert np.isnan(table.loc["reversal_20d", "seeds"])


def test_most_seeds_must_beat_the_untrained_network():
    state = pd.DataFrame([_net("lstm", 0, beat=2), _net("lstm", 1, beat=5)])
    [row] = training_state_table(state).itertuples()
    assert row.status == "not a result: most seeds no better than the untrained network"
    assert row.beat_init_seeds == 7 and row.seed_runs == 10


def test_an_unconverged_model_is_shown_apart_never_as_a_result(warehouse, shared_data, tmp_path):
    inputs = sample_inputs(shared_data, n_tickers=10)
    table = training_state_table(load_training_state(warehouse))
    models = {s: s for s in inputs.equity.columns}
    shown = withhold_unconverged(inputs, table, models)
    assert list(shown.equity.columns) == ["equal_weight", "reversal_20d"]
    assert list(shown.metrics.index) == ["equal_weight", "reversal_20d"]
    assert "momentum_60d" not in set(shown.cost_sensitivity.columns)
    assert "momentum_60d" not in set(shown.monte_carlo["strategy"])
    assert list(shown.withheld.index) == ["momentum_60d"]

    files = render_report(shown, tmp_path)
    text = files.html.read_text(encoding="utf-8")
    page = _Page(text)
    assert not page.open and not page.mismatched
    ids = page.ids
    assert ids.index(TRAINING_SECTION[0]) < ids.index(WITHHELD_SECTION[0]) < ids.index("equity")
    # the unconverged model's name appears only in the training-state and not-results sections
    before, rest = text.split(f'<section id="{WITHHELD_SECTION[0]}">', 1)
    withheld, after = rest.split("</section>", 1)
    assert "momentum_60d" not in before.split(f'<section id="{TRAINING_SECTION[0]}">', 1)[0]
    assert "momentum_60d" in withheld and "NOT RESULTS" in withheld
    assert "momentum_60d" not in after
    assert "not a result: 1 of 2 windows did not converge" in page.texts
    assert "5/5" not in page.texts and "1/2" in page.texts  # converged windows, per model


def test_with_nothing_converged_the_figures_keep_them_flagged(shared_data):
    inputs = sample_inputs(shared_data, n_tickers=10)
    states = [_net(s, 0, converged_seeds=0) for s in inputs.equity.columns]
    table = training_state_table(pd.DataFrame(states))
    shown = withhold_unconverged(inputs, table, {s: s for s in inputs.equity.columns})
    assert all(name.endswith("[not a result]") for name in shown.equity.columns)
    assert all(name.endswith("[not a result]") for name in shown.metrics.index)


@pytest.mark.parametrize("backend", ["duckdb", "ducklake"])
def test_the_training_state_columns_migrate_on_both_backends(backend, tmp_path):
    from quant_assets_tests.test_warehouse.conftest import warehouse_on

    warehouse = warehouse_on(backend, tmp_path)
    for training_id in ("t1", "t2"):  # the migration runs again, idempotent
        with warehouse.transaction() as con:
            record_training(
                con,
                training_id=training_id,
                dagster_run_id=training_id,
                data_start=dt.date(2013, 2, 8),
                data_end=dt.date(2018, 2, 7),
                tickers=["A"],
                factors=["f"],
                device="cpu",
                config={},
                versions=VERSIONS,
            )
    with warehouse.connect(read_only=True) as con:
        state = load_training_state(con, "t2")
    assert state.loc[state["family"] == "network", "converged_seeds"].tolist() == [5, 5, 5, 3]
