from __future__ import annotations

import pytest
import torch

from quant_assets.models import resolve_device

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_cpu_spec_resolves_to_cpu_ignoring_case_and_spaces():
    assert resolve_device(" CPU ") == torch.device("cpu")


def test_auto_picks_cuda_only_when_available():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


@pytest.mark.parametrize("spec", ["gpu", "cpu:0", "cuda:x", "cuda:-1", ""])
def test_malformed_specs_are_rejected(spec):
    with pytest.raises(ValueError, match="device spec"):
        resolve_device(spec)


@pytest.mark.skipif(torch.cuda.is_available(), reason="only meaningful without CUDA")
def test_cuda_without_a_gpu_fails_clearly():
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")


@pytest.mark.gpu
@needs_cuda
def test_cuda_index_resolves_and_out_of_range_index_fails():
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(ValueError, match="CUDA device"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")
