"""Choosing the torch device from a user-facing spec (``auto``, ``cpu``, ``cuda``, ``cuda:N``)."""

from __future__ import annotations

import re

import torch

_SPEC = re.compile(r"^(auto|cpu|cuda)(?::(\d+))?$")


def resolve_device(spec: str = "auto") -> torch.device:
    """The device a spec names, checked against the hardware present.

    Parameters
    ----------
    spec : str
        ``"auto"`` (the current CUDA device when one is available, else CPU), ``"cpu"``,
        ``"cuda"`` (the current CUDA device) or ``"cuda:N"``. Case and surrounding spaces are ignored.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        For a malformed spec, or a CUDA device that is absent.
    """
    match = _SPEC.match(spec.strip().lower())
    if match is None or (match[2] is not None and match[1] != "cuda"):
        raise ValueError(f"device spec must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {spec!r}")
    kind, index = match[1], match[2]
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(f"device {spec!r} asked for, but CUDA is not available here")
    position = torch.cuda.current_device() if index is None else int(index)
    if position >= torch.cuda.device_count():
        raise ValueError(
            f"device {spec!r} asked for, but only {torch.cuda.device_count()} CUDA device(s) exist"
        )
    return torch.device("cuda", position)
