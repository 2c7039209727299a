"""Model assets: walk-forward training tracked in MLflow, and out-of-sample predictions.

``trained_models`` trains every configured network (MLP, LSTM, TFT), forecaster (ridge, random
forest, gradient boosting) and rule baseline (long-only, TSMOM, MACD) on each walk-forward window
(:func:`quant_assets.tracking.walk_forward.train_and_track`): the Dagster run's MLflow run is
opened through dagster-mlflow and every model x window is a nested run under it, with a
registered version for the fitted ones, recorded in the warehouse. ``predictions`` turns them
into positions for its trading days (:func:`quant_assets.tracking.predictions.predict_window`):
the version whose test block holds a date predicts it, and dates after the last block are
predicted by the newest version, so every stored position is out of sample for the model that
made it.
"""

# No `from __future__ import annotations` here: Dagster reads these annotations at runtime.
import time

from dagster import (
    AssetExecutionContext,
    AssetSelection,
    AutomationCondition,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from quant_assets.assets.factors import factor_values
from quant_assets.models import FORECAST_KINDS, FORECASTERS, NETWORK_KINDS, TrainConfig
from quant_assets.models.baselines import RULES
from quant_assets.models.features import DEEP_MOMENTUM_FACTORS as _DEEP_MOMENTUM_FACTORS
from quant_assets.models.walk_forward import DEFAULT_SEEDS, plan_windows, training_panel
from quant_assets.partitions import trading_day_partitions, trading_day_window
from quant_assets.resources.compute import ComputeResource
from quant_assets.resources.mlflow import MLflowResource
from quant_assets.resources.warehouse import Warehouse
from quant_assets.tracking.predictions import predict_window, predictions_by_version
from quant_assets.tracking.provenance import RunProvenance
from quant_assets.tracking.walk_forward import (
    CONVERGENCE_COLUMNS,
    ModelPlan,
    TrainingOutcome,
    train_and_track,
)
from quant_assets.warehouse.ducklake import current_snapshot_id
from quant_assets.warehouse.models import (
    load_best_params,
    load_closes,
    load_features,
    load_prediction_inputs,
    record_training,
    replace_predictions,
)

# Lim et al. (2019): volatility-normalised returns over five horizons and Baz et al.'s MACD
# signals. Every registered factor can be chosen instead (config ``factors``).
DEEP_MOMENTUM_FACTORS = list(_DEEP_MOMENTUM_FACTORS)
TRADING_DAYS = "trading days"


class TrainedModelsConfig(Config):
    """Which models to train, on which walk-forward windows, with which hyper-parameters.

    The defaults are research settings (issue 15): every network x window is trained from five
    seeds and holds their average position, early stopping watches a two-year validation block
    (purged by the embargo) with patience 10, training windows every 5 days, with the
    learning-rate schedule and gradient clipping of ``TrainConfig``; a rolling five-year training
    window, retraining every six years. ``make run`` trains fewer windows
    (``quant_assets.cli.pipeline.LAPTOP_TRAINED_MODELS``). On a GPU use ``window="expanding"``,
    raise ``hidden_size`` and retrain every year (``retrain_every="YS"``).
    """

    factors: list[str] = Field(
        default=DEEP_MOMENTUM_FACTORS,
        min_length=1,
        description="Registered factors (names in factor_values) the models read, in order.",
    )
    networks: list[str] = Field(
        default=list(NETWORK_KINDS),
        description=f"Networks to train, any of {list(NETWORK_KINDS)}; empty: none.",
    )
    forecasters: list[str] = Field(
        default=list(FORECASTERS),
        description=f"Forecasters to fit, any of {list(FORECAST_KINDS)} (LightGBM and XGBoost on "
        "the compute resource's GPU where it has one); empty: none.",
    )
    rules: list[str] = Field(
        default=list(RULES), description=f"Rule baselines to score, any of {list(RULES)}."
    )
    first_test_start: str = Field(
        default="",
        pattern=r"^(\d{4}(-\d{2}(-\d{2})?)?)?$",
        description="First date of the first test block (YYYY[-MM[-DD]]); empty: January 1 "
        "after 60% of the history.",
    )
    retrain_every: str = Field(
        default="6YS",
        pattern=r"^\d*(YS|QS|MS|BYS|BQS|BMS|W)$",
        description="Test block length, a pandas offset alias (e.g. 6YS: six years, YS: one).",
    )
    window: str = Field(
        default="rolling",
        pattern="^(expanding|rolling)$",
        description="Training block: 'expanding' (all history) or 'rolling' (train_length).",
    )
    train_length: int = Field(
        default=1260,
        ge=0,
        le=50_000,
        description=f"Rolling training block, {TRADING_DAYS}; 0: all history.",
    )
    validation_length: int = Field(
        default=504,
        ge=21,
        le=2520,
        description=f"Validation block that early stopping watches, {TRADING_DAYS} (research "
        "default two years; purged from training by the embargo).",
    )
    embargo: int = Field(
        default=63,
        ge=0,
        le=1000,
        description=f"Gap between blocks, {TRADING_DAYS}; at least sequence_length.",
    )
    sequence_length: int = Field(
        default=21, ge=1, le=504, description=f"Network context window, {TRADING_DAYS}."
    )
    stride: int = Field(
        default=5,
        ge=1,
        le=504,
        description=f"Step between training windows, {TRADING_DAYS} (research default 1-5).",
    )
    eval_stride: int = Field(
        default=10,
        ge=1,
        le=504,
        description="Validation/test dates scored per network call while training (1: each "
        "date from its own window, exact but slowest).",
    )
    max_epochs: int = Field(
        default=100, ge=1, le=10_000, description="Upper bound on training epochs (passes)."
    )
    patience: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Early stopping: epochs without a better validation Sharpe before stopping.",
    )
    hidden_size: int = Field(
        default=16, ge=1, le=4096, description="Hidden units per network layer."
    )
    learning_rate: float = Field(
        default=1e-3, gt=0.0, le=1.0, description="Adam learning rate (per step, unitless)."
    )
    cost_bps: float = Field(
        default=2.0,
        ge=0.0,
        le=1000.0,
        description="Turnover cost in the Sharpe loss and scores, bps per unit traded.",
    )
    l1: float = Field(
        default=1e-5, ge=0.0, le=1.0, description="L1 penalty weight on the network weights."
    )
    seed: int = Field(
        default=0,
        ge=0,
        le=2**31 - 1,
        description="Base random seed; window i trains with a seed derived from it and i.",
    )
    seeds: int = Field(
        default=DEFAULT_SEEDS,
        ge=1,
        le=100,
        description="Seeds each network x window is trained from (derived from the window's "
        "seed); its position and registered model are their average.",
    )
    ensemble_size: int = Field(
        default=3,
        ge=0,
        le=20,
        description="Fitted models (networks and forecasters) averaged into the 'ensemble' of "
        "each window, the best on its validation block; 0: no ensemble.",
    )
    importance: bool = Field(
        default=True,
        description="Permutation importance on each window's test block for every fitted "
        "model (and mean |SHAP| for tree models), logged to MLflow and stored for the report.",
    )
    importance_repeats: int = Field(
        default=1, ge=1, le=100, description="Shuffles per factor of the permutation importance."
    )
    shap_rows: int = Field(
        default=2000,
        ge=10,
        le=1_000_000,
        description="At most this many (date, ticker) rows explained by SHAP per tree model.",
    )
    use_tuned_params: bool = Field(
        default=True,
        description="Train a kind with the newest best parameters the hpo asset stored for it "
        "(logged as tuned_* params); false, or none stored: the defaults.",
    )


def network_train_config(config: TrainedModelsConfig, compute: ComputeResource) -> TrainConfig:
    fields = TrainConfig.__dataclass_fields__
    overrides = {k: v for k, v in config.model_dump().items() if k in fields}
    return compute.train_config(TrainConfig(), **overrides)


def _plan(config: TrainedModelsConfig, compute: ComputeResource, tuned: dict) -> ModelPlan:
    train_config = network_train_config(config, compute)
    kinds = {*config.networks, *config.forecasters}
    return ModelPlan(
        config.networks,
        config.forecasters,
        config.rules,
        train_config,
        ensemble_size=config.ensemble_size,
        importance_repeats=config.importance_repeats if config.importance else 0,
        shap_rows=config.shap_rows,
        tuned_params={kind: params for kind, params in tuned.items() if kind in kinds},
        device="cuda" if train_config.device.startswith("cuda") else "cpu",
        seeds=config.seeds,
    )


def trained_models_windows(config: TrainedModelsConfig, dates):
    """The walk-forward splits ``config`` plans on ``dates`` (``rl_agents`` shares them)."""
    return plan_windows(
        dates,
        first_test=config.first_test_start,
        retrain_every=config.retrain_every,
        window=config.window,
        train_length=config.train_length,
        validation_length=config.validation_length,
        embargo=config.embargo,
    )


def _record(
    warehouse: Warehouse, run_id: str, panel, plan, config, outcome, snapshot_id: int | None
) -> None:
    with warehouse.transaction() as con:
        record_training(
            con,
            training_id=run_id,
            dagster_run_id=run_id,
            data_start=panel.dates[0].date(),
            data_end=panel.dates[-1].date(),
            tickers=[str(t) for t in panel.tickers],
            factors=list(panel.factors),
            device=str(plan.train_config.device),
            config=config.model_dump(),
            versions=outcome.versions,
            snapshot_id=snapshot_id,
            importance=outcome.importance,
        )


def _training_metadata(outcome: TrainingOutcome, splits, panel, parent: str | None) -> dict:
    versions = outcome.versions
    shown = ["model", "window", "model_version", "test_start", "val_sharpe", "test_sharpe"]
    convergence = list(CONVERGENCE_COLUMNS)
    networks = versions[versions["family"] == "network"]
    return {
        "windows": len(splits),
        "models": len(outcome.summary),
        "tickers": len(panel.tickers),
        "factors": len(panel.factors),
        "data_range": f"{panel.dates[0].date()}..{panel.dates[-1].date()}",
        "first_test_date": str(panel.dates[splits[0].test[0]].date()),
        "mlflow_parent_run_id": str(parent),
        "mlflow_run_ids": MetadataValue.json(
            {f"{r.model}/{r.window}": r.mlflow_run_id for r in versions.itertuples()}
        ),
        "model_versions": MetadataValue.md(
            versions[shown].to_markdown(index=False, floatfmt=".3f")
        ),
        "convergence": MetadataValue.md(
            networks[["model", "window", *convergence]].to_markdown(index=False, floatfmt=".3f")
            if len(networks)
            else "no networks"
        ),
        "out_of_sample_sharpe": MetadataValue.md(
            outcome.summary.sort_values("oos_sharpe", ascending=False).to_markdown(
                index=False, floatfmt=".3f"
            )
        ),
    }


@asset(
    deps=[factor_values],
    group_name="models",
    pool="gpu",
    kinds={"pytorch", "scikitlearn", "mlflow"},
)
def trained_models(
    context: AssetExecutionContext,
    config: TrainedModelsConfig,
    warehouse: Warehouse,
    compute: ComputeResource,
    mlflow: MLflowResource,
) -> MaterializeResult:
    """Every configured model trained walk-forward; one nested MLflow run per model per window.

    Networks are trained with the Sharpe loss (turnover cost in bps) to convergence: early
    stopping on the validation Sharpe, the loss curves logged per epoch; forecasters are tuned
    with time-ordered folds; rules need no fitting but are scored and logged alike. The
    registered versions land in ``model_versions`` with the test block each serves.
    """
    started = time.perf_counter()
    with warehouse.reading() as con:
        snapshot_id = current_snapshot_id(con)
        closes = load_closes(con)
        features = load_features(con, list(closes.columns), factors=config.factors)
        tuned = load_best_params(con) if config.use_tuned_params else {}
    panel = training_panel(features, closes, config.factors)
    splits = trained_models_windows(config, panel.dates)
    plan = _plan(config, compute, tuned)
    provenance = RunProvenance.from_context(context)
    with mlflow.dagster_run(provenance.tags()) as parent:
        outcome = train_and_track(
            panel,
            closes,
            splits,
            plan,
            mlflow.tracker(),
            provenance=provenance.with_data_range(panel.dates[0], panel.dates[-1]),
            compute=compute.describe(),
            parent_run_id=parent,
            log=context.log.info,
        )
    _record(warehouse, context.run_id, panel, plan, config, outcome, snapshot_id)
    return MaterializeResult(
        metadata={
            "training_id": context.run_id,
            **_training_metadata(outcome, splits, panel, parent),
            "device": MetadataValue.json(compute.describe()),
            "tuned_params": MetadataValue.json(dict(plan.tuned_params)),
            "importance_rows": len(outcome.importance),
            "mlflow_tracking_uri": str(mlflow.tracker().tracking_uri),
            "seconds": round(time.perf_counter() - started, 1),
        }
    )


def _after_retraining(models) -> AutomationCondition:
    """Eager on ``models`` only: the latest trading-day partition is predicted again after each
    retraining, once no model is missing or being trained; new days stay the daily schedule's."""
    models_only = AssetSelection.assets(models)
    return (
        AutomationCondition.in_latest_time_window()
        & AutomationCondition.any_deps_updated().allow(models_only).since_last_handled()
        & ~AutomationCondition.any_deps_missing().allow(models_only)
        & ~AutomationCondition.any_deps_in_progress().allow(models_only)
        & ~AutomationCondition.in_progress()
    ).with_label("eager after trained_models")


@asset(
    deps=[trained_models, factor_values],
    partitions_def=trading_day_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    automation_condition=_after_retraining(trained_models),
    group_name="models",
    pool="warehouse",
    kinds={"pytorch", "duckdb"},
)
def predictions(
    context: AssetExecutionContext,
    warehouse: Warehouse,
    compute: ComputeResource,
    mlflow: MLflowResource,
) -> MaterializeResult:
    """Out-of-sample positions in [-1, 1] per model, ticker and trading day (``predictions``).

    Each date is predicted by the version of the newest training whose walk-forward test block
    holds it (dates after the last block: the newest version), loaded back from the MLflow
    registry; dates before the first test block get no prediction, as they were seen in training.
    """
    start, end = trading_day_window(context)
    with warehouse.connect(read_only=True) as con:
        inputs = load_prediction_inputs(con, start, end)
    positions = predict_window(
        inputs.training,
        inputs.versions,
        inputs.closes,
        inputs.features,
        inputs.in_window,
        mlflow.tracker(),
        device=str(compute.torch_device()),
        opens=inputs.opens,
    )
    with warehouse.transaction() as con:
        deleted, inserted = replace_predictions(con, positions, start, end)
    by_model = predictions_by_version(positions)
    return MaterializeResult(
        metadata={
            "window": f"{start}..{end}",
            "training_id": inputs.training["training_id"],
            "rows_written": inserted,
            "rows_replaced": deleted,
            "models": int(positions["model"].nunique()) if len(positions) else 0,
            "model_versions": MetadataValue.md(
                by_model.to_markdown(index=False, floatfmt=".3f") if len(by_model) else "none"
            ),
        }
    )
