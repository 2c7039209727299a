"""Walk-forward training of every configured model, each model x window an MLflow run.

The body of the ``trained_models`` asset as plain Python (no Dagster): for each walk-forward
window, every network is trained with that window's seed (:func:`~quant_assets.models.
walk_forward.window_seed`), every forecaster is fitted and every rule is scored, each logged as
one MLflow run (nested under ``parent_run_id`` when given) with a registered version for the
fitted ones. The result holds the ``model_versions`` rows and the stitched out-of-sample Sharpe
of every model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from quant_assets.models.baselines import FORECASTERS, RULES, forecast_baseline
from quant_assets.models.evaluation import positions_sharpe
from quant_assets.models.networks import NETWORK_KINDS
from quant_assets.models.splits import Split
from quant_assets.models.tensors import Panel
from quant_assets.models.training import TrainConfig, train_model
from quant_assets.models.walk_forward import window_config
from quant_assets.tracking.baselines import log_baseline, log_forecast_baseline
from quant_assets.tracking.provenance import RunProvenance
from quant_assets.tracking.registry import LoggedModel
from quant_assets.tracking.store import MlflowTracker
from quant_assets.tracking.training import log_training

# What each model x window records beside model_versions' own columns.
CONVERGENCE_COLUMNS = (
    "seed",
    "epochs_run",
    "best_epoch",
    "converged",
    "initial_val_loss",
    "best_val_loss",
)


@dataclass(frozen=True)
class ModelPlan:
    """Which models to train and how: network, forecaster and rule kinds, and the network config.

    ``train_config.seed`` is the base seed; window ``i`` trains with ``window_seed(seed, i)``.
    """

    networks: Sequence[str] = ()
    forecasters: Sequence[str] = ()
    rules: Sequence[str] = ()
    train_config: TrainConfig = field(default_factory=TrainConfig)

    def check(self) -> None:
        """Raise ValueError naming every unknown kind."""
        unknown = (
            set(self.networks) - set(NETWORK_KINDS)
            | set(self.forecasters) - set(FORECASTERS)
            | set(self.rules) - set(RULES)
        )
        if unknown:
            raise ValueError(f"unknown model kinds {sorted(unknown)}")


@dataclass
class TrainingOutcome:
    """``versions``: one row per model x window (``model_versions`` columns and the convergence
    record); ``summary``: ``model, oos_sharpe`` over the stitched test blocks."""

    versions: pd.DataFrame
    summary: pd.DataFrame


@dataclass(frozen=True)
class _Tracking:
    tracker: MlflowTracker
    provenance: RunProvenance
    compute: Mapping[str, object]
    parent_run_id: str | None


def _version_row(
    panel: Panel, split: Split, model: str, family: str, logged: LoggedModel | None, last: bool
) -> dict:
    dates, fitted = panel.dates, family != "rule"
    registered = logged is not None and logged.version is not None
    return {
        "model": model,
        "family": family,
        "model_version": (
            f"{logged.registered_name}/{logged.version}" if registered else f"rule:{model}"
        ),
        "registered_name": logged.registered_name if logged is not None else None,
        "version": str(logged.version) if registered else None,
        "mlflow_run_id": logged.run_id if logged is not None else None,
        "train_start": dates[split.train[0]].date() if fitted else None,
        "train_end": dates[split.train[-1]].date() if fitted else None,
        "test_start": dates[split.test[0]].date(),
        # the newest window serves every later date too
        "test_end": None if last else dates[split.test[-1]].date(),
    }


def _train_networks(panel, split, label, plan, config, tracking, log) -> list[tuple[dict, object]]:
    out = []
    for kind in plan.networks:
        result = train_model(kind, panel, split, config)
        logged = log_training(
            tracking.tracker,
            result,
            panel,
            window=label,
            provenance=tracking.provenance,
            compute=tracking.compute,
            parent_run_id=tracking.parent_run_id,
            tags={"seed": config.seed},
        )
        record = {
            "family": "network",
            "model": kind,
            "logged": logged,
            "val_sharpe": result.val_sharpe,
            "test_sharpe": result.test_sharpe,
            "seed": config.seed,
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch,
            "converged": result.stopped_early,
            "initial_val_loss": result.initial_val_loss,
            "best_val_loss": result.best_val_loss,
        }
        log(
            f"{kind} window {label}: {result.epochs_run} epochs (best {result.best_epoch}, "
            f"{'early stop' if result.stopped_early else 'max_epochs'}), val loss "
            f"{result.initial_val_loss:.3f} -> {result.best_val_loss:.3f}, test Sharpe "
            f"{result.test_sharpe:.2f}, {logged.registered_name} v{logged.version}"
        )
        out.append((record, result.positions))
    return out


def _fit_forecasters(panel, split, label, plan, config, tracking) -> list[tuple[dict, object]]:
    out = []
    for kind in plan.forecasters:
        result = forecast_baseline(
            kind,
            panel,
            split,
            target_vol=config.target_vol,
            cost_bps=config.cost_bps,
            seed=config.seed,
        )
        logged = log_forecast_baseline(
            tracking.tracker,
            result,
            panel,
            split,
            window=label,
            provenance=tracking.provenance,
            parent_run_id=tracking.parent_run_id,
            tags={"seed": config.seed},
        )
        record = {
            "family": "forecaster",
            "model": kind,
            "logged": logged,
            "seed": config.seed,
            "val_sharpe": result.val_sharpe,
            "test_sharpe": result.test_sharpe,
        }
        out.append((record, result.positions))
    return out


def _score_rules(panel, split, label, rule_positions, config, tracking):
    out = []
    test_dates = panel.dates[split.test]
    for kind, positions in rule_positions.items():
        test = positions[positions["date"].isin(test_dates)]
        sharpe = positions_sharpe(
            panel, test, target_vol=config.target_vol, cost_bps=config.cost_bps
        )
        logged = log_baseline(
            tracking.tracker,
            kind=kind,
            metrics={"test_sharpe": sharpe},
            panel=panel,
            split=split,
            window=label,
            provenance=tracking.provenance,
            parent_run_id=tracking.parent_run_id,
        )
        record = {
            "family": "rule",
            "model": kind,
            "logged": logged,
            "val_sharpe": None,
            "test_sharpe": sharpe,
        }
        out.append((record, test))
    return out


def train_and_track(
    panel: Panel,
    closes: pd.DataFrame,
    splits: Sequence[Split],
    plan: ModelPlan,
    tracker: MlflowTracker,
    *,
    provenance: RunProvenance | None = None,
    compute: Mapping[str, object] | None = None,
    parent_run_id: str | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> TrainingOutcome:
    """Train, fit and score ``plan``'s models on every split; one MLflow run per model x window.

    Parameters
    ----------
    panel : Panel
        Features and targets of every date (the splits index into ``panel.dates``).
    closes : DataFrame
        Wide closes, for the rules (their signals need the history before a test block).
    splits : sequence of Split
        The walk-forward windows, oldest first; the last one serves every later date.
    plan : ModelPlan
    tracker : MlflowTracker
    provenance : RunProvenance, optional
        Dagster run, asset, partition and code version, tagged on every run.
    compute : mapping, optional
        Device facts, tagged ``compute.*`` on the network runs.
    parent_run_id : str, optional
        Nest every run under this MLflow run (the Dagster run's).
    log : callable, optional
        Receives one line per trained network.

    Returns
    -------
    TrainingOutcome
    """
    plan.check()
    tracking = _Tracking(tracker, provenance or RunProvenance(), compute or {}, parent_run_id)
    rule_positions = {name: RULES[name](closes) for name in plan.rules}
    rows, oos = [], {}
    for w, split in enumerate(splits):
        config = window_config(plan.train_config, w)
        label = str(panel.dates[split.test[0]].year)
        done = (
            _train_networks(panel, split, label, plan, config, tracking, log)
            + _fit_forecasters(panel, split, label, plan, config, tracking)
            + _score_rules(panel, split, label, rule_positions, config, tracking)
        )
        for record, positions in done:
            logged = record.pop("logged")
            row = _version_row(
                panel, split, record["model"], record["family"], logged, w == len(splits) - 1
            )
            rows.append({**row, **record, "window": w})
            oos.setdefault(record["model"], []).append(positions)
    return TrainingOutcome(
        versions=pd.DataFrame(rows), summary=_summary(panel, oos, plan.train_config)
    )


def _summary(panel: Panel, oos: dict[str, list[pd.DataFrame]], config: TrainConfig):
    sharpe = {
        model: positions_sharpe(
            panel,
            pd.concat(parts, ignore_index=True),
            target_vol=config.target_vol,
            cost_bps=config.cost_bps,
        )
        for model, parts in oos.items()
    }
    return pd.DataFrame({"model": list(sharpe), "oos_sharpe": list(sharpe.values())})
