"""The Dagster UI: a real ``dagster-webserver`` on 127.0.0.1, driven through its GraphQL API.

One webserver serves the module (temp instance, temp data folder). The tests check that it shows
every asset (with its group), asset check, schedule and sensor of ``defs``; launch a partitioned
materialization through it as the UI's "Materialize" button would; and, after the rest of the graph
has run on a short slice of that ticker, render the asset graph, ``backtest_report``'s page (its
latest materialization's metadata: report path, key metrics, out-of-sample range) and ``prices``'s
page in headless Chromium (skipped when ``/usr/bin/chromium`` is not installed).
"""

from __future__ import annotations

import contextlib
import html
import re
import time
from pathlib import Path
from urllib.parse import quote

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance
from PIL import Image

from quant_assets_tests.dagster_project import Project, write_real_ticker_files
from quant_assets_tests.test_ui.webserver import (
    CHROMIUM,
    REPOSITORY_NAME,
    REPOSITORY_SELECTOR,
    TERMINAL_RUN_STATUSES,
    Webserver,
    capture,
    chromium_available,
    keep_screenshots,
    pause,
)

pytestmark = pytest.mark.slow

TICKER = "AAPL"
AAPL_ROWS = 1259  # AAPL's rows in the real 5-year S&P 500 file
RUN_TIMEOUT_S = 180.0
FACTORS_START = "2017-01-03"
REPORT_START = "2017-09-01"  # the first test block: out-of-sample predictions start here
LAST_DAY = "2018-02-07"

REPOSITORY_QUERY = """
query Repository($selector: RepositorySelector!) {
  repositoryOrError(repositorySelector: $selector) {
    __typename
    ... on Repository {
      name
      location { name }
      assetNodes {
        assetKey { path }
        groupName
        assetChecksOrError { ... on AssetChecks { checks { name } } }
      }
      schedules { name }
      sensors { name }
    }
    ... on PythonError { message }
  }
}
"""

ADD_PARTITION = """
mutation AddPartition($selector: RepositorySelector!, $name: String!, $key: String!) {
  addDynamicPartition(repositorySelector: $selector, partitionsDefName: $name, partitionKey: $key) {
    __typename
    ... on AddDynamicPartitionSuccess { partitionsDefName partitionKey }
    ... on Error { message }
  }
}
"""

LAUNCH_RUN = """
mutation Launch($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message }
  }
}
"""

RUN_STATUS = """
query RunStatus($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { status } ... on Error { message } }
}
"""

RUN_ERRORS = """
query RunErrors($runId: ID!) {
  logsForRun(runId: $runId) {
    ... on EventConnection {
      events {
        __typename
        ... on ExecutionStepFailureEvent { message stepKey error { message } }
        ... on RunFailureEvent { message }
      }
    }
  }
}
"""

ASSET_EVENTS = """
query AssetEvents($key: AssetKeyInput!, $partitions: [String!]) {
  assetNodes(assetKeys: [$key]) {
    assetMaterializations(limit: 1, partitions: $partitions) {
      runId
      partition
      metadataEntries { label ... on IntMetadataEntry { intValue } }
    }
    assetChecksOrError {
      ... on AssetChecks { checks { name executionForLatestMaterialization { status runId } } }
    }
  }
}
"""


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    server = Webserver(root=tmp_path_factory.mktemp("ui"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def aapl_run(webserver, shared_data) -> str:
    """price_files[AAPL] + prices (with its checks), launched through GraphQL; the run id."""
    write_real_ticker_files(shared_data, webserver.raw_dir, [TICKER])
    added = webserver.graphql(
        ADD_PARTITION, {"selector": REPOSITORY_SELECTOR, "name": "tickers", "key": TICKER}
    )["addDynamicPartition"]
    assert added["__typename"] == "AddDynamicPartitionSuccess", added

    params = {
        "selector": {
            **REPOSITORY_SELECTOR,
            "pipelineName": "__ASSET_JOB",
            "assetSelection": [{"path": ["price_files"]}, {"path": ["prices"]}],
        },
        # One process for the two assets' steps and the four checks (the default spawns a
        # process per step, each importing the project: minutes on a busy 2-core machine).
        "runConfigData": {"execution": {"config": {"in_process": {}}}},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": TICKER}]},
    }
    launched = webserver.graphql(LAUNCH_RUN, {"executionParams": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    deadline = time.monotonic() + RUN_TIMEOUT_S
    status = launched["run"]["status"]
    while status not in TERMINAL_RUN_STATUSES:
        assert time.monotonic() < deadline, (
            f"run {run_id} still {status} after {RUN_TIMEOUT_S:.0f}s:\n{webserver.log_tail()}"
        )
        pause(0.5)
        status = webserver.graphql(RUN_STATUS, {"runId": run_id})["runOrError"]["status"]
    if status != "SUCCESS":
        events = webserver.graphql(RUN_ERRORS, {"runId": run_id})["logsForRun"]["events"]
        failures = [e for e in events if e.get("message")]
        pytest.fail(f"run {run_id} ended {status}: {failures}")
    return run_id


@pytest.fixture(scope="module")
def report_run(webserver, aapl_run) -> str:
    """The rest of the graph on AAPL, so the UI has a report to show: factors, rule-based models,
    predictions, weights, backtests and backtest_report, in the webserver's own instance and data
    folder (run in this process, as the daemon would launch them). A short slice: Dagster's
    SQLite event log pays per trading-day partition. The report's run id."""
    from quant_assets.assets.backtest import backtest_report, backtests
    from quant_assets.assets.factors import factor_values
    from quant_assets.assets.models import predictions, trained_models
    from quant_assets.assets.portfolio import target_weights

    rules_only = {
        "trained_models": {
            "config": {
                "networks": [],
                "forecasters": [],
                "rules": ["long_only", "tsmom", "macd"],
                "first_test_start": REPORT_START,
                "retrain_every": "YS",
                "validation_length": 42,
                "embargo": 5,
            }
        }
    }
    with (
        pytest.MonkeyPatch.context() as mp,
        DagsterInstance.from_config(str(_home(mp, webserver))) as instance,
    ):
        project = Project(root=webserver.data_dir, instance=instance)
        project.materialize([factor_values], start=FACTORS_START, end=LAST_DAY)
        project.materialize([trained_models], config=rules_only)
        project.materialize([predictions, target_weights], start=REPORT_START, end=LAST_DAY)
        result = project.materialize([backtests, backtest_report])
    return result.run_id


def _home(mp: pytest.MonkeyPatch, webserver: Webserver) -> Path:
    mp.setenv("DAGSTER_HOME", str(webserver.home))  # dagster.yaml reads it
    mp.setenv("QUANT_ASSETS_DATA_DIR", str(webserver.data_dir))
    return webserver.home


def expected_definitions() -> dict:
    from quant_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    # Assets with an automation condition get Dagster's own sensor that evaluates them.
    automated = any(graph.get(k).automation_condition for k in graph.get_all_asset_keys())
    automation_sensor = {"default_automation_condition_sensor"} if automated else set()
    return {
        "assets": {
            key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()
        },
        "checks": {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys},
        "schedules": {s.name for s in defs.schedules},
        "sensors": {s.name for s in defs.sensors} | automation_sensor,
    }


def test_webserver_shows_every_asset_check_schedule_and_sensor(webserver):
    repo = webserver.graphql(REPOSITORY_QUERY, {"selector": REPOSITORY_SELECTOR})
    repo = repo["repositoryOrError"]
    assert repo["__typename"] == "Repository", repo
    assert repo["name"] == REPOSITORY_NAME

    shown = {
        "assets": {"/".join(n["assetKey"]["path"]): n["groupName"] for n in repo["assetNodes"]},
        "checks": {
            ("/".join(n["assetKey"]["path"]), check["name"])
            for n in repo["assetNodes"]
            for check in n["assetChecksOrError"].get("checks", [])
        },
        "schedules": {s["name"] for s in repo["schedules"]},
        "sensors": {s["name"] for s in repo["sensors"]},
    }
    assert shown == expected_definitions()
    # ...and defs is the graph the project describes (a change to either shows up here).
    assert shown["assets"] == {
        "price_files": "ingest",
        "fmp_daily_bars": "ingest",
        "prices": "ingest",
        "factor_values": "factors",
        "trained_models": "models",
        "hpo": "models",
        "rl_agents": "models",
        "predictions": "models",
        "target_weights": "portfolio",
        "backtests": "backtest",
        "backtest_report": "backtest",
        "engine_parity": "validation",
    }
    assert {"large_daily_moves", "zero_volume_bars", "flat_bars", "trading_day_gaps"} <= {
        name for asset, name in shown["checks"] if asset == "prices"
    }
    assert shown["schedules"] == {"daily_update_schedule"}
    # ours, and Dagster's own sensor that evaluates the assets' automation conditions
    assert shown["sensors"] == {
        "raw_files_sensor",
        "retrain_sensor",
        "default_automation_condition_sensor",
    }


def test_materialization_launched_through_the_webserver(webserver, aapl_run):
    con = duckdb.connect(str(webserver.warehouse_path), read_only=True)
    try:
        rows = con.execute(
            "SELECT count(*), min(date), max(date) FROM prices WHERE ticker = ?", [TICKER]
        ).fetchone()
        others = con.execute("SELECT count(*) FROM prices WHERE ticker <> ?", [TICKER]).fetchone()
    finally:
        con.close()
    assert rows[0] == AAPL_ROWS
    assert others[0] == 0

    # The UI shows the run's materializations, with their metadata, and the checks it ran.
    part = webserver.graphql(
        ASSET_EVENTS, {"key": {"path": ["price_files"]}, "partitions": [TICKER]}
    )["assetNodes"][0]
    assert [(m["runId"], m["partition"]) for m in part["assetMaterializations"]] == [
        (aapl_run, TICKER)
    ]
    prices = webserver.graphql(ASSET_EVENTS, {"key": {"path": ["prices"]}})["assetNodes"][0]
    (materialization,) = prices["assetMaterializations"]
    assert materialization["runId"] == aapl_run
    metadata = {e["label"]: e.get("intValue") for e in materialization["metadataEntries"]}
    assert metadata["rows"] == AAPL_ROWS
    checks = {
        c["name"]: c["executionForLatestMaterialization"]
        for c in prices["assetChecksOrError"]["checks"]
    }
    # every check on prices ran in that run and passed on the real AAPL file, blocking ones too
    on_prices = {name for asset, name in expected_definitions()["checks"] if asset == "prices"}
    assert {"flat_bars", "inconsistent_bars", "unexplained_jumps"} <= on_prices
    assert {name: (e["status"], e["runId"]) for name, e in checks.items()} == {
        name: ("SUCCEEDED", aapl_run) for name in on_prices
    }


def visible_text(dom: str) -> str:
    without_code = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", without_code)))


def assert_real_image(png: Path) -> None:
    assert png.stat().st_size > 20_000, f"{png.name}: only {png.stat().st_size} bytes"
    with Image.open(png) as image:
        assert image.size == (1600, 1000)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None
    assert len(colours) > 100, f"{png.name}: {len(colours)} colours, looks blank"


@pytest.fixture(scope="module")
def chromium():
    """Skips (before the webserver starts) where Debian's chromium package is not installed."""
    if not chromium_available():
        pytest.skip("headless Chromium not installed: apt-get install -y chromium (make ui-test)")


def test_screenshots_of_the_asset_graph_and_asset_pages(
    chromium, webserver, aapl_run, report_run, tmp_path
):
    # The UI opens a "join the community" dialog on a fresh instance; dismiss it as a user would.
    assert webserver.graphql("mutation { setNuxSeen }")["setNuxSeen"] is True

    expected = expected_definitions()
    groups = sorted(set(expected["assets"].values()))
    # The global lineage view with every group expanded (its `expanded` URL state, ids as the UI
    # builds them when groups are not split per code location).
    expanded = ",".join(f"global@global:{group}" for group in groups)
    shots = {
        "asset_graph.png": f"/asset-groups?expanded={quote(expanded, safe='')}",
        "backtest_report_metadata.png": "/assets/backtest_report",
        "prices_materialization.png": "/assets/prices",
    }
    profile = tmp_path / "chromium-profile"
    doms = {}
    for name, path in shots.items():
        doms[name] = visible_text(capture(webserver.url + path, tmp_path / name, profile))
    pngs = [tmp_path / name for name in shots]
    keep_screenshots(pngs)
    for png in pngs:
        assert_real_image(png)

    graph = doms["asset_graph.png"]
    missing = [a for a in [*expected["assets"], *groups] if a not in graph.split()]
    assert not missing, f"asset graph does not show {missing}"

    from quant_assets.definitions import defs

    report = defs.resolve_asset_graph().get(AssetKey("backtest_report"))
    first_line = report.description.strip().splitlines()[0]
    page = doms["backtest_report_metadata.png"]
    assert first_line in page
    assert "backtests" in page.split()  # its upstream asset, under Lineage
    # The latest materialization's metadata: where the report is, its key metrics and lineage.
    for shown in ("report_url", "key_metrics", "out_of_sample_range", "long_only:vol_target"):
        assert shown in page, f"backtest_report page does not show {shown!r}"

    prices = doms["prices_materialization.png"]
    for shown in ("rows", str(AAPL_ROWS), "rejected_rows_total", f"raw/{TICKER}_data.csv"):
        assert shown in prices.split(), f"prices page does not show {shown!r}"


# --- The launchpad, blocking checks and freshness, clicked through as a user would ----------------

BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser_page(chromium):
    """A Playwright page in Debian's Chromium (no browser download: its executable_path)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1600, "height": 1000})
        finally:
            browser.close()


def open_launchpad(page, url: str) -> None:
    """The asset page's Materialize menu -> "Open launchpad" (confirming the upstream warning)."""
    page.goto(url)
    page.get_by_role("button", name="Materialize").wait_for(timeout=60_000)
    page.locator('button[role="button"]').first.click()  # the caret beside Materialize
    page.get_by_text("Open launchpad").click()
    confirm = page.get_by_role("button", name="Confirm")
    with contextlib.suppress(Exception):
        confirm.click(timeout=3_000)
    page.locator(".CodeMirror").wait_for(timeout=60_000)


def test_launchpad_explains_every_config_field(browser_page, webserver, tmp_path):
    from quant_assets.assets.models import TrainedModelsConfig

    page = browser_page
    open_launchpad(page, webserver.url + "/assets/trained_models")
    # The cursor on a field shows its config type, each field with its description, on the right.
    page.locator(".CodeMirror").get_by_text("max_epochs").click()
    page.wait_for_timeout(1_500)
    png = tmp_path / "launchpad_config_descriptions.png"
    page.screenshot(path=str(png))
    keep_screenshots([png])
    assert_real_image(png)
    shown = " ".join(page.inner_text("body").split())
    fields = TrainedModelsConfig.model_fields
    for name in ("max_epochs", "patience", "stride"):
        description = " ".join(fields[name].description.split())
        assert description[:60] in shown, f"launchpad does not explain {name}: {description!r}"


def test_prices_page_shows_blocking_checks_and_freshness(browser_page, webserver, tmp_path):
    from quant_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    blocking = sorted(
        key.name for key in graph.asset_check_keys
        if key.asset_key == AssetKey("prices") and graph.get_check_spec(key).blocking
    )
    assert blocking, "prices has no blocking check"
    page = browser_page
    page.goto(webserver.url + f"/assets/prices?view=checks&checkDetail={blocking[0]}")
    page.get_by_text("blocking").first.wait_for(timeout=60_000)
    png = tmp_path / "prices_blocking_check.png"
    page.screenshot(path=str(png))
    shown = " ".join(page.inner_text("body").split())
    assert "This is a blocking asset check" in shown

    page.goto(webserver.url + "/assets/prices")
    page.get_by_text("Freshness policy").first.wait_for(timeout=60_000)
    png2 = tmp_path / "prices_freshness.png"
    page.screenshot(path=str(png2))
    keep_screenshots([png, png2])
    shown = " ".join(page.inner_text("body").split())
    policy = graph.get(AssetKey("prices")).freshness_policy
    assert policy is not None
    assert "Freshness policy" in shown
    hours = int(policy.lower_bound_delta.total_seconds() // 3600)
    assert f"Fresh if materialized no earlier than {hours} hours before each deadline" in shown
