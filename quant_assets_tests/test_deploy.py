"""The deployment examples in docs/deploy load: instance YAML, executor YAML, environment.

* Each instance file passes Dagster's instance schema, and each class it names (PostgreSQL
  storage, the Kubernetes run launcher, ...) imports and accepts its own config, the checks
  Dagster makes before it connects to anything. It keeps the project's concurrency pools.
* Each executor's YAML configures that executor for every job of the deployment's code
  location (``docs/deploy/code_location.py``), resolving its ``{env: ...}`` values as a run
  launch does; the Celery file is also a valid ``dagster-celery worker start -y`` config.
* ``QUANT_ASSETS_DATA_DIR`` and ``MLFLOW_TRACKING_URI`` move the warehouse, the raw folder and
  the MLflow store.
* Where PostgreSQL's server binaries are installed, a run on ``dagster.postgres.yaml`` against a
  throwaway server on 127.0.0.1 stores its events there.

Tests that need dagster-postgres, dagster-celery or dagster-k8s skip without them (the
``deploy`` extra).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, materialize, validate_run_config
from dagster._config import process_config, resolve_to_config_type
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.ref import InstanceRef
from dagster._serdes.config_class import ConfigurableClassData

from quant_assets_tests.conftest import REPO_ROOT

DEPLOY = REPO_ROOT / "docs" / "deploy"
# What a deployment would export; values are placeholders that only need to be well formed.
DEPLOY_ENV = {
    "DAGSTER_PG_HOST": "postgres.internal",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "not-a-real-password",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_COMPUTE_LOG_DIR": "/data/dagster/compute_logs",
    "DAGSTER_K8S_NAMESPACE": "quant-assets",
    "DAGSTER_CELERY_BROKER_URL": "redis://redis.internal:6379/0",
    "DAGSTER_CELERY_BACKEND_URL": "redis://redis.internal:6379/1",
}
INSTANCE_FILES = {
    "dagster.postgres.yaml": ("dagster_postgres",),
    "dagster.k8s.yaml": ("dagster_postgres", "dagster_k8s"),
}
EXECUTORS = {"multiprocess": None, "celery": "dagster_celery", "k8s": "dagster_k8s"}


@pytest.fixture
def deploy_env(monkeypatch):
    for name, value in DEPLOY_ENV.items():
        monkeypatch.setenv(name, value)


def _instance_ref(tmp_path: Path, source: Path) -> InstanceRef:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(source, home / "dagster.yaml")
    return InstanceRef.from_dir(str(home))


def _configured_classes(ref: InstanceRef) -> dict[str, str]:
    """``{field: class name}`` of the ref; fails if a class refuses its config."""
    classes = {}
    for field, data in ref._asdict().items():
        if not isinstance(data, ConfigurableClassData):
            continue
        klass = getattr(importlib.import_module(data.module_name), data.class_name)
        result = process_config(resolve_to_config_type(klass.config_type()), data.config_dict)
        assert result.success, f"{data.class_name}: {[e.message for e in result.errors]}"
        classes[field] = data.class_name
    return classes


def _project_concurrency() -> dict:
    return yaml.safe_load((REPO_ROOT / "dagster_home" / "dagster.yaml").read_text())["concurrency"]


@pytest.mark.parametrize("name", list(INSTANCE_FILES))
def test_instance_yaml_validates_and_each_class_accepts_its_config(tmp_path, deploy_env, name):
    for module in INSTANCE_FILES[name]:
        pytest.importorskip(module)

    classes = _configured_classes(_instance_ref(tmp_path, DEPLOY / name))

    assert classes["run_storage_data"] == "PostgresRunStorage"
    assert classes["event_storage_data"] == "PostgresEventLogStorage"
    assert classes["schedule_storage_data"] == "PostgresScheduleStorage"
    expected_launcher = "K8sRunLauncher" if "k8s" in name else "DefaultRunLauncher"
    assert classes["run_launcher_data"] == expected_launcher


@pytest.mark.parametrize("name", [*INSTANCE_FILES, "../../dagster_home/dagster.yaml"])
def test_instance_yaml_keeps_the_projects_concurrency_pools(tmp_path, deploy_env, name):
    ref = _instance_ref(tmp_path, DEPLOY / name)
    assert ref.settings["concurrency"] == _project_concurrency()
    assert ref.settings["concurrency"]["pools"]["default_limit"] == 1  # one DuckDB writer


@pytest.fixture(scope="module")
def code_location():
    """``docs/deploy/code_location.py`` as a module (it is loaded by file, not by package)."""
    spec = importlib.util.spec_from_file_location(
        "quant_assets_deploy_code_location", DEPLOY / "code_location.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("executor", list(EXECUTORS))
def test_executor_yaml_configures_that_executor_for_every_job(deploy_env, code_location, executor):
    if EXECUTORS[executor]:
        pytest.importorskip(EXECUTORS[executor])

    jobs = code_location.build_defs(executor).resolve_all_job_defs()

    assert {"ingest_price_files", "daily_update", "retrain_models"} <= {j.name for j in jobs}
    for job in jobs:
        assert job.executor_def.name == executor
        # Resolves the configured executor's YAML, {env: ...} values included, as a launch does.
        resolved = validate_run_config(job, {})["execution"]
        assert resolved == validate_run_config(jobs[0], {})["execution"]


def test_executor_yaml_reads_its_values_from_the_environment(code_location, monkeypatch):
    pytest.importorskip("dagster_celery")
    for name in ("DAGSTER_CELERY_BROKER_URL", "DAGSTER_CELERY_BACKEND_URL"):
        monkeypatch.delenv(name, raising=False)
    job = code_location.build_defs("celery").resolve_job_def("daily_update")
    with pytest.raises(DagsterInvalidConfigError, match="DAGSTER_CELERY_BROKER_URL"):
        validate_run_config(job, {})


def test_k8s_per_step_config_names_real_steps(code_location):
    pytest.importorskip("dagster_k8s")
    per_step = code_location.executor_config("k8s")["per_step_k8s_config"]
    jobs = code_location.build_defs("k8s").resolve_all_job_defs()
    assert set(per_step) <= {node for job in jobs for node in job.graph.node_dict}


def test_celery_workers_start_from_the_same_yaml(deploy_env):
    pytest.importorskip("dagster_celery")
    from dagster_celery.cli import get_validated_config

    config = get_validated_config(str(DEPLOY / "executor.celery.yaml"))

    assert config["broker"] == DEPLOY_ENV["DAGSTER_CELERY_BROKER_URL"]
    assert config["backend"] == DEPLOY_ENV["DAGSTER_CELERY_BACKEND_URL"]


def test_an_unknown_executor_name_is_refused(code_location):
    with pytest.raises(ValueError, match="expected multiprocess, celery or k8s"):
        code_location.executor_named("spark")


_WHERE_THINGS_GO = """
from quant_assets.resources.raw_files import RawFileStore
from quant_assets.resources.warehouse import Warehouse
from quant_assets.tracking.store import MlflowTracker, default_tracking_uri

print(Warehouse().path)
print(RawFileStore().root)
print(MlflowTracker().tracking_uri)
print(default_tracking_uri())
"""


def test_data_dir_and_mlflow_uri_come_from_the_environment(tmp_path):
    """Defaults are read when the code location is imported: a fresh process, as a deployment."""
    shared = tmp_path / "shared volume"
    shared.mkdir()
    env = {"QUANT_ASSETS_DATA_DIR": str(shared), "MLFLOW_TRACKING_URI": "http://mlflow:5000"}

    printed = subprocess.run(
        [sys.executable, "-c", _WHERE_THINGS_GO],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()

    warehouse, raw, mlflow_uri, mlflow_default = printed
    assert (Path(warehouse), Path(raw)) == (shared / "warehouse.duckdb", shared / "raw")
    assert mlflow_uri == "http://mlflow:5000"
    # Without MLFLOW_TRACKING_URI, runs go to a SQLite file on the same volume.
    assert mlflow_default == f"sqlite:///{shared / 'mlflow' / 'mlflow.db'}"


# --- a real PostgreSQL on 127.0.0.1, where its binaries are installed ---------------------------


def _postgres_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(candidates[-1]) if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalPostgres:
    """initdb + pg_ctl in a temp folder, loopback only, as the ``postgres`` user under root."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
        if not (self.initdb and self.pg_ctl):
            pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.as_user: list[str] = []
        self.root = Path(tempfile.mkdtemp(prefix="quant-assets-pg-"))
        if os.geteuid() == 0:  # the server refuses to run as root
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root without a postgres user to run the server as")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.port, self.password = _free_port(), "dagster-test-password"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, cwd=self.root)

    def start(self) -> LocalPostgres:
        pwfile = self.root / "pw"
        pwfile.write_text(self.password)
        if self.as_user:
            shutil.chown(pwfile, "postgres")
        data = self.root / "data"
        self._run(
            self.initdb, "-D", str(data), "-U", "dagster", "--auth=scram-sha-256",
            f"--pwfile={pwfile}", "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        # -w returns once the server accepts connections.
        self._run(self.pg_ctl, "-D", str(data), "-l", str(self.root / "log"), "-w", "-o", options, "start")  # fmt: skip
        return self

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(self.pg_ctl, "-D", str(self.root / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def postgres():
    pytest.importorskip("dagster_postgres")
    server = LocalPostgres()
    try:
        yield server.start()
    finally:
        server.stop()


def test_a_run_on_the_postgres_instance_yaml_stores_its_events_there(
    tmp_path, monkeypatch, postgres, shared_data
):
    import psycopg2

    from quant_assets.assets.ingest import price_files, prices
    from quant_assets.partitions import RANGE_END, RANGE_START
    from quant_assets_tests.dagster_project import QUIET, Project, write_real_ticker_files

    env = {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": str(postgres.port),
        "DAGSTER_PG_USERNAME": "dagster",
        "DAGSTER_PG_PASSWORD": postgres.password,
        "DAGSTER_PG_DB": "postgres",
        "DAGSTER_COMPUTE_LOG_DIR": str(tmp_path / "compute_logs"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.postgres.yaml", home / "dagster.yaml")
    (tmp_path / "raw").mkdir()
    write_real_ticker_files(shared_data, tmp_path / "raw", ["AAPL"])

    with DagsterInstance.from_config(str(home)) as instance:
        project = Project(root=tmp_path, instance=instance)
        project.add_tickers(["AAPL"])
        result = materialize(
            [price_files, prices],
            instance=instance,
            resources=project.resources(),
            tags={RANGE_START: "AAPL", RANGE_END: "AAPL"},
            run_config=QUIET,
        )
        assert result.success
        assert instance.get_dynamic_partitions("tickers") == ["AAPL"]

    with psycopg2.connect(
        host="127.0.0.1", port=postgres.port, user="dagster", password=postgres.password,
        dbname="postgres",
    ) as con, con.cursor() as cur:  # fmt: skip
        cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s", [result.run_id])
        assert cur.fetchone()[0] > 0
        cur.execute("SELECT status FROM runs WHERE run_id = %s", [result.run_id])
        assert cur.fetchone()[0] == "SUCCESS"
    assert project.query("SELECT count(*) AS n FROM prices")["n"][0] == 1259


def test_a_new_instance_on_an_existing_warehouse_gets_its_ticker_partitions_back(
    project, shared_data
):
    from dagster import build_sensor_context

    from quant_assets.automation.sensors import raw_files_sensor
    from quant_assets_tests.dagster_project import write_real_ticker_files

    write_real_ticker_files(shared_data, project.raw, ["AAPL"])
    assert project.ingest_files(["AAPL"]).success

    with (
        DagsterInstance.ephemeral() as moved,
        build_sensor_context(instance=moved, resources=project.resources()) as context,
    ):
        result = raw_files_sensor(context)

    assert [list(r.partition_keys) for r in result.dynamic_partitions_requests] == [["AAPL"]]
    assert result.run_requests == []  # the rows are already in the warehouse
