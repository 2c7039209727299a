"""Fixtures shared by the whole suite: real data locations and temporary project dirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dagster import DagsterInstance

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``../shared/data`` beside the repository (CI has it; a user's clone may not)."""
    env = os.environ.get("QUANT_ASSETS_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real test data not found at {path}")
    return path


@pytest.fixture
def project(tmp_path):
    """A temp raw folder and warehouse with an ephemeral Dagster instance (see dagster_project)."""
    from quant_assets_tests.dagster_project import Project

    with DagsterInstance.ephemeral() as instance:
        (tmp_path / "raw").mkdir()
        yield Project(root=tmp_path, instance=instance)


@pytest.fixture
def fmp_server(monkeypatch):
    """A real FMP-speaking HTTP server on 127.0.0.1, with FMP_API_KEY set to its key."""
    from quant_assets_tests.fmp_server import FMPServer

    with FMPServer() as server:
        monkeypatch.setenv("FMP_API_KEY", server.api_key)
        yield server
