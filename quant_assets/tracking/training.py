"""MLflow runs for the momentum networks: one run per model per walk-forward window.

A run holds

* params: every :class:`~quant_assets.models.training.TrainConfig` field, ``kind``, ``window``,
  the resolved ``torch_device``, the panel's ``n_features`` / ``n_tickers``, the ``embargo``,
  and the period bounds ``train_start`` ... ``test_end`` (ISO dates, inclusive);
* per-epoch metrics, step = epoch (from 1): ``train_loss, train_sharpe, val_loss, val_sharpe,
  learning_rate, train_seconds, val_seconds`` (Sharpe ratios annualised, net of costs), plus
  ``val_loss`` and ``val_sharpe`` of the untrained network at step 0: the loss curves;
* summary metrics: ``best_epoch`` (0: no epoch beat the untrained network), ``epochs_run``,
  ``converged`` (1 when early stopping ended training, 0 when ``max_epochs`` did),
  ``initial_val_loss``, ``best_val_loss``, ``best_val_sharpe`` (the restored model's validation
  Sharpe) and ``test_sharpe`` (omitted without a test period);
* tags: ``kind``, ``window``, ``dagster_run_id``, ``dagster_asset_key``, ``dagster_partition``,
  ``data_start``, ``data_end`` and ``compute.*`` (the device, see ``ComputeResource.describe``);
* artifacts: ``panel_layout.json`` (factor and ticker order) and the model under ``model``, with
  a signature and input example, registered as a new version of ``<experiment>-<kind>``.

A network x window trained from several seeds (:func:`log_seed_training`) logs every seed's
curve as ``<metric>/seed<i>`` (step = epoch, the untrained net at 0), the training state over
the seeds (``seeds``, ``epochs_run`` mean, ``epochs_run_max``, ``converged_seeds``,
``beat_init_seeds``...) and registers the seed average (a
:class:`~quant_assets.models.networks.SeedAveragedModel`) as the version.

Log live, epoch by epoch, with :func:`start_training_run` (a crash marks the run FAILED), or
after the fact from a :class:`~quant_assets.models.training.TrainResult` with
:func:`log_training`; both write the same run.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Iterator, Mapping, Sequence

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.models import ModelSignature, infer_signature
from mlflow.types import Schema, TensorSpec

from quant_assets.models.device import resolve_device
from quant_assets.models.networks import PositionModel, SeedAveragedModel
from quant_assets.models.splits import Split
from quant_assets.models.tensors import Panel
from quant_assets.models.training import TrainConfig, TrainResult
from quant_assets.models.walk_forward import SeedEnsembleResult
from quant_assets.tracking.provenance import RunProvenance
from quant_assets.tracking.registry import (
    LoggedModel,
    package_requirements,
    register_logged_model,
    registered_model_name,
)
from quant_assets.tracking.store import MlflowTracker

# The per-epoch columns of TrainResult.history today; log_epoch logs any numeric column.
EPOCH_METRICS = (
    "train_loss",
    "train_sharpe",
    "val_loss",
    "val_sharpe",
    "learning_rate",
    "train_seconds",
    "val_seconds",
)
MODEL_ARTIFACT = "model"


def period_bounds(panel: Panel, split: Split) -> dict[str, str]:
    """``train_start, train_end, ..., test_end`` as ISO dates, for the non-empty periods."""
    bounds = {}
    for period, (first, last) in split.date_ranges(panel.dates).items():
        bounds[f"{period}_start"] = first.date().isoformat()
        bounds[f"{period}_end"] = last.date().isoformat()
    return bounds


def default_window(panel: Panel, split: Split) -> str:
    """The window label when none is given: the first test date (ISO), or ``"final"``."""
    if len(split.test) == 0:
        return "final"
    return panel.dates[split.test[0]].date().isoformat()


def split_data_range(panel: Panel, split: Split) -> tuple[str, str]:
    """First training date and last validation or test date: the data a window's model saw."""
    last = split.test[-1] if len(split.test) else split.validation[-1]
    return (
        panel.dates[split.train[0]].date().isoformat(),
        panel.dates[last].date().isoformat(),
    )


def training_params(
    kind: str, panel: Panel, split: Split, config: TrainConfig, *, window: object = None
) -> dict[str, object]:
    """The params of a training run (see the module docstring)."""
    return {
        **dataclasses.asdict(config),
        "kind": kind,
        "window": window,
        "torch_device": str(resolve_device(config.device)),
        "n_features": len(panel.factors),
        "n_tickers": len(panel.tickers),
        "embargo": split.embargo,
        **period_bounds(panel, split),
    }


def position_model_example(model: PositionModel, panel: Panel, end: int) -> np.ndarray:
    """The raw features a model reads for the position at ``panel.dates[end]``: ``[1, L, N, F]``.

    ``L`` is the model's context length. Unknown values (NaN, or dates before the panel) are set
    to the model's training mean, which the model standardises to 0 exactly as it treats NaN, so
    the example is valid JSON and gives the same positions.
    """
    length = model.context_length
    window = np.full((length, len(panel.tickers), len(panel.factors)), np.nan, dtype=np.float32)
    first = max(0, end - length + 1)
    window[length - (end + 1 - first) :] = panel.features[first : end + 1].transpose(0, 2, 1)
    mean = model.feature_mean.detach().cpu().numpy()
    return np.where(np.isnan(window), mean, window)[None].astype(np.float32)


def position_model_signature(model: PositionModel, example: np.ndarray) -> ModelSignature:
    """Signature inferred from ``example``; the ticker axis is left free for sequence networks.

    The recurrent and attention networks share weights across assets, so they accept any number
    of tickers; the cross-sectional MLP needs the tickers it was trained on.
    """
    with torch.inference_mode():
        output = model(torch.as_tensor(example)).numpy()
    signature = infer_signature(example, output)
    if not getattr(model.network, "uses_sequence", True):
        return signature
    _, length, _, n_features = example.shape
    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, length, -1, n_features))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, length, -1))]),
    )


class TrainingRun:
    """An open MLflow run for one network on one split; made by :func:`start_training_run`.

    Pass :meth:`log_epoch` as ``on_epoch_end`` to :func:`~quant_assets.models.train_model`, then
    call :meth:`log_result` with what it returned.
    """

    def __init__(
        self,
        tracker: MlflowTracker,
        run_id: str,
        *,
        kind: str,
        panel: Panel,
        split: Split,
        registered_name: str,
        version_tags: Mapping[str, object],
    ) -> None:
        self.tracker = tracker
        self.run_id = run_id
        self.kind = kind
        self.panel = panel
        self.split = split
        self.registered_name = registered_name
        self.version_tags = dict(version_tags)

    def log_epoch(self, row: Mapping[str, float]) -> None:
        """Log one history row of :class:`TrainResult`: every number but ``epoch``, the step."""
        self.tracker.log_metric_rows(self.run_id, [row], step_key="epoch")

    def log_history(self, history: pd.DataFrame) -> None:
        """Log a whole :attr:`TrainResult.history` at once (as :meth:`log_epoch` row by row)."""
        self.tracker.log_metric_rows(self.run_id, history.to_dict("records"), step_key="epoch")

    def log_result(
        self, result: TrainResult, *, input_example: np.ndarray | None = None
    ) -> LoggedModel:
        """Log the summary metrics and the restored model, and register a new model version.

        Parameters
        ----------
        result : TrainResult
            What training returned; its model is copied to the CPU to be logged.
        input_example : ndarray, optional
            Raw features ``[B, L, N, F]``; default the context window ending on the last
            training date (:func:`position_model_example`).
        """
        if result.kind != self.kind:
            raise ValueError(f"run opened for {self.kind!r}, result is a {result.kind!r} model")
        test_sharpe = result.test_sharpe if np.isfinite(result.test_sharpe) else None
        self.tracker.log_metrics(
            self.run_id,
            {"val_loss": result.initial_val_loss, "val_sharpe": result.initial_val_sharpe},
            step=0,
        )
        summary = {
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "converged": int(result.stopped_early),
            "initial_val_loss": result.initial_val_loss,
            "best_val_loss": result.best_val_loss,
            "best_val_sharpe": result.val_sharpe,
            "test_sharpe": test_sharpe,
        }
        self.tracker.log_metrics(self.run_id, summary)
        return self.log_model(result.model, input_example=input_example)

    def log_seed_histories(self, results: Sequence[TrainResult]) -> None:
        """Every seed's loss curve: metric ``<name>/seed<i>`` at step = epoch, with the
        untrained network's ``val_loss`` / ``val_sharpe`` at step 0 (MLflow charts group the
        seeds of one metric together)."""
        rows = []
        for i, result in enumerate(results):
            if result.kind != self.kind:
                raise ValueError(f"run opened for {self.kind!r}, seed {i} is a {result.kind!r}")
            initial = {"val_loss": result.initial_val_loss, "val_sharpe": result.initial_val_sharpe}
            for row in [{"epoch": 0, **initial}, *result.history.to_dict("records")]:
                rows.append(
                    {"epoch": row["epoch"]}
                    | {f"{k}/seed{i}": v for k, v in row.items() if k != "epoch"}
                )
        self.tracker.log_metric_rows(self.run_id, rows, step_key="epoch")

    def log_seed_result(
        self, ensemble: SeedEnsembleResult, *, input_example: np.ndarray | None = None
    ) -> LoggedModel:
        """Log the seeds' curves and training state and the seed average as the model version.

        Summary metrics: :func:`~quant_assets.models.walk_forward.seed_convergence` (``seeds``,
        mean ``epochs_run``, ``epochs_run_max``, ``converged_seeds``, ``beat_init_seeds``...),
        each seed's ``best_epoch/seed<i>``, ``converged/seed<i>``, ``test_sharpe/seed<i>``, and
        the average's ``best_val_sharpe`` and ``test_sharpe``. The registered model is a
        :class:`~quant_assets.models.networks.SeedAveragedModel`: it reproduces the averaged
        positions.
        """
        self.log_seed_histories(ensemble.results)
        summary: dict[str, object] = {k: float(v) for k, v in ensemble.convergence.items()}
        for i, result in enumerate(ensemble.results):
            summary[f"best_epoch/seed{i}"] = result.best_epoch
            summary[f"converged/seed{i}"] = int(result.stopped_early)
            summary[f"best_val_loss/seed{i}"] = result.best_val_loss
            if np.isfinite(result.test_sharpe):
                summary[f"test_sharpe/seed{i}"] = result.test_sharpe
        summary["best_val_sharpe"] = ensemble.val_sharpe
        summary["test_sharpe"] = ensemble.sharpe if np.isfinite(ensemble.sharpe) else None
        self.tracker.log_metrics(self.run_id, summary)
        return self.log_model(ensemble.model, input_example=input_example)

    def log_model(
        self,
        model: PositionModel | SeedAveragedModel,
        *,
        input_example: np.ndarray | None = None,
    ) -> LoggedModel:
        """Log ``model`` (copied to the CPU) and the panel layout; register a new version."""
        layout = {
            "factors": list(self.panel.factors),
            "tickers": list(map(str, self.panel.tickers)),
        }
        self.tracker.client.log_dict(self.run_id, layout, "panel_layout.json")
        model = copy.deepcopy(model).cpu().eval()
        if input_example is None:
            input_example = position_model_example(model, self.panel, int(self.split.train[-1]))
        example = np.asarray(input_example, dtype=np.float32)
        info = mlflow.pytorch.log_model(
            model,
            name=MODEL_ARTIFACT,
            signature=position_model_signature(model, example),
            input_example=example,
            # pickle, not MLflow's default pt2 graph: predict_positions needs the PositionModel
            # object back (its scaling buffers, context length, panel checks). Local, own store.
            serialization_format="pickle",
            pip_requirements=package_requirements("torch", "numpy", "mlflow"),
            await_registration_for=0,
        )
        return register_logged_model(
            self.tracker, self.run_id, info, self.registered_name, self.version_tags
        )


@contextlib.contextmanager
def start_training_run(
    tracker: MlflowTracker,
    *,
    kind: str,
    panel: Panel,
    split: Split,
    config: TrainConfig | None = None,
    window: object = None,
    model_name: str | None = None,
    registered_name: str | None = None,
    provenance: RunProvenance | None = None,
    compute: Mapping[str, object] | None = None,
    tags: Mapping[str, object] | None = None,
    parent_run_id: str | None = None,
) -> Iterator[TrainingRun]:
    """Open the MLflow run of one network on one split, with its params and tags logged.

    Parameters
    ----------
    tracker : MlflowTracker
    kind : str
        ``"mlp"``, ``"lstm"`` or ``"tft"``.
    panel, split : Panel, Split
        What the network is trained on; the split's period bounds become params.
    config : TrainConfig, optional
        The hyper-parameters passed to training (default :class:`TrainConfig`).
    window : str or int, optional
        Walk-forward window label (e.g. the test year), a param and a tag; default
        :func:`default_window`.
    model_name : str, optional
        MLflow run name; default ``"<kind>-<window>"``.
    registered_name : str, optional
        Default ``"<experiment>-<kind>"``.
    provenance : RunProvenance, optional
        Dagster run, asset and partition; the data range defaults to :func:`split_data_range`.
    compute : mapping, optional
        Device facts (``ComputeResource.describe()``), logged as ``compute.*`` tags.
    tags : mapping, optional
        Extra run tags.
    parent_run_id : str, optional
        Nest the run under this MLflow run.

    Yields
    ------
    TrainingRun
    """
    config = config or TrainConfig()
    window = default_window(panel, split) if window is None else window
    provenance = (provenance or RunProvenance()).with_data_range(*split_data_range(panel, split))
    registered_name = registered_name or registered_model_name(kind, tracker.experiment_name)
    run_name = model_name or f"{kind}-{window}"
    run_tags = provenance.run_tags(kind, window, compute=compute, extra=tags)
    with tracker.start_run(run_name, tags=run_tags, parent_run_id=parent_run_id) as run_id:
        tracker.log_params(run_id, training_params(kind, panel, split, config, window=window))
        version_tags = {
            "kind": kind,
            "window": window,
            "run_id": run_id,
            **provenance.tags(),
            **period_bounds(panel, split),
        }
        yield TrainingRun(
            tracker,
            run_id,
            kind=kind,
            panel=panel,
            split=split,
            registered_name=registered_name,
            version_tags=version_tags,
        )


def log_training(
    tracker: MlflowTracker,
    result: TrainResult,
    panel: Panel,
    *,
    window: object = None,
    model_name: str | None = None,
    registered_name: str | None = None,
    provenance: RunProvenance | None = None,
    compute: Mapping[str, object] | None = None,
    tags: Mapping[str, object] | None = None,
    parent_run_id: str | None = None,
    input_example: np.ndarray | None = None,
) -> LoggedModel:
    """Write the MLflow run of a finished training: params, epoch history, model, version.

    For walk-forward training, call it from ``on_split_end`` of
    :func:`~quant_assets.models.train_walk_forward`. Arguments as for
    :func:`start_training_run` and :meth:`TrainingRun.log_result`.

    Returns
    -------
    LoggedModel
        The run id and the registered name and version of the model.
    """
    with start_training_run(
        tracker,
        kind=result.kind,
        panel=panel,
        split=result.split,
        config=result.config,
        window=window,
        model_name=model_name,
        registered_name=registered_name,
        provenance=provenance,
        compute=compute,
        tags=tags,
        parent_run_id=parent_run_id,
    ) as run:
        run.log_history(result.history)
        return run.log_result(result, input_example=input_example)


def log_seed_training(
    tracker: MlflowTracker,
    ensemble: SeedEnsembleResult,
    panel: Panel,
    *,
    window: object = None,
    model_name: str | None = None,
    registered_name: str | None = None,
    provenance: RunProvenance | None = None,
    compute: Mapping[str, object] | None = None,
    tags: Mapping[str, object] | None = None,
    parent_run_id: str | None = None,
    input_example: np.ndarray | None = None,
) -> LoggedModel:
    """One MLflow run for a network x window trained from several seeds (:func:`~quant_assets.
    models.walk_forward.train_seeds`): params of the first seed's config plus ``n_seeds`` and
    ``seeds`` (the list), every seed's loss curve and the seed average registered as the
    version (:meth:`TrainingRun.log_seed_result`). Arguments as for :func:`log_training`."""
    first = ensemble.results[0]
    with start_training_run(
        tracker,
        kind=first.kind,
        panel=panel,
        split=first.split,
        config=first.config,
        window=window,
        model_name=model_name,
        registered_name=registered_name,
        provenance=provenance,
        compute=compute,
        tags=tags,
        parent_run_id=parent_run_id,
    ) as run:
        tracker.log_params(
            run.run_id,
            {
                "n_seeds": len(ensemble.results),
                "seeds": ",".join(str(r.config.seed) for r in ensemble.results),
            },
        )
        return run.log_seed_result(ensemble, input_example=input_example)


IMPORTANCE_ARTIFACT = "importance.csv"


def log_importance(tracker: MlflowTracker, run_id: str, importance: pd.DataFrame) -> None:
    """Log a model x window's factor importance to its (finished) run.

    ``importance``: ``factor, importance, method`` rows (``method`` ``"permutation"`` or
    ``"shap"``); the table goes to :data:`IMPORTANCE_ARTIFACT` and each value to a metric
    ``importance_<method>_<factor>``.
    """
    if importance.empty:
        return
    tracker.client.log_text(run_id, importance.to_csv(index=False), IMPORTANCE_ARTIFACT)
    tracker.log_metrics(
        run_id,
        {f"importance_{r.method}_{r.factor}": float(r.importance) for r in importance.itertuples()},
    )
