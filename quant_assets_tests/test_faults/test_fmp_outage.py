"""FMP down for a day: the run fails saying why, nothing is half-written, the gap is caught up.

The universe is AAPL and MSFT (FMP's real AAPL payload is served for both), fetched through
the v3 endpoint whose path names the symbol, so the outage can hit one symbol: AAPL's bar of
the day arrives, MSFT's does not, and the run must write neither. Runs are started the way the
daemon starts the daily schedule's runs: evaluate the schedule at 18:30 New York time, execute
the run request it returns.

Covered elsewhere: a whole-FMP outage on a one-ticker backfill
(``test_assets/test_fmp_daily_bars.py::test_fmp_down_fails_the_run_clearly_and_writes_nothing``)
and the client's retries, backoff and ``Retry-After`` (``test_resources/test_fmp.py``).
"""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from dagster import RunRequest, build_schedule_context, instance_for_test, materialize

from quant_assets.assets.ingest import fmp_daily_bars, prices
from quant_assets.automation.schedules import daily_update_schedule
from quant_assets.resources.fmp import FMPClient
from quant_assets_tests.dagster_project import QUIET, Project
from quant_assets_tests.fmp_server import Fault

V3_FIXTURE = "aapl_historical_price_full_2016-06-02_2021-06-02.json"
MONDAY, TUESDAY, WEDNESDAY = "2021-05-03", "2021-05-04", "2021-05-05"
NEW_YORK = ZoneInfo("America/New_York")
MSFT_PATH = "/api/v3/historical-price-full/MSFT"
ATTEMPTS = 3  # the test client's max_retries=2, plus the first attempt


@pytest.fixture
def project(tmp_path):
    """The usual test project on a persistent (SQLite, temp dir) instance, as the daemon has:
    a schedule context cannot be handed an in-memory one, and the schedule reads the
    instance's materializations to find the days it missed."""
    with instance_for_test() as instance:
        (tmp_path / "raw").mkdir()
        yield Project(root=tmp_path, instance=instance)


@pytest.fixture
def served(project, fmp_server, shared_data):
    records = json.loads((shared_data / "fmp" / V3_FIXTURE).read_text())["historical"]
    for symbol in ("AAPL", "MSFT"):
        fmp_server.add_bars(symbol, records)
    project.fmp_base_url = fmp_server.base_url
    return fmp_server


def _resources(project) -> dict:
    fmp = FMPClient(
        base_url=project.fmp_base_url,
        api_version="v3",
        backoff_base_s=0.001,
        max_retries=ATTEMPTS - 1,
        timeout_s=5,
    )
    return {**project.resources(), "fmp": fmp}


def _daily_run(project, day: str, tickers: list[str] | None = None):
    """Evaluate the schedule on ``day`` at 18:30 New York and execute what it requests."""
    when = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(18, 30), NEW_YORK)
    with build_schedule_context(instance=project.instance, scheduled_execution_time=when) as ctx:
        requests = daily_update_schedule(ctx)
    requests = [requests] if isinstance(requests, RunRequest) else list(requests)
    results = []
    for request in requests:
        config = {"ops": {"fmp_daily_bars": {"config": {"tickers": tickers}}}} if tickers else {}
        results.append(
            materialize(
                [fmp_daily_bars, prices],
                instance=project.instance,
                resources=_resources(project),
                partition_key=request.partition_key,
                tags=dict(request.tags),
                run_config={**QUIET, **(request.run_config or {}), **config},
                raise_on_error=False,
            )
        )
    return results


def _bars_on(project, day: str) -> list[str]:
    rows = project.query("SELECT ticker FROM prices WHERE date = ? ORDER BY ticker", [day])
    return list(rows["ticker"])


def test_a_day_with_fmp_down_fails_clearly_writes_nothing_and_its_rerun_catches_up(project, served):
    [monday] = _daily_run(project, MONDAY, tickers=["AAPL", "MSFT"])
    assert monday.success and _bars_on(project, MONDAY) == ["AAPL", "MSFT"]
    before = project.query("SELECT * FROM prices ORDER BY ticker, date")
    # Down for the day: every attempt at MSFT that evening gets HTTP 503.
    served.inject(Fault.status(503), times=ATTEMPTS, path=MSFT_PATH)

    [tuesday] = _daily_run(project, TUESDAY)

    assert not tuesday.success
    message = tuesday.get_step_failure_events()[0].event_specific_data.error.message
    assert f"FMP fetch failed for MSFT {TUESDAY}..{TUESDAY}" in message
    assert f"failed after {ATTEMPTS} attempts: HTTP 503" in message
    # AAPL's Tuesday bar had arrived; it was not written without MSFT's.
    assert project.query("SELECT * FROM prices ORDER BY ticker, date").equals(before)
    assert project.query("SELECT count(*) AS n FROM rejected_rows")["n"][0] == 0

    [rerun] = _daily_run(project, TUESDAY)
    assert rerun.success
    assert _bars_on(project, TUESDAY) == ["AAPL", "MSFT"]


def test_the_next_scheduled_run_catches_up_a_day_missed_while_fmp_was_down(project, served):
    [monday] = _daily_run(project, MONDAY, tickers=["AAPL", "MSFT"])
    assert monday.success
    served.down = True
    [tuesday] = _daily_run(project, TUESDAY)
    assert not tuesday.success
    served.down = False

    wednesday = _daily_run(project, WEDNESDAY)

    assert all(result.success for result in wednesday)
    assert _bars_on(project, WEDNESDAY) == ["AAPL", "MSFT"]
    assert _bars_on(project, TUESDAY) == ["AAPL", "MSFT"]
