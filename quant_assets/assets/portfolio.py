"""Portfolio asset: target weights per strategy, ticker and trading day (``weights`` table).

A strategy is a model's out-of-sample positions turned into orders by one sizing method:
volatility targeting for every model and baseline, and Black-Litterman (the model's positions as
views on an equal-weight prior, through skfolio) for the networks. Weights for a day use
predictions and closes up to that day only; the no-trade band makes each order depend on the
previous ones, so a run recomputes the path from the first prediction (cheap: a few thousand
dates) and writes only its own days.
"""

# No `from __future__ import annotations` here: Dagster reads these annotations at runtime.

from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field, field_validator

from quant_assets.assets.factors import ON_UPSTREAM_UPDATE
from quant_assets.assets.models import predictions
from quant_assets.partitions import trading_day_partitions, trading_day_window
from quant_assets.portfolio import METHODS, REBALANCE_FREQUENCIES
from quant_assets.portfolio.strategies import strategy_configs, strategy_weights
from quant_assets.resources.warehouse import Warehouse
from quant_assets.warehouse.backtests import replace_weights
from quant_assets.warehouse.models import load_closes, load_predictions

SIZING_METHODS = [m for m in METHODS if m != "black_litterman"]


class TargetWeightsConfig(Config):
    """Sizing of every strategy; see :class:`quant_assets.portfolio.PortfolioConfig`.

    Weights are fractions of equity (0.25 = 25 % of the book long in one ticker).
    """

    methods: list[str] = Field(
        default=["vol_target"],
        description=f"Sizing methods applied to every model's positions, any of {SIZING_METHODS}.",
    )
    black_litterman_models: list[str] = Field(
        default=["mlp", "lstm", "tft"],
        description=(
            "Models that also get a Black-Litterman strategy (their positions as views on an "
            "equal-weight prior, rebalanced monthly); [] = none."
        ),
    )
    target_vol: float = Field(
        default=0.15,
        gt=0.0,
        le=2.0,
        description="Volatility target of vol_target, as an annualised fraction (0.15 = 15 %).",
    )
    max_weight: float = Field(
        default=0.25,
        gt=0.0,
        le=10.0,
        description="Cap on |weight| of one ticker, as a fraction of equity.",
    )
    max_gross: float = Field(
        default=1.5,
        gt=0.0,
        le=10.0,
        description="Cap on the sum of |weights| per day (gross leverage), fraction of equity.",
    )
    max_net: float = Field(
        default=1.0,
        ge=0.0,
        le=10.0,
        description="Cap on |sum of weights| per day (net exposure), fraction of equity.",
    )
    long_only: bool = Field(default=False, description="Clip short weights to zero.")
    rebalance: str = Field(
        default="weekly",
        description=f"When targets become orders, one of {list(REBALANCE_FREQUENCIES)} "
        "(weekly/monthly: the first trading day of each week/month).",
    )
    no_trade_band: float = Field(
        default=0.01,
        ge=0.0,
        le=1.0,
        description=(
            "A ticker trades only where its target moved more than this from the last order, "
            "as a fraction of equity (0.01 = 1 %); 0 = trade every target."
        ),
    )

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, methods: list[str]) -> list[str]:
        return _subset_of(methods, SIZING_METHODS)

    @field_validator("rebalance")
    @classmethod
    def _known_frequency(cls, rebalance: str) -> str:
        return _subset_of([rebalance], list(REBALANCE_FREQUENCIES))[0]

    def limits(self) -> dict:
        """The PortfolioConfig fields shared by every strategy."""
        return self.model_dump(exclude={"methods", "black_litterman_models"})


def _subset_of(values: list[str], allowed: list[str]) -> list[str]:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {unknown}: choose from {allowed}")
    return values


@asset(
    deps=[predictions],
    partitions_def=trading_day_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    automation_condition=ON_UPSTREAM_UPDATE,
    group_name="portfolio",
    pool="warehouse",
    kinds={"duckdb", "skfolio"},
)
def target_weights(
    context: AssetExecutionContext, config: TargetWeightsConfig, warehouse: Warehouse
) -> MaterializeResult:
    """Orders as target fractions of equity per strategy (``weights``); a missing row = hold."""
    start, end = trading_day_window(context)
    with warehouse.connect(read_only=True) as con:
        preds = load_predictions(con, None, end)
        closes = load_closes(con, end)
    if preds.empty:
        raise Failure("no predictions: materialize trained_models and predictions first")
    strategies = strategy_configs(
        sorted(preds["model"].unique()),
        config.methods,
        config.black_litterman_models,
        config.limits(),
    )
    weights, summary = strategy_weights(preds, closes, strategies, start, end)
    with warehouse.transaction() as con:
        deleted, inserted = replace_weights(con, weights, start, end)
    return MaterializeResult(
        metadata={
            "window": f"{start}..{end}",
            "strategies": len(summary),
            "rows_written": inserted,
            "rows_replaced": deleted,
            "strategy_summary": MetadataValue.md(summary.to_markdown(index=False, floatfmt=".3f")),
        }
    )
