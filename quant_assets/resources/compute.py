"""The torch device a run trains on, as a Dagster resource.

The device spec (``auto``, ``cpu``, ``cuda``, ``cuda:N``) is resolved by
:func:`quant_assets.models.device.resolve_device`, the same function the training loop uses, so a
run trains where its resource says. The spec is checked when Dagster initialises the resource for
a step (:meth:`ComputeResource.setup_for_execution`), so a run asking for an absent GPU fails
before any data is read, with a message saying what torch can see. Loading the definitions (the
webserver, the daemon) never touches the device.

This module does not use ``from __future__ import annotations``: Dagster reads the field
annotations of ``ConfigurableResource`` classes at runtime.
"""

import dataclasses
from typing import Any

import torch
from dagster import ConfigurableResource
from pydantic import Field

from quant_assets.models.device import resolve_device
from quant_assets.models.training import TrainConfig


class DeviceUnavailableError(ValueError):
    """The configured device spec is malformed or names hardware this machine does not have."""


def torch_visibility() -> str:
    """What torch sees, in words: its version, its CUDA build and the CUDA devices present."""
    cuda_build = torch.version.cuda
    if cuda_build is None:
        return f"torch {torch.__version__} is a CPU-only build (no CUDA support compiled in)"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} is built for CUDA {cuda_build} but finds no usable GPU"
    names = ", ".join(
        f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())
    )
    return f"torch {torch.__version__} (CUDA {cuda_build}) sees {names}"


class ComputeResource(ConfigurableResource):
    """Which torch device training and inference run on.

    Attributes
    ----------
    device : str
        ``"auto"`` (the current CUDA device when there is one, else CPU), ``"cpu"``, ``"cuda"``
        or ``"cuda:N"``; case and surrounding spaces are ignored.
    allow_mixed_precision : bool
        Train with float16 autocast and a gradient scaler when the device is a GPU. CPU training
        always runs in float32 (see :attr:`mixed_precision`).
    """

    device: str = Field(
        default="auto",
        description="Torch device training and inference run on: 'auto' (the current GPU when "
        "there is one, else CPU), 'cpu', 'cuda' or 'cuda:N'; checked when a run starts.",
    )
    allow_mixed_precision: bool = Field(
        default=True,
        description="Train with float16 autocast and a gradient scaler on a CUDA device; CPU "
        "training always runs in float32.",
    )

    def setup_for_execution(self, context: Any) -> None:
        """Fail the step at resource initialisation when the device is absent."""
        self.torch_device()

    def torch_device(self) -> torch.device:
        """The resolved device, e.g. ``device(type='cuda', index=0)``.

        Raises
        ------
        DeviceUnavailableError
            For a malformed spec, or a CUDA device that this machine does not have; the message
            names the spec and what torch sees.
        """
        try:
            return resolve_device(self.device)
        except ValueError as exc:
            raise DeviceUnavailableError(
                f"ComputeResource.device={self.device!r} cannot be used: {exc}. "
                f"{torch_visibility()}. Set device to 'auto' or 'cpu' to run without a GPU."
            ) from None

    @property
    def mixed_precision(self) -> bool:
        """Whether training uses float16 autocast: allowed and on a CUDA device."""
        return self.allow_mixed_precision and self.torch_device().type == "cuda"

    def train_config(self, config: TrainConfig | None = None, **overrides: Any) -> TrainConfig:
        """``config`` (default :class:`TrainConfig`) set to train on this resource's device.

        ``device`` becomes the resolved device (``"cpu"``, ``"cuda:0"``), so the training run and
        its MLflow parameters name the hardware actually used; ``overrides`` replace other fields.
        """
        return dataclasses.replace(
            config or TrainConfig(),
            device=str(self.torch_device()),
            mixed_precision=self.mixed_precision,
            **overrides,
        )

    def describe(self) -> dict[str, str | int | float | bool]:
        """The device in words, for Dagster metadata and MLflow tags.

        Keys: ``device``, ``device_spec``, ``torch_version``, ``mixed_precision``, ``cpu_threads``,
        and on a GPU also ``cuda_version``, ``cudnn_version``, ``gpu_name``, ``gpu_memory_gib``
        (total memory in GiB) and ``gpu_compute_capability``.
        """
        device = self.torch_device()
        facts: dict[str, str | int | float | bool] = {
            "device": str(device),
            "device_spec": self.device,
            "torch_version": torch.__version__,
            "mixed_precision": self.mixed_precision,
            "cpu_threads": torch.get_num_threads(),
        }
        if device.type == "cuda":
            properties = torch.cuda.get_device_properties(device)
            facts |= {
                "cuda_version": str(torch.version.cuda),
                "cudnn_version": int(torch.backends.cudnn.version() or 0),
                "gpu_name": properties.name,
                "gpu_memory_gib": round(properties.total_memory / 2**30, 1),
                "gpu_compute_capability": f"{properties.major}.{properties.minor}",
            }
        return facts
