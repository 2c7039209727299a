"""ComputeResource: device selection, the error for absent hardware, and what it reports."""

from __future__ import annotations

import json

import pytest
import torch
from dagster import build_init_resource_context

from quant_assets.models import TrainConfig
from quant_assets.resources.compute import ComputeResource, DeviceUnavailableError

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
without_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="only meaningful without CUDA")


def test_cpu_is_selected_and_never_uses_mixed_precision():
    compute = ComputeResource(device=" CPU ", allow_mixed_precision=True)
    assert compute.torch_device() == torch.device("cpu")
    assert compute.mixed_precision is False


def test_auto_uses_cuda_only_when_present():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert ComputeResource().torch_device().type == expected


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "mps", ""])
def test_malformed_spec_fails_naming_the_spec(spec):
    with pytest.raises(DeviceUnavailableError, match=f"device={spec!r}") as raised:
        ComputeResource(device=spec).torch_device()
    assert "'auto', 'cpu', 'cuda' or 'cuda:N'" in str(raised.value)


@without_cuda
@pytest.mark.parametrize("spec", ["cuda", "cuda:1"])
def test_cuda_without_a_gpu_fails_saying_what_torch_sees(spec):
    with pytest.raises(DeviceUnavailableError) as raised:
        ComputeResource(device=spec).torch_device()
    message = str(raised.value)
    assert f"device={spec!r}" in message and "CUDA is not available" in message
    assert f"torch {torch.__version__}" in message and "'auto' or 'cpu'" in message


@without_cuda
def test_a_run_asking_for_an_absent_gpu_fails_at_resource_initialisation():
    with pytest.raises(DeviceUnavailableError, match="cuda"):
        ComputeResource(device="cuda").setup_for_execution(build_init_resource_context())
    ComputeResource(device="cpu").setup_for_execution(build_init_resource_context())


def test_train_config_is_pointed_at_the_resolved_device():
    base = TrainConfig(hidden_size=8, mixed_precision=True)
    config = ComputeResource(device="cpu").train_config(base, max_epochs=2)
    assert (config.device, config.mixed_precision) == ("cpu", False)
    assert (config.hidden_size, config.max_epochs) == (8, 2)
    assert base.device == "auto"  # the original is untouched


def test_description_is_plain_metadata():
    facts = ComputeResource(device="cpu").describe()
    assert facts["device"] == "cpu" and facts["device_spec"] == "cpu"
    assert facts["torch_version"] == torch.__version__
    assert facts["mixed_precision"] is False and facts["cpu_threads"] >= 1
    assert "gpu_name" not in facts
    json.dumps(facts)


@pytest.mark.gpu
@needs_cuda
def test_cuda_device_is_described_and_allows_mixed_precision():
    compute = ComputeResource(device="cuda:0")
    assert compute.torch_device() == torch.device("cuda", 0)
    assert compute.mixed_precision is True
    assert ComputeResource(device="cuda", allow_mixed_precision=False).mixed_precision is False
    facts = compute.describe()
    assert facts["gpu_name"] == torch.cuda.get_device_name(0)
    assert facts["cuda_version"] == torch.version.cuda and facts["gpu_memory_gib"] > 0
    assert compute.train_config().device == "cuda:0"
    with pytest.raises(DeviceUnavailableError, match="CUDA device"):
        ComputeResource(device=f"cuda:{torch.cuda.device_count()}").torch_device()
