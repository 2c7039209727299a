"""MLflow experiment tracking, as a Dagster resource.

Why not ``dagster-mlflow`` (0.29.27: ``mlflow_tracking`` and ``end_mlflow_on_run_finished``)?
Its resource starts one MLflow run per Dagster run when it is initialised and makes it MLflow's
process-wide active run. Our ``trained_model`` asset needs one MLflow run per model per
walk-forward window inside a single step, and:

* it finds "its" run again by searching for ``tags.dagster_run_id = <run id>``, the tag every one
  of our per-model runs carries; with the multiprocess executor, each step re-initialises the
  resource and would adopt the most recent per-model run (already finished) as its run;
* its run is ended only by the ``end_mlflow_on_run_finished`` hook, which must be attached to
  every job that materialises the asset and ends the run when the job's last node (in
  topological order) succeeds; ad-hoc materialisations and sensor-requested selections without
  the hook leave the run RUNNING, and the resource unregisters MLflow's ``atexit`` clean-up;
* it is a legacy, beta ``@resource`` with a ``config_schema``, not a ``ConfigurableResource``;
  its ``env`` option writes ``os.environ`` and ``env_to_tag`` copies environment values into
  tags, a path for ``FMP_API_KEY`` into the store; it has no default local store and no
  registry URI, and it sets the global tracking URI without restoring it.

So this is a small resource of our own over :class:`~quant_assets.tracking.store.MlflowTracker`
(plain Python, testable without Dagster). Runs of one Dagster run are grouped by their
``dagster_run_id`` tag (:meth:`MlflowTracker.runs_for_dagster_run`), or nested under a parent
run by passing ``parent_run_id``. ``dagster-mlflow`` is not used by the project.

Where runs go: see :mod:`quant_assets.tracking.store` (default
``sqlite:///<data>/mlflow/mlflow.db``, artifacts in ``<data>/mlflow/artifacts``; the
``MLFLOW_TRACKING_URI`` environment variable overrides the default, ``tracking_uri`` overrides
both). Nothing is opened, and MLflow is not even imported, until a tracker is first used.

This module does not use ``from __future__ import annotations``: Dagster reads the field
annotations of ``ConfigurableResource`` classes at runtime.
"""

from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

if TYPE_CHECKING:
    from quant_assets.tracking.store import MlflowTracker

# Importing MLflow takes seconds; the code location imports this module at every load.
DEFAULT_EXPERIMENT = "quant_assets"


class MLflowResource(ConfigurableResource):
    """Where models are tracked and registered.

    Attributes
    ----------
    tracking_uri : str, optional
        Default ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<data>/mlflow/mlflow.db``.
    registry_uri : str, optional
        Default ``$MLFLOW_REGISTRY_URI``, else the tracking URI.
    experiment_name : str
        The experiment runs are logged to (created on first use); also the prefix of registered
        model names (``<experiment>-<kind>``).
    artifact_location : str, optional
        Artifact root for a newly created experiment; default, for a SQLite store,
        ``artifacts/<experiment>`` beside the database.
    """

    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI; default $MLFLOW_TRACKING_URI or data/mlflow.",
    )
    registry_uri: str | None = Field(
        default=None, description="MLflow model registry URI; default the tracking URI."
    )
    experiment_name: str = Field(
        default=DEFAULT_EXPERIMENT, description="MLflow experiment for the model runs."
    )
    artifact_location: str | None = Field(
        default=None, description="Artifact root of a new experiment; default beside the DB."
    )

    _tracker: Any = PrivateAttr(default=None)

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
