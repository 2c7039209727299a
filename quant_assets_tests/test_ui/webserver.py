"""A real ``dagster-webserver`` on 127.0.0.1 and headless Chromium pointed at it.

:class:`Webserver` starts the webserver on the project's code location with its own instance
folder (``dagster.yaml`` copied from ``dagster_home/``) and data folder, waits until the code
location has loaded, and talks GraphQL to it. :func:`capture` renders one page of the UI in
headless Chromium into a PNG and returns the rendered DOM.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from quant_assets_tests.conftest import REPO_ROOT

CHROMIUM = "/usr/bin/chromium"
LOCATION_NAME = "quant_assets.definitions"
REPOSITORY_NAME = "__repository__"
REPOSITORY_SELECTOR = {
    "repositoryLocationName": LOCATION_NAME,
    "repositoryName": REPOSITORY_NAME,
}

# `dagster_home/dagster.yaml` caps concurrent runs (`concurrency: runs:`), which makes the instance
# queue runs for the daemon to start. The test runs the webserver alone, as a user who only wants
# the UI would, so runs go straight to the run launcher (a subprocess) instead of the queue.
DIRECT_RUN_COORDINATOR = """
# Added by quant_assets_tests/test_ui: no daemon runs beside this webserver, so runs launched
# from the UI start at once instead of waiting in the queue.
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
"""

TERMINAL_RUN_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pause(seconds: float) -> None:
    """Wait between polls (an Event that is never set: no busy loop, no time.sleep)."""
    threading.Event().wait(seconds)


def stop_process_group(proc: subprocess.Popen, grace_s: float = 20.0) -> None:
    """SIGTERM the process group ``proc`` leads (it was started in a new session), then SIGKILL."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace_s)
    # Whatever the leader left behind in its group (code server, run workers) goes too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


class GraphQLError(AssertionError):
    pass


@dataclass
class Webserver:
    """``dagster-webserver -m quant_assets.definitions`` on a free port of 127.0.0.1."""

    root: Path
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def log_path(self) -> Path:
        return self.root / "webserver.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_timeout_s: float = 180.0) -> Webserver:
        self.home.mkdir(parents=True)
        self.raw_dir.mkdir(parents=True)
        config = (REPO_ROOT / "dagster_home" / "dagster.yaml").read_text()
        (self.home / "dagster.yaml").write_text(config + DIRECT_RUN_COORDINATOR)
        self.port = self.port or free_port()
        env = {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "QUANT_ASSETS_DATA_DIR": str(self.data_dir),
        }
        env.pop("FMP_API_KEY", None)
        executable = Path(sys.executable).parent / "dagster-webserver"
        cmd = [str(executable), "-m", LOCATION_NAME, "-h", "127.0.0.1", "-p", str(self.port)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            self._wait_until_ready(ready_timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_group(self.proc)
            self.proc = None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def _wait_until_ready(self, timeout_s: float) -> None:
        """``/server_info`` answers and the code location has loaded its repository."""
        deadline = time.monotonic() + timeout_s
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"dagster-webserver exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                info = requests.get(f"{self.url}/server_info", timeout=5)
                if info.ok:
                    repos = self.graphql(
                        "{ repositoriesOrError { __typename"
                        " ... on RepositoryConnection { nodes { name } } } }"
                    )["repositoriesOrError"]
                    if repos.get("nodes"):
                        return
                    last = f"repositoriesOrError: {repos}"
                else:
                    last = f"/server_info: HTTP {info.status_code}"
            except (requests.ConnectionError, requests.Timeout, GraphQLError) as exc:
                last = repr(exc)
            pause(0.2)
        raise AssertionError(
            f"dagster-webserver not ready after {timeout_s:.0f}s ({last}):\n{self.log_tail()}"
        )

    def graphql(self, query: str, variables: dict | None = None, timeout_s: float = 60) -> dict:
        response = requests.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            timeout=timeout_s,
        )
        if response.status_code != 200:
            raise GraphQLError(f"HTTP {response.status_code}: {response.text[:2000]}")
        body = response.json()
        if body.get("errors"):
            raise GraphQLError(str(body["errors"])[:2000])
        return body["data"]


def chromium_available() -> bool:
    return os.access(CHROMIUM, os.X_OK)


def capture(url: str, png: Path, profile: Path, timeout_s: float = 90.0) -> str:
    """Render ``url`` in headless Chromium: a 1600x1000 screenshot into ``png``; returns the DOM.

    ``--virtual-time-budget`` lets the page's scripts and GraphQL requests settle before the
    capture. The browser runs in its own process group, killed whole on timeout.
    """
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--window-size=1600,1000",
        "--virtual-time-budget=15000",
        "--dump-dom",
        f"--screenshot={png}",
        url,
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        dom, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        stop_process_group(proc, grace_s=2)
        raise AssertionError(f"chromium did not finish {url} in {timeout_s:.0f}s") from None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # stray helpers (zygote, GPU process) too
    if proc.returncode != 0 or not png.exists():
        tail = err.decode(errors="replace")[-3000:]
        raise AssertionError(f"chromium failed on {url} (exit {proc.returncode}):\n{tail}")
    return dom.decode(errors="replace")


def keep_screenshots(paths: list[Path]) -> None:
    """Copy the PNGs to ``$QUANT_ASSETS_SCREENSHOT_DIR`` when it is set (``make ui-test``)."""
    target = os.environ.get("QUANT_ASSETS_SCREENSHOT_DIR")
    if not target:
        return
    Path(target).mkdir(parents=True, exist_ok=True)
    for path in paths:
        shutil.copy2(path, Path(target) / path.name)
