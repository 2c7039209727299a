"""The engine-parity asset: the validation scenarios on every installed backtest engine.

``engine_parity`` cuts the scenarios of :mod:`quant_assets.validation` from the warehouse's
closes and runs them on our engine, vectorbt, backtrader and zipline-reloaded (the optional
``validation`` extra); engines that are not installed are skipped and named in the metadata.
"""

# No `from __future__ import annotations` here: Dagster reads these annotations at runtime.
import json

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from quant_assets.assets.ingest import prices
from quant_assets.resources.warehouse import Warehouse
from quant_assets.validation import parity_table, scenarios_from_closes
from quant_assets.warehouse.models import load_closes


class EngineParityConfig(Config):
    """Which slice of the warehouse the scenarios use."""

    n_tickers: int = Field(default=4, ge=3, le=20, description="Tickers in the scenarios.")
    window_bars: int = Field(
        default=252, ge=60, le=2520, description="Most recent bars the scenarios span."
    )


@asset(deps=[prices], group_name="validation", kinds={"duckdb"})
def engine_parity(
    context: AssetExecutionContext, config: EngineParityConfig, warehouse: Warehouse
) -> MaterializeResult:
    """Trades, final value and equity difference vs the reference, per scenario and engine."""
    with warehouse.connect(read_only=True) as con:
        closes = load_closes(con)
    table = parity_table(
        scenarios_from_closes(closes, n_tickers=config.n_tickers, window_bars=config.window_bars)
    )
    missing = sorted(table.loc[table["status"] == "not installed", "engine"].unique())
    if missing:
        context.log.warning(f"engines not installed, skipped: {missing}")
    per_cell = {
        f"{row['scenario']}/{row['engine']}": MetadataValue.json(row)
        for row in json.loads(table.to_json(orient="records"))
    }
    ran = table[table["status"] == "ran"]
    return MaterializeResult(
        metadata={
            "parity": MetadataValue.md(table.drop(columns="reason").to_markdown(index=False)),
            "engines_not_installed": MetadataValue.json(missing),
            "runs_to_the_cent": int(ran["to_the_cent"].astype(bool).sum()),
            "runs": len(ran),
            **per_cell,
        }
    )
