"""Where MLflow keeps runs, models and artifacts, and how a run is opened there.

Default layout, under the project's data directory (:func:`quant_assets.paths.data_dir`)::

    <data>/mlflow/mlflow.db                                   runs, params, metrics, tags, registry
    <data>/mlflow/artifacts/<experiment>/<run_id>/artifacts/  files logged to a run
    <data>/mlflow/artifacts/<experiment>/models/<model_id>/   logged models (MLflow 3 layout)

The store is a SQLite database rather than a plain ``file:`` folder because MLflow 3 refuses the
file store for the model registry unless ``MLFLOW_ALLOW_FILE_STORE=true`` is set (it is in
maintenance mode). The tracking URI is, in order: the one passed in, ``$MLFLOW_TRACKING_URI``,
the default SQLite file. Artifact locations are absolute ``file://`` URIs fixed when an experiment
is created; moving the data directory afterwards needs a new experiment name.

MLflow's model-logging functions read the process-wide tracking URI and active run, so
:meth:`MlflowTracker.activate` sets them for the duration of a block, under a process lock, and
restores them afterwards. One run at a time per process: a second thread waits.
"""

from __future__ import annotations

import contextlib
import numbers
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import mlflow
from mlflow.entities import Metric, Param, Run, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.utils.file_utils import local_file_uri_to_path

from quant_assets.paths import data_dir
from quant_assets.settings import (
    MLFLOW_REGISTRY_URI_ENV,
    MLFLOW_TRACKING_URI_ENV,
    preserved_environment,
    read_setting,
)
from quant_assets.tracking.provenance import clean_params, clean_tags, redact_secrets

try:  # POSIX only; without it, first-time store creation is not guarded across processes.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

DEFAULT_EXPERIMENT = "quant_assets"
TRACKING_URI_ENV = MLFLOW_TRACKING_URI_ENV
REGISTRY_URI_ENV = MLFLOW_REGISTRY_URI_ENV
SQLITE_PREFIX = "sqlite:///"

# MLflow's log_batch limits.
_PARAMS_PER_BATCH = 100
_METRICS_PER_BATCH = 1000
_PROCESS_LOCK = threading.RLock()
_DAGSTER_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def default_mlflow_dir() -> Path:
    """``<data>/mlflow``: the database file and the artifact root."""
    return data_dir() / "mlflow"


def default_tracking_uri() -> str:
    """``sqlite:///<data>/mlflow/mlflow.db`` with an absolute path (four slashes on POSIX)."""
    return f"{SQLITE_PREFIX}{(default_mlflow_dir() / 'mlflow.db').resolve()}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, or None for any other store."""
    if not uri.startswith(SQLITE_PREFIX):
        return None
    return Path(uri[len(SQLITE_PREFIX) :].split("?", 1)[0])


def _experiment_folder(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "experiment"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` between processes (a no-op without ``fcntl``)."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _global_uris(tracking_uri: str, registry_uri: str) -> Iterator[None]:
    # mlflow.set_*_uri also export MLFLOW_*_URI for subprocesses; the environment is
    # therefore the faithful record of what was set before.
    with preserved_environment(TRACKING_URI_ENV, REGISTRY_URI_ENV) as saved:
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(registry_uri)
        try:
            yield
        finally:
            mlflow.set_tracking_uri(saved[TRACKING_URI_ENV])
            mlflow.set_registry_uri(saved[REGISTRY_URI_ENV])


class MlflowTracker:
    """One MLflow experiment in one tracking store, with its model registry.

    Parameters
    ----------
    tracking_uri : str, optional
        Default ``$MLFLOW_TRACKING_URI``, else :func:`default_tracking_uri`.
    registry_uri : str, optional
        Default ``$MLFLOW_REGISTRY_URI``, else the tracking URI.
    experiment_name : str
        Created on first use.
    artifact_location : str, optional
        Artifact root of the experiment when this tracker creates it. Default, for a SQLite
        store: ``artifacts/<experiment>`` beside the database file; otherwise the server's.
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        *,
        registry_uri: str | None = None,
        experiment_name: str = DEFAULT_EXPERIMENT,
        artifact_location: str | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri or read_setting(TRACKING_URI_ENV) or default_tracking_uri()
        self.registry_uri = registry_uri or read_setting(REGISTRY_URI_ENV) or self.tracking_uri
        self.experiment_name = experiment_name
        self.artifact_location = artifact_location or self._default_artifact_location()
        self._client: mlflow.MlflowClient | None = None
        self._experiment_id: str | None = None

    def __repr__(self) -> str:
        return (
            f"MlflowTracker(tracking_uri={self.tracking_uri!r}, "
            f"experiment_name={self.experiment_name!r})"
        )

    @property
    def database_path(self) -> Path | None:
        """The SQLite file of a local store, else None."""
        return sqlite_path(self.tracking_uri)

    @property
    def client(self) -> mlflow.MlflowClient:
        """A client bound to this store and registry; the store is opened on first use."""
        if self._client is None:
            client = mlflow.MlflowClient(self.tracking_uri, self.registry_uri)
            self.ensure_local_dirs()
            with self._store_creation_lock():
                client.search_experiments(max_results=1)  # creates the schema when absent
            self._client = client
        return self._client

    def ensure_local_dirs(self) -> None:
        """Create the database folder and the artifact root of a local store (idempotent)."""
        database = self.database_path
        if database is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
        if self.artifact_location and self.artifact_location.startswith("file:"):
            Path(local_file_uri_to_path(self.artifact_location)).mkdir(parents=True, exist_ok=True)

    @property
    def experiment_id(self) -> str:
        """The experiment's id, creating the store and the experiment when absent."""
        if self._experiment_id is None:
            self._experiment_id = self._get_or_create_experiment()
        return self._experiment_id

    @contextlib.contextmanager
    def activate(self) -> Iterator[mlflow.MlflowClient]:
        """Point MLflow's process-wide URIs at this store for the block, then restore them."""
        self.experiment_id  # noqa: B018 - creates the store before MLflow's globals point at it
        with _PROCESS_LOCK, _global_uris(self.tracking_uri, self.registry_uri):
            yield self.client

    @contextlib.contextmanager
    def start_run(
        self,
        run_name: str | None = None,
        *,
        tags: Mapping[str, object] | None = None,
        parent_run_id: str | None = None,
    ) -> Iterator[str]:
        """Open a run, yield its id, and end it FINISHED, or FAILED/KILLED on an exception.

        Inside the block the run is MLflow's active run, so ``mlflow.<flavor>.log_model`` logs
        to it. A run opened inside another one (or given ``parent_run_id``) is nested under it:
        open a parent run per walk-forward to group its per-window runs in the MLflow UI. The
        name and tags are passed through :func:`~quant_assets.tracking.provenance.clean_tags`
        (secrets hidden).
        """
        run_name = None if run_name is None else redact_secrets(run_name)
        with self.activate():
            run = mlflow.start_run(
                experiment_id=self.experiment_id,
                run_name=run_name,
                nested=mlflow.active_run() is not None,
                parent_run_id=parent_run_id,
                tags=clean_tags(tags or {}),
            )
            status = RunStatus.FINISHED
            try:
                yield run.info.run_id
            except KeyboardInterrupt:
                status = RunStatus.KILLED
                raise
            except BaseException:
                status = RunStatus.FAILED
                raise
            finally:
                mlflow.end_run(status=RunStatus.to_string(status))

    def log_params(self, run_id: str, params: Mapping[str, object]) -> None:
        """Log params (secrets hidden, see :func:`clean_params`) in batches of MLflow's limit."""
        items = [Param(k, v) for k, v in clean_params(params).items()]
        for start in range(0, len(items), _PARAMS_PER_BATCH):
            self.client.log_batch(run_id, params=items[start : start + _PARAMS_PER_BATCH])

    def log_metrics(self, run_id: str, metrics: Mapping[str, object], step: int = 0) -> None:
        """Log the numeric values of ``metrics`` at ``step``; others (None) are skipped."""
        self.log_metric_rows(run_id, [{**metrics, "_step": step}], step_key="_step")

    def log_metric_rows(
        self, run_id: str, rows: Iterable[Mapping[str, object]], step_key: str
    ) -> None:
        """Log every numeric value of each row at the step ``row[step_key]``, in few batches.

        One write per batch rather than per row: a 100-epoch history is one database commit.
        NaN is kept (MLflow stores it); non-numbers and None are skipped.
        """
        timestamp = int(time.time() * 1000)
        items = [
            Metric(key, float(value), timestamp, int(row[step_key]))
            for row in rows
            for key, value in row.items()
            if key != step_key and isinstance(value, numbers.Real) and not isinstance(value, bool)
        ]
        for start in range(0, len(items), _METRICS_PER_BATCH):
            self.client.log_batch(run_id, metrics=items[start : start + _METRICS_PER_BATCH])

    def runs_for_dagster_run(self, dagster_run_id: str) -> list[Run]:
        """Every run of this experiment tagged with ``dagster_run_id``, oldest first."""
        if not _DAGSTER_RUN_ID.match(dagster_run_id):
            raise ValueError(f"not a Dagster run id: {dagster_run_id!r}")
        return self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.dagster_run_id = '{dagster_run_id}'",
            order_by=["attributes.start_time ASC"],
        )

    def _default_artifact_location(self) -> str | None:
        database = sqlite_path(self.tracking_uri)
        if database is None:
            return None
        root = database.resolve().parent / "artifacts" / _experiment_folder(self.experiment_name)
        return root.as_uri()

    @contextlib.contextmanager
    def _store_creation_lock(self) -> Iterator[None]:
        # MLflow 3.17's tracking store creates a fresh SQLite schema without a lock; two processes
        # doing it at once collide on its migrations.
        database = self.database_path
        if database is None:
            yield
            return
        with _file_lock(database.parent / ".mlflow.lock"):
            yield

    def _get_or_create_experiment(self) -> str:
        experiment = self.client.get_experiment_by_name(self.experiment_name)
        if experiment is not None:
            return experiment.experiment_id
        try:
            return self.client.create_experiment(
                self.experiment_name, artifact_location=self.artifact_location
            )
        except MlflowException:
            # Another process created it between the lookup and the create.
            experiment = self.client.get_experiment_by_name(self.experiment_name)
            if experiment is None:
                raise
            return experiment.experiment_id
