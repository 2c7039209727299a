from __future__ import annotations

import pytest
from dagster import DagsterInstance

from quant_assets_tests.dagster_project import Project
from quant_assets_tests.fmp_server import FMPServer


@pytest.fixture
def project(tmp_path):
    with DagsterInstance.ephemeral() as instance:
        (tmp_path / "raw").mkdir()
        yield Project(root=tmp_path, instance=instance)


@pytest.fixture
def fmp_server(monkeypatch):
    with FMPServer() as server:
        monkeypatch.setenv("FMP_API_KEY", server.api_key)
        yield server
