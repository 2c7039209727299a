"""Registered model versions: what a logging call returns, and loading a version back to predict.

Each logged network or fitted baseline becomes a new version of the registered model
``<experiment>-<kind>`` (``quant_assets-lstm``, ``quant_assets-ridge``); re-running a training
adds a version and never fails on a name that already exists. ``predictions`` can therefore be
keyed by ``(registered_name, version)``, and :func:`predict_with_model_version` reproduces them.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Mapping
from dataclasses import dataclass

import mlflow
import pandas as pd
from mlflow.models.model import ModelInfo

from quant_assets.models.device import resolve_device
from quant_assets.models.networks import PositionModel, SeedAveragedModel
from quant_assets.models.prediction import predict_positions
from quant_assets.models.tensors import Panel
from quant_assets.tracking.provenance import clean_tags
from quant_assets.tracking.store import DEFAULT_EXPERIMENT, MlflowTracker

_REGISTERED_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,255}$")


@dataclass(frozen=True)
class LoggedModel:
    """One MLflow run and, when a model was logged, its registered version.

    Attributes
    ----------
    run_id, experiment_id : str
        The MLflow run (one per model per walk-forward window).
    registered_name : str or None
        E.g. ``"quant_assets-lstm"``; None for a rule baseline, which has no model to store.
    version : int or None
        The registered version, counting from 1 per name.
    logged_model_uri : str or None
        MLflow 3's own ``models:/m-<id>`` URI of the logged model.
    """

    run_id: str
    experiment_id: str
    registered_name: str | None = None
    version: int | None = None
    logged_model_uri: str | None = None

    @property
    def model_uri(self) -> str | None:
        """``models:/<registered_name>/<version>``, the URI that loads this version."""
        if self.registered_name is None or self.version is None:
            return None
        return model_version_uri(self.registered_name, self.version)


def registered_model_name(kind: str, prefix: str = DEFAULT_EXPERIMENT) -> str:
    """``<prefix>-<kind>``, e.g. ``quant_assets-lstm``."""
    return _checked_name(f"{prefix}-{kind}")


def model_version_uri(registered_name: str, version: int) -> str:
    return f"models:/{_checked_name(registered_name)}/{int(version)}"


def _checked_name(name: str) -> str:
    # Names end up inside MLflow filter strings; keep them to a safe alphabet.
    if not _REGISTERED_NAME.match(name):
        raise ValueError(
            f"registered model name {name!r} must be 1-256 letters, digits, '.', '_' or '-'"
        )
    return name


def package_requirements(*packages: str) -> list[str]:
    """``name==version`` pins of installed packages (local labels such as ``+cpu`` dropped).

    Passed to ``log_model`` so MLflow does not spawn a subprocess to infer requirements. A
    pickled :class:`PositionModel` also needs ``quant_assets`` importable where it is loaded.
    """
    return [f"{name}=={importlib.metadata.version(name).split('+')[0]}" for name in packages]


def register_logged_model(
    tracker: MlflowTracker,
    run_id: str,
    model_info: ModelInfo | None,
    registered_name: str | None,
    version_tags: Mapping[str, object] | None = None,
) -> LoggedModel:
    """Register a logged model as a new version tagged ``version_tags``; describe the run.

    The registered model is created when absent and reused when present (MLflow handles the
    race). Without ``model_info`` (a rule baseline) nothing is registered.
    """
    if model_info is None or registered_name is None:
        return LoggedModel(run_id=run_id, experiment_id=tracker.experiment_id)
    with tracker.activate():
        version = mlflow.register_model(
            model_info.model_uri,
            _checked_name(registered_name),
            await_registration_for=0,
            tags=clean_tags(version_tags or {}),
        )
    return LoggedModel(
        run_id=run_id,
        experiment_id=tracker.experiment_id,
        registered_name=registered_name,
        version=int(version.version),
        logged_model_uri=model_info.model_uri,
    )


def latest_version(tracker: MlflowTracker, registered_name: str) -> int:
    """The highest version number registered under ``registered_name``.

    Raises
    ------
    LookupError
        When no version is registered under that name.
    """
    name = _checked_name(registered_name)
    versions = tracker.client.search_model_versions(f"name = '{name}'")
    if not versions:
        raise LookupError(f"no registered versions of {name!r} in {tracker.tracking_uri}")
    return max(int(v.version) for v in versions)


def load_registered_model(
    tracker: MlflowTracker,
    registered_name: str,
    version: int | None = None,
    *,
    device: str = "cpu",
):
    """A registered version as it was logged: a :class:`PositionModel` or a scikit-learn estimator.

    Parameters
    ----------
    tracker : MlflowTracker
    registered_name : str
    version : int, optional
        Default: the latest version.
    device : str
        Torch device spec for a network (``"cpu"``, ``"cuda"``, ``"auto"``...).

    Returns
    -------
    PositionModel or SeedAveragedModel (in eval mode, on ``device``) or sklearn estimator
    """
    version = latest_version(tracker, registered_name) if version is None else int(version)
    uri = model_version_uri(registered_name, version)
    with tracker.activate():
        flavors = mlflow.models.get_model_info(uri).flavors
        if "pytorch" in flavors:
            model = mlflow.pytorch.load_model(uri, map_location=resolve_device(device))
            return model.eval()
        if "sklearn" in flavors:
            return mlflow.sklearn.load_model(uri)
    raise ValueError(f"{uri} has flavors {sorted(flavors)}, expected 'pytorch' or 'sklearn'")


def predict_with_model_version(
    tracker: MlflowTracker,
    panel: Panel,
    registered_name: str,
    version: int | None = None,
    *,
    dates: pd.DatetimeIndex | None = None,
    device: str = "cpu",
    batch_size: int = 256,
) -> pd.DataFrame:
    """Positions of a registered network on ``dates`` of ``panel``, labelled with its version.

    Returns
    -------
    DataFrame
        ``date, ticker, position, model_name, model_version`` (see
        :func:`~quant_assets.models.prediction.predict_positions` for the position convention).
    """
    version = latest_version(tracker, registered_name) if version is None else int(version)
    model = load_registered_model(tracker, registered_name, version, device=device)
    if not isinstance(model, PositionModel | SeedAveragedModel):
        raise TypeError(f"{registered_name} v{version} is not a position network")
    positions = predict_positions(model, panel, dates, batch_size=batch_size)
    return positions.assign(model_name=registered_name, model_version=version)
