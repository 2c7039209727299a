"""The one Definitions object of the code location."""

from __future__ import annotations

from dagster import Definitions

from quant_assets.assets.backtest import backtest_checks, backtest_report, backtests
from quant_assets.assets.factors import factor_checks, factor_values
from quant_assets.assets.hpo import hpo
from quant_assets.assets.ingest import fmp_daily_bars, price_files, prices
from quant_assets.assets.models import predictions, trained_models
from quant_assets.assets.portfolio import target_weights
from quant_assets.assets.rl import rl_agents
from quant_assets.assets.validation import engine_parity
from quant_assets.automation.checks import price_checks
from quant_assets.automation.retrain import retrain_job, retrain_sensor
from quant_assets.automation.schedules import daily_update_job, daily_update_schedule
from quant_assets.automation.sensors import ingest_price_files_job, raw_files_sensor
from quant_assets.resources.compute import ComputeResource
from quant_assets.resources.fmp import FMPClient
from quant_assets.resources.mlflow import MLflowResource
from quant_assets.resources.raw_files import RawFileStore
from quant_assets.resources.warehouse import Warehouse

RESOURCES = {
    "warehouse": Warehouse(),
    "raw_files": RawFileStore(),
    "fmp": FMPClient(),
    "compute": ComputeResource(),
    "mlflow": MLflowResource(),
}

ASSETS = [
    price_files,
    fmp_daily_bars,
    prices,
    factor_values,
    trained_models,
    hpo,
    rl_agents,
    predictions,
    target_weights,
    backtests,
    backtest_report,
    engine_parity,
]
CHECKS = [*price_checks, *factor_checks, *backtest_checks]


def checks_for(assets) -> list:
    """The asset checks on any of ``assets``, to run in the same materialization."""
    keys = {key for a in assets for key in a.keys}
    return [c for c in CHECKS if any(k.asset_key in keys for k in c.check_keys)]


defs = Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    jobs=[ingest_price_files_job, daily_update_job, retrain_job],
    schedules=[daily_update_schedule],
    sensors=[raw_files_sensor, retrain_sensor],
    resources=RESOURCES,
)
