"""The RL trader in the graph: PPO agents trained beside the newest supervised training.

``rl_agents`` trains stable-baselines3 PPO (:func:`quant_assets.rl.train_walk_forward_ppo`) on
the walk-forward windows of the newest ``trained_models`` training, built from that training's
recorded config with the same planner, on its tickers and factors, so PPO and the supervised
models share windows, embargo and inputs. Every window x seed is a nested MLflow run under the
Dagster run's (reward curves, best checkpoint registered as ``<experiment>-ppo``); per window,
the seed with the best validation reward becomes that training's ``ppo`` row of
``model_versions``, which ``predictions`` then serves like any other model.
"""

# No `from __future__ import annotations` here: Dagster reads these annotations at runtime.
import json
import time

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from quant_assets.assets.factors import factor_values
from quant_assets.assets.models import (
    TrainedModelsConfig,
    trained_models,
    trained_models_windows,
)
from quant_assets.models.walk_forward import training_panel
from quant_assets.resources.mlflow import MLflowResource
from quant_assets.resources.warehouse import Warehouse
from quant_assets.rl import (
    EnvConfig,
    RewardSettings,
    TradingCosts,
    default_storage_url,
    stored_best_params,
    train_walk_forward_ppo,
)
from quant_assets.tracking.provenance import RunProvenance
from quant_assets.tracking.rl import PPO_MODEL, log_ppo_run, ppo_version_rows
from quant_assets.warehouse.models import latest_training, load_closes, load_features, load_opens
from quant_assets.warehouse.rl import replace_model_versions


class RLAgentsConfig(Config):
    """How the PPO agents are trained; windows, tickers, factors and costs are the training's."""

    seeds: int = Field(default=5, ge=1, le=100, description="Agents (seeds 0..n-1) per window.")
    total_timesteps: int = Field(
        default=100_000, ge=256, le=100_000_000, description="Environment steps per agent."
    )
    n_envs: int = Field(default=16, ge=1, le=1024, description="Training environments per agent.")
    action: str = Field(
        default="discrete",
        pattern="^(discrete|continuous)$",
        description="'discrete' (short/flat/long) or 'continuous' (target weight in [-1, 1]).",
    )
    observation_window: int = Field(
        default=20, ge=1, le=252, description="Trading days of factors per observation."
    )
    episode_length: int = Field(
        default=252, ge=2, le=5040, description="Trading days per training episode."
    )
    drawdown_penalty: float = Field(
        default=0.0, ge=0.0, le=100.0, description="Reward penalty per unit of drawdown increase."
    )
    turnover_penalty: float = Field(
        default=0.0, ge=0.0, le=100.0, description="Reward penalty per unit of weight traded."
    )
    reward_clip: float = Field(
        default=0.25, gt=0.0, le=10.0, description="Bound on each step's reward (log units)."
    )
    device: str = Field(
        default="auto",
        pattern=r"^(auto|cpu|cuda(:\d+)?)$",
        description="Torch device: 'auto' (GPU where present), 'cpu', 'cuda' or 'cuda:N'.",
    )
    use_tuned_params: bool = Field(
        default=True,
        description="Train with the best stored Optuna trial of tuning_study when there is one.",
    )
    tuning_storage: str = Field(
        default="",
        max_length=2000,
        description="Optuna storage URL; empty: SQLite file optuna/optuna.db under the data dir.",
    )
    tuning_study: str = Field(
        default="ppo", min_length=1, max_length=200, description="Optuna study name."
    )

    def env_config(self) -> EnvConfig:
        reward = RewardSettings(self.drawdown_penalty, self.turnover_penalty, self.reward_clip)
        return EnvConfig(self.observation_window, self.episode_length, self.action, reward)

    def hyperparams(self) -> dict | None:
        if not self.use_tuned_params:
            return None
        return stored_best_params(self.tuning_storage or default_storage_url(), self.tuning_study)


def _inputs(warehouse: Warehouse):
    with warehouse.reading() as con:
        training = latest_training(con)
        if training is None:
            raise ValueError("no training yet: materialize trained_models first")
        tickers, factors = list(training["tickers"]), list(training["factors"])
        closes, opens = load_closes(con)[tickers], load_opens(con)[tickers]
        features = load_features(con, tickers, factors=factors)
    return training, training_panel(features, closes, factors), closes, opens


def _recorded_config(training: dict) -> TrainedModelsConfig:
    """The newest training's config as ``trained_models`` recorded it (its windows and costs)."""
    recorded = json.loads(training["config"])
    return TrainedModelsConfig(
        **{k: v for k, v in recorded.items() if k in TrainedModelsConfig.model_fields}
    )


def _metadata(training, splits, result, logged, versions, parent, hyperparams) -> dict:
    shown = ["window", "model_version", "test_start", "test_end", "test_sharpe"]
    return {
        "training_id": training["training_id"],
        "windows": len(splits),
        "agents": len(result.runs),
        "tuned_params": MetadataValue.json(hyperparams or {}),
        "mlflow_parent_run_id": str(parent),
        "mlflow_run_ids": MetadataValue.json(
            {
                f"{r.split_index}/{r.seed}": m.run_id
                for r, m in zip(result.runs, logged, strict=True)
            }
        ),
        "model_versions": MetadataValue.md(versions[shown].to_markdown(index=False)),
    }


@asset(
    deps=[factor_values, trained_models],
    group_name="models",
    pool="gpu",
    kinds={"pytorch", "mlflow"},
)
def rl_agents(
    context: AssetExecutionContext,
    config: RLAgentsConfig,
    warehouse: Warehouse,
    mlflow: MLflowResource,
) -> MaterializeResult:
    """PPO agents per walk-forward window and seed; the best seed per window joins the newest
    training's ``model_versions`` as model ``ppo``."""
    started = time.perf_counter()
    training, panel, closes, opens = _inputs(warehouse)
    models_config = _recorded_config(training)
    splits = trained_models_windows(models_config, panel.dates)
    provenance = RunProvenance.from_context(context)
    tracker, logged = mlflow.tracker(), []
    hyperparams = config.hyperparams()
    with mlflow.dagster_run(provenance.tags()) as parent:
        result = train_walk_forward_ppo(
            panel,
            splits,
            closes=closes,
            opens=opens,
            costs=TradingCosts(fee_bps=models_config.cost_bps),
            env_config=config.env_config(),
            seeds=config.seeds,
            total_timesteps=config.total_timesteps,
            n_envs=config.n_envs,
            hyperparams=hyperparams,
            device=config.device,
            on_run_end=lambda run: logged.append(
                log_ppo_run(
                    tracker,
                    run,
                    panel,
                    window=str(panel.dates[run.split.test[0]].year),
                    provenance=provenance,
                    parent_run_id=parent,
                )
            ),
        )
    versions = ppo_version_rows(result.runs, logged, panel, cost_bps=models_config.cost_bps)
    with warehouse.transaction() as con:
        replace_model_versions(con, training["training_id"], PPO_MODEL, versions)
    metadata = _metadata(training, splits, result, logged, versions, parent, hyperparams)
    return MaterializeResult(
        metadata={**metadata, "seconds": round(time.perf_counter() - started, 1)}
    )
