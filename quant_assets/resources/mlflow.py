"""MLflow experiment tracking, as a Dagster resource; the Dagster run's MLflow run via dagster-mlflow.

Each Dagster run that trains models has one parent MLflow run, opened through ``dagster_mlflow``
(its ``MlFlow`` class, the object behind the ``mlflow_tracking`` resource): it is named after the
job, tagged ``dagster_run_id`` (plus ``run_kind=dagster_run``, the partition and the code
version), and found again by a later step of the same Dagster run, also with the multiprocess
executor. Every model x walk-forward window is a nested run under it (``mlflow.parentRunId``),
tagged with the Dagster run id, the partition and the code version too
(:func:`quant_assets.tracking.walk_forward.train_and_track`).

What this resource adds around ``dagster_mlflow``:

* our store: the tracking URI (``tracking_uri``, else ``$MLFLOW_TRACKING_URI``, else
  ``sqlite:///<data>/mlflow/mlflow.db`` with artifacts in ``<data>/mlflow/artifacts``, see
  :mod:`quant_assets.tracking.store`), the experiment created with its artifact root before
  ``dagster_mlflow`` looks it up, and MLflow's process-wide URIs restored afterwards;
* the parent run is found by its own ``run_kind`` tag and handed to ``dagster_mlflow`` as
  ``mlflow_run_id`` (its own search by ``dagster_run_id`` alone would also match the nested
  runs, which carry that tag);
* :meth:`MLflowResource.dagster_run` ends the parent when the block ends, FINISHED or FAILED, so
  ad-hoc materialisations and sensor-started runs leave no run RUNNING; a later step re-opens
  it. :meth:`MLflowResource.end_run` ends it too, so ``dagster_mlflow``'s
  ``end_mlflow_on_run_finished`` hook can be attached to a job as well;
* outside a Dagster run (a sensor, a plain resource) there is no parent and runs are top level.

Per-model runs are made with :class:`~quant_assets.tracking.store.MlflowTracker` (plain Python,
testable without Dagster). Nothing is opened, and MLflow is not even imported, until a tracker
is first used.

This module does not use ``from __future__ import annotations``: Dagster reads the field
annotations of ``ConfigurableResource`` classes at runtime.
"""

import contextlib
from collections.abc import Iterator, Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

if TYPE_CHECKING:
    from quant_assets.tracking.store import MlflowTracker

# Importing MLflow takes seconds; the code location imports this module at every load.
DEFAULT_EXPERIMENT = "quant_assets"
PARENT_KIND_TAG = "run_kind"
PARENT_KIND = "dagster_run"


class MLflowResource(ConfigurableResource):
    """Where models are tracked and registered, and the Dagster run's parent MLflow run."""

    tracking_uri: str | None = Field(
        default=None,
        description=(
            "MLflow tracking URI (e.g. sqlite:///path/mlflow.db or http://host:5000); "
            "empty: $MLFLOW_TRACKING_URI, else sqlite:///<data>/mlflow/mlflow.db."
        ),
        min_length=1,
    )
    registry_uri: str | None = Field(
        default=None,
        description="MLflow model registry URI; empty: $MLFLOW_REGISTRY_URI, else the tracking URI.",
        min_length=1,
    )
    experiment_name: str = Field(
        default=DEFAULT_EXPERIMENT,
        description=(
            "MLflow experiment of the model runs (created on first use); also the prefix of "
            "registered model names, <experiment>-<kind>."
        ),
        min_length=1,
        max_length=200,
    )
    artifact_location: str | None = Field(
        default=None,
        description=(
            "Artifact root (a URI) of a newly created experiment; empty: for a SQLite store, "
            "artifacts/<experiment> beside the database file."
        ),
        min_length=1,
    )

    _tracker: Any = PrivateAttr(default=None)
    _dagster: Any = PrivateAttr(default=None)
    _parent: Any = PrivateAttr(default=None)

    def setup_for_execution(self, context: Any) -> None:
        """Remember the Dagster run (id, job name, logger) whose MLflow run :meth:`dagster_run`
        opens; nothing is opened here."""
        run = getattr(context, "dagster_run", None)
        if run is not None:
            self._dagster = SimpleNamespace(
                run_id=run.run_id, job_name=run.job_name, log=context.log
            )

    def tracker(self) -> "MlflowTracker":
        """The tracker for this configuration (one per resource instance, opened lazily)."""
        from quant_assets.tracking.store import MlflowTracker

        if self._tracker is None:
            self._tracker = MlflowTracker(
                self.tracking_uri,
                registry_uri=self.registry_uri,
                experiment_name=self.experiment_name,
                artifact_location=self.artifact_location,
            )
        return self._tracker

    @contextlib.contextmanager
    def dagster_run(self, tags: Mapping[str, object] | None = None) -> Iterator[str | None]:
        """Open (or re-open) the Dagster run's MLflow run through ``dagster_mlflow``; yield its id.

        ``tags`` are added to it (e.g. the partition and the code version). The run ends
        FINISHED when the block ends, FAILED (KILLED on an interrupt) when it raises. Outside
        a Dagster run, yields None: runs logged in the block are then top level.
        """
        if self._dagster is None:
            yield None
            return
        parent = self._open_parent(tags or {})
        status = "FINISHED"
        try:
            yield parent
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        except BaseException:
            status = "FAILED"
            raise
        finally:
            self.end_run(status)

    def end_run(self, status: str = "FINISHED") -> None:
        """End the Dagster run's MLflow run if this resource opened it (what
        ``dagster_mlflow.end_mlflow_on_run_finished`` calls)."""
        if self._parent is None:
            return
        import mlflow

        with self.tracker().activate() as client:
            active = mlflow.active_run()
            if active is not None and active.info.run_id == self._parent:
                mlflow.end_run(status=status)
            else:  # opened in another thread: end it through the client
                client.set_terminated(self._parent, status=status)
        self._parent = None

    def _open_parent(self, tags: Mapping[str, object]) -> str:
        import mlflow
        from dagster_mlflow.resources import MlFlow

        from quant_assets.tracking.provenance import clean_tags

        tracker = self.tracker()
        extra = clean_tags({**tags, PARENT_KIND_TAG: PARENT_KIND})
        with tracker.activate():  # our store and experiment; MLflow's globals restored after
            existing = self._find_parent(tracker)
            init = SimpleNamespace(
                log=self._dagster.log,
                run_id=self._dagster.run_id,
                dagster_run=SimpleNamespace(job_name=self._dagster.job_name),
                resource_config={
                    "experiment_name": tracker.experiment_name,
                    "mlflow_tracking_uri": tracker.tracking_uri,
                    "mlflow_run_id": existing,
                    "parent_run_id": None,
                    "env": {},
                    "env_to_tag": None,
                    "extra_tags": extra,
                },
            )
            MlFlow(init)
            self._parent = mlflow.active_run().info.run_id
        return self._parent

    def _find_parent(self, tracker: "MlflowTracker") -> str | None:
        runs = [
            run
            for run in tracker.runs_for_dagster_run(self._dagster.run_id)
            if run.data.tags.get(PARENT_KIND_TAG) == PARENT_KIND
        ]
        return runs[0].info.run_id if runs else None
