"""Hyper-parameter search: one Optuna study per model kind, its trials nested MLflow runs.

``hpo`` tunes each configured kind on the training block of the newest walk-forward window of
the default ``trained_models`` windows (purged cross-validation inside it; its validation and
test blocks are never seen), with a TPE sampler, a median or Hyperband pruner and persistent
storage (an SQLite file under the data directory by default, any SQLAlchemy URL such as
``postgresql://...`` instead). Every trial is an MLflow run nested under the Dagster run's own.
The best parameters of each kind land in ``hpo_best_params``; ``trained_models`` trains with the
newest of them (``use_tuned_params``).
"""

# No `from __future__ import annotations` here: Dagster reads these annotations at runtime.
import time

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from quant_assets.assets.factors import factor_values
from quant_assets.assets.models import (
    TrainedModelsConfig,
    network_train_config,
    trained_models_windows,
)
from quant_assets.models.baselines import FORECAST_KINDS
from quant_assets.models.hpo import NETWORK_KINDS_TUNED, PRUNERS, sqlite_url
from quant_assets.models.walk_forward import training_panel
from quant_assets.paths import data_dir
from quant_assets.resources.compute import ComputeResource
from quant_assets.resources.mlflow import MLflowResource
from quant_assets.resources.warehouse import Warehouse
from quant_assets.tracking.hpo import StudyPlan, best_params_table, tune_kinds
from quant_assets.tracking.provenance import RunProvenance
from quant_assets.warehouse.models import load_closes, load_features, record_best_params

TUNABLE_KINDS = [*FORECAST_KINDS, *NETWORK_KINDS_TUNED]


class HpoConfig(Config):
    """Which kinds to tune, the budget, the pruner and where studies are stored."""

    kinds: list[str] = Field(
        default=["ridge", "xgboost"],
        min_length=1,
        description=f"Model kinds to tune, any of {TUNABLE_KINDS}.",
    )
    n_trials: int = Field(
        default=20, ge=1, le=10_000, description="Most new trials per kind in this run."
    )
    minutes: float = Field(
        default=10.0,
        gt=0.0,
        le=10_080.0,
        description="Per kind: no new trial starts after this many minutes (the running one ends).",
    )
    pruner: str = Field(
        default="median",
        pattern="^(median|hyperband|none)$",
        description=f"Pruner stopping poor trials after a fold, one of {list(PRUNERS)}.",
    )
    n_folds: int = Field(
        default=3, ge=2, le=20, description="Purged cross-validation folds in the training block."
    )
    storage_url: str = Field(
        default="",
        description="SQLAlchemy URL of the Optuna storage (sqlite:///..., postgresql://...); "
        "empty: the SQLite file hpo/optuna.db under the data directory.",
    )
    study_prefix: str = Field(
        default="quant_assets",
        pattern=r"^[A-Za-z0-9_.-]{1,100}$",
        description="Studies are named <prefix>-<kind>; a study of that name is resumed.",
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Seed of the TPE sampler.")
    training: TrainedModelsConfig = Field(
        default_factory=TrainedModelsConfig,
        description="Factors, walk-forward windows and network base settings, as trained_models "
        "takes them: the newest window's training block is tuned on.",
    )


def _storage(config: HpoConfig) -> str:
    if config.storage_url:
        return config.storage_url
    folder = data_dir() / "hpo"
    folder.mkdir(parents=True, exist_ok=True)
    return sqlite_url(folder / "optuna.db")


def _study_plan(config: HpoConfig, compute: ComputeResource) -> StudyPlan:
    unknown = sorted(set(config.kinds) - set(TUNABLE_KINDS))
    if unknown:
        raise ValueError(f"unknown model kinds {unknown}; expected any of {TUNABLE_KINDS}")
    train_config = network_train_config(config.training, compute)
    return StudyPlan(
        study_prefix=config.study_prefix,
        storage_url=_storage(config),
        n_trials=config.n_trials,
        timeout_s=config.minutes * 60.0,
        pruner=config.pruner,
        n_folds=config.n_folds,
        seed=config.seed,
        cost_bps=train_config.cost_bps,
        train_config=train_config,
        device="cuda" if train_config.device.startswith("cuda") else "cpu",
    )


@asset(deps=[factor_values], group_name="models", pool="gpu", kinds={"optuna", "mlflow"})
def hpo(
    context: AssetExecutionContext,
    config: HpoConfig,
    warehouse: Warehouse,
    compute: ComputeResource,
    mlflow: MLflowResource,
) -> MaterializeResult:
    """The best parameters of each configured kind, by purged CV on the newest training block.

    Each trial is an MLflow run nested under the Dagster run's; the best parameters of each kind
    go to ``hpo_best_params``, where ``trained_models`` reads them.
    """
    started = time.perf_counter()
    plan = _study_plan(config, compute)
    defaults = config.training
    with warehouse.connect(read_only=True) as con:
        closes = load_closes(con)
        features = load_features(con, list(closes.columns), factors=defaults.factors)
    panel = training_panel(features, closes, defaults.factors)
    split = trained_models_windows(defaults, panel.dates)[-1]
    provenance = RunProvenance.from_context(context)
    with mlflow.dagster_run(provenance.tags()) as parent:
        best = tune_kinds(
            config.kinds,
            panel,
            split,
            plan,
            mlflow.tracker(),
            provenance=provenance,
            parent_run_id=parent,
        )
    with warehouse.transaction() as con:
        for kind, b in best.items():
            record_best_params(
                con,
                study=b.study_name,
                kind=kind,
                params=b.params,
                value=b.value,
                n_trials=b.n_trials,
            )
    table = best_params_table(best)
    return MaterializeResult(
        metadata={
            "best_params": MetadataValue.md(table.to_markdown(index=False, floatfmt=".3f")),
            "mlflow_parent_run_id": str(parent),
            "train_block": f"{panel.dates[split.train[0]].date()}.."
            f"{panel.dates[split.train[-1]].date()}",
            "seconds": round(time.perf_counter() - started, 1),
        }
    )
