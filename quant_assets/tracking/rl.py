"""MLflow runs of PPO agents: one per walk-forward window and seed, best checkpoint registered.

:func:`log_ppo_run` writes one agent's run (nested under the Dagster run's MLflow run): its
hyper-parameters and environment as params, the validation and training reward curves as
metric series over timesteps, and the restored best checkpoint as a pyfunc model (the SB3 zip,
the environment settings and the feature scaler fitted on the training block) registered as a
new version of ``<experiment>-ppo``. :func:`load_ppo_agent` reads a version back into what
:func:`~quant_assets.rl.ppo_positions` takes; :func:`ppo_version_rows` chooses, per window, the
seed with the best validation reward as the version ``predictions`` serves.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from stable_baselines3 import PPO

from quant_assets.models.evaluation import positions_sharpe
from quant_assets.models.scaling import PanelStandardScaler
from quant_assets.models.tensors import Panel
from quant_assets.rl.agent import TrainedAgent
from quant_assets.rl.books import RewardSettings
from quant_assets.rl.env import EnvConfig, target_weights
from quant_assets.rl.walk_forward import PPORun
from quant_assets.tracking.provenance import RunProvenance
from quant_assets.tracking.registry import (
    LoggedModel,
    model_version_uri,
    package_requirements,
    register_logged_model,
    registered_model_name,
)
from quant_assets.tracking.store import MlflowTracker
from quant_assets.tracking.training import period_bounds, split_data_range

PPO_MODEL = "ppo"
PPO_FAMILY = "rl"
_POLICY, _AGENT, _SCALER = "policy.zip", "agent.json", "scaler.npz"


class PPOPolicyModel(mlflow.pyfunc.PythonModel):
    """A registered PPO checkpoint: ``predict`` maps observations to target weights."""

    def load_context(self, context) -> None:
        self.paths = {name: Path(path) for name, path in context.artifacts.items()}

    def load_agent(self, device: str = "cpu") -> tuple[TrainedAgent, PanelStandardScaler]:
        """The agent (best checkpoint, no curves) and its training-block feature scaler."""
        meta = json.loads(self.paths["agent"].read_text())
        env = meta["env_config"]
        config = EnvConfig(**{**env, "reward": RewardSettings(**env["reward"])})
        model = PPO.load(self.paths["policy"], device=device)
        agent = TrainedAgent(
            model=model,
            env_config=config,
            seed=int(meta["seed"]),
            hyperparams=meta["hyperparams"],
            eval_curve=pd.DataFrame(),
            train_curve=pd.DataFrame(),
            best_mean_reward=float(meta["best_mean_reward"]),
            best_timesteps=int(meta["best_timesteps"]),
            timesteps=int(meta["timesteps"]),
            stopped_early=bool(meta["stopped_early"]),
            train_seconds=float(meta["train_seconds"]),
            device=str(model.device),
        )
        stats = np.load(self.paths["scaler"])
        scaler = PanelStandardScaler(clip=float(stats["clip"]))
        scaler.mean_, scaler.scale_ = stats["mean"], stats["scale"]
        return agent, scaler

    def predict(self, context, model_input, params=None):
        agent, _ = self.load_agent()
        actions, _ = agent.model.predict(np.asarray(model_input, np.float32), deterministic=True)
        return target_weights(agent.env_config, actions)


def _agent_meta(agent: TrainedAgent, factors: tuple[str, ...]) -> dict:
    return {
        "env_config": asdict(agent.env_config),
        "seed": agent.seed,
        "hyperparams": {
            k: list(v) if isinstance(v, tuple) else v for k, v in agent.hyperparams.items()
        },
        "best_mean_reward": agent.best_mean_reward,
        "best_timesteps": agent.best_timesteps,
        "timesteps": agent.timesteps,
        "stopped_early": agent.stopped_early,
        "train_seconds": agent.train_seconds,
        "factors": list(factors),
    }


def _curves(agent: TrainedAgent) -> list[dict]:
    """Validation rows (``val_*``) and training episode rewards averaged per timestep."""
    val = agent.eval_curve.rename(columns=lambda c: c if c == "timesteps" else f"val_{c}")
    train = agent.train_curve.groupby("timesteps", as_index=False).mean()
    train = train.rename(columns=lambda c: c if c == "timesteps" else f"train_{c}")
    return [*val.to_dict("records"), *train.to_dict("records")]


def _run_params(run: PPORun, panel: Panel, window: str) -> dict:
    agent = run.agent
    env = asdict(agent.env_config)
    reward = env.pop("reward")
    return {
        **{f"ppo.{k}": v for k, v in agent.hyperparams.items()},
        **{f"env.{k}": v for k, v in {**env, **reward}.items()},
        "seed": run.seed,
        "window": window,
        "device": agent.device,
        "factors": ",".join(panel.factors),
        **period_bounds(panel, run.split),
    }


def _log_policy(tracker: MlflowTracker, run: PPORun, panel: Panel, folder: Path):
    run.agent.model.save(folder / _POLICY)
    (folder / _AGENT).write_text(json.dumps(_agent_meta(run.agent, panel.factors), default=str))
    scaler = run.scaler
    np.savez(folder / _SCALER, mean=scaler.mean_, scale=scaler.scale_, clip=scaler.clip)
    with tracker.activate():
        return mlflow.pyfunc.log_model(
            name="agent",
            python_model=PPOPolicyModel(),
            artifacts={
                "policy": str(folder / _POLICY),
                "agent": str(folder / _AGENT),
                "scaler": str(folder / _SCALER),
            },
            pip_requirements=package_requirements("stable_baselines3", "torch", "mlflow"),
            await_registration_for=0,
        )


def log_ppo_run(
    tracker: MlflowTracker,
    run: PPORun,
    panel: Panel,
    *,
    window: str,
    provenance: RunProvenance | None = None,
    compute: Mapping[str, object] | None = None,
    parent_run_id: str | None = None,
) -> LoggedModel:
    """Log one agent (a window and a seed) and register its best checkpoint; see the module."""
    if run.scaler is None:
        raise ValueError("the run carries no feature scaler: it cannot be served later")
    provenance = (provenance or RunProvenance()).with_data_range(
        *split_data_range(panel, run.split)
    )
    tags = provenance.run_tags(PPO_MODEL, window, compute=compute, extra={"seed": run.seed})
    name = f"{PPO_MODEL}-{window}-seed{run.seed}"
    with tracker.start_run(name, tags=tags, parent_run_id=parent_run_id) as run_id:
        tracker.log_params(run_id, _run_params(run, panel, window))
        tracker.log_metric_rows(run_id, _curves(run.agent), step_key="timesteps")
        agent = run.agent
        tracker.log_metrics(
            run_id,
            {
                "best_mean_reward": agent.best_mean_reward,
                "best_timesteps": agent.best_timesteps,
                "train_seconds": agent.train_seconds,
                "test_positions": len(run.positions),
            },
        )
        with tempfile.TemporaryDirectory(prefix="ppo_agent_") as folder:
            info = _log_policy(tracker, run, panel, Path(folder))
        version_tags = {"kind": PPO_MODEL, "window": window, "seed": run.seed, "run_id": run_id}
        return register_logged_model(
            tracker,
            run_id,
            info,
            registered_model_name(PPO_MODEL, tracker.experiment_name),
            {**version_tags, **provenance.tags(), **period_bounds(panel, run.split)},
        )


def load_ppo_agent(
    tracker: MlflowTracker, registered_name: str, version: int, *, device: str = "cpu"
) -> tuple[TrainedAgent, PanelStandardScaler]:
    """A registered PPO version's agent and feature scaler (see :class:`PPOPolicyModel`)."""
    with tracker.activate():
        model = mlflow.pyfunc.load_model(model_version_uri(registered_name, version))
    return model.unwrap_python_model().load_agent(device)


def ppo_version_rows(
    runs: list[PPORun], logged: list[LoggedModel], panel: Panel, *, cost_bps: float = 0.0
) -> pd.DataFrame:
    """``model_versions`` rows (no ``training_id``/``model``): per window, the seed whose best
    checkpoint scored the highest validation reward; the last window serves every later date."""
    table = pd.DataFrame(
        {
            "window": [r.split_index for r in runs],
            "reward": [r.agent.best_mean_reward for r in runs],
            "i": range(len(runs)),
        }
    )
    best = table.sort_values(["window", "reward"], ascending=[True, False]).drop_duplicates(
        "window"
    )
    last = int(table["window"].max()) if len(table) else -1
    rows = []
    for w, i in zip(best["window"], best["i"], strict=True):
        run, version = runs[i], logged[i]
        split, dates = run.split, panel.dates
        rows.append(
            {
                "family": PPO_FAMILY,
                "window": int(w),
                "model_version": f"{version.registered_name}/{version.version}",
                "registered_name": version.registered_name,
                "version": str(version.version),
                "mlflow_run_id": version.run_id,
                "train_start": dates[split.train[0]].date(),
                "train_end": dates[split.train[-1]].date(),
                "test_start": dates[split.test[0]].date(),
                "test_end": None if w == last else dates[split.test[-1]].date(),
                "val_sharpe": None,
                "test_sharpe": positions_sharpe(panel, run.positions, cost_bps=cost_bps),
            }
        )
    return pd.DataFrame(rows)
