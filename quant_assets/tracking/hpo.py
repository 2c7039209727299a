"""Optuna studies tracked in MLflow: each trial a nested run under the Dagster run's parent.

The body of the ``hpo`` asset as plain Python: per model kind, the objective of
:func:`~quant_assets.models.hpo.make_objective` on one split's training block (purged CV; the
validation and test blocks are never seen), run by :func:`~quant_assets.models.hpo.run_study`
with a callback logging every finished trial (complete, pruned or failed) as one MLflow run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import optuna
import pandas as pd

from quant_assets.models.hpo import BestParams, make_objective, run_study
from quant_assets.models.splits import Split
from quant_assets.models.tensors import Panel
from quant_assets.models.training import TrainConfig
from quant_assets.tracking.provenance import RunProvenance
from quant_assets.tracking.store import MlflowTracker


@dataclass(frozen=True)
class StudyPlan:
    """How to tune: study name prefix (``<prefix>-<kind>``), storage URL (None: in memory),
    budget per kind (trials and seconds), pruner, purged-CV folds and the network base config."""

    study_prefix: str
    storage_url: str | None
    n_trials: int
    timeout_s: float | None
    pruner: str = "median"
    n_folds: int = 3
    seed: int = 0
    cost_bps: float = 0.0
    train_config: TrainConfig | None = None
    device: str = "cpu"


def trial_logger(
    tracker: MlflowTracker,
    *,
    kind: str,
    study_name: str,
    parent_run_id: str | None,
    provenance: RunProvenance,
):
    """An Optuna callback writing each finished trial as an MLflow run nested under the parent.

    Params: the trial's parameters; metrics: ``value`` (mean purged-CV Sharpe, when complete)
    and ``fold_<i>_sharpe``; tags: ``hpo_study``, ``trial``, ``trial_state``.
    """

    def log(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        tags = provenance.run_tags(
            kind,
            extra={"hpo_study": study_name, "trial": trial.number, "trial_state": trial.state.name},
        )
        folds = trial.user_attrs.get("fold_scores", [])
        metrics = {"value": trial.value, **{f"fold_{i}_sharpe": s for i, s in enumerate(folds)}}
        with tracker.start_run(
            f"hpo-{kind}-{trial.number}", tags=tags, parent_run_id=parent_run_id
        ) as run_id:
            tracker.log_params(run_id, {**trial.params, "kind": kind, "study": study_name})
            tracker.log_metrics(run_id, metrics)

    return log


def tune_kinds(
    kinds: Sequence[str],
    panel: Panel,
    split: Split,
    plan: StudyPlan,
    tracker: MlflowTracker,
    *,
    provenance: RunProvenance | None = None,
    parent_run_id: str | None = None,
) -> dict[str, BestParams]:
    """Run (or resume) one study per kind on ``split``'s training block; the best of each."""
    provenance = provenance or RunProvenance()
    best = {}
    for kind in kinds:
        study_name = f"{plan.study_prefix}-{kind}"
        objective = make_objective(
            kind,
            panel,
            split,
            n_folds=plan.n_folds,
            cost_bps=plan.cost_bps,
            seed=plan.seed,
            device=plan.device,
            train_config=plan.train_config,
        )
        best[kind] = run_study(
            objective,
            study_name=study_name,
            storage_url=plan.storage_url,
            n_trials=plan.n_trials,
            timeout_s=plan.timeout_s,
            seed=plan.seed,
            pruner=plan.pruner,
            max_steps=plan.n_folds,
            callbacks=[
                trial_logger(
                    tracker,
                    kind=kind,
                    study_name=study_name,
                    parent_run_id=parent_run_id,
                    provenance=provenance,
                )
            ],
        )
    return best


def best_params_table(best: Mapping[str, BestParams]) -> pd.DataFrame:
    """One row per kind: study, value, trials (complete, pruned, failed) and the parameters."""
    return pd.DataFrame(
        [
            {
                "kind": kind,
                "study": b.study_name,
                "value": b.value,
                "trials": b.n_trials,
                "complete": b.n_complete,
                "pruned": b.n_pruned,
                "failed": b.n_failed,
                "params": b.params,
            }
            for kind, b in best.items()
        ]
    )
