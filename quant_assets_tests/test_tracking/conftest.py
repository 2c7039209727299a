"""A small real panel, one trained network, and MLflow stores copied from a prepared template."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from threadpoolctl import threadpool_limits

from quant_assets.ingest import read_prices
from quant_assets.models import (
    TrainConfig,
    build_panel,
    deep_momentum_features,
    train_model,
    train_validation_test_split,
)
from quant_assets.tracking import MlflowTracker

TICKERS = ["AAPL", "JPM", "KO", "XOM"]
SMALL = TrainConfig(
    sequence_length=10, batch_size=8, max_epochs=3, hidden_size=8, device="cpu", seed=7
)


@pytest.fixture(autouse=True)
def one_thread():
    """Two shared cores: one torch and BLAS thread keeps runs reproducible and polite."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def real_closes(shared_data) -> pd.DataFrame:
    """Closes of four S&P 500 stocks, 2013-02 to 2018-02, read and validated by our reader."""
    valid, _ = read_prices(shared_data / "sp500_5yr_2013_2018.csv.gz")
    rows = valid[valid["ticker"].isin(TICKERS)]
    wide = rows.pivot(index="date", columns="ticker", values="close")
    return wide.rename_axis(index="date", columns="ticker")[TICKERS]


@pytest.fixture(scope="session")
def panel(real_closes):
    return build_panel(deep_momentum_features(real_closes), real_closes)


@pytest.fixture(scope="session")
def split(panel):
    """Train to mid-2016, validate to mid-2017, test to 2018-02 (features need a year first)."""
    return train_validation_test_split(
        panel.dates, validation_start="2016-07-01", test_start="2017-07-01", embargo=10
    )


@pytest.fixture(scope="session")
def trained_mlp(panel, split):
    return train_model("mlp", panel, split, SMALL)


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory):
    """A migrated MLflow database, created on demand in a folder that did not exist.

    Creating MLflow's schema takes seconds; each test copies this file instead.
    """
    database = tmp_path_factory.mktemp("template") / "not" / "yet" / "mlflow.db"
    tracker = MlflowTracker(f"sqlite:///{database}", experiment_name="template")
    tracker.experiment_id  # noqa: B018 - opens (creates) the store
    tracker.client.search_registered_models(max_results=1)
    return database


def copy_store(folder: Path, template: Path) -> MlflowTracker:
    """A fresh store under ``folder/mlflow`` with the default experiment name."""
    database = folder / "mlflow" / "mlflow.db"
    database.parent.mkdir()
    shutil.copy(template, database)
    return MlflowTracker(f"sqlite:///{database}")


@pytest.fixture
def tracker(tmp_path, mlflow_template) -> MlflowTracker:
    return copy_store(tmp_path, mlflow_template)
