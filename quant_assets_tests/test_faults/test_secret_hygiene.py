"""The FMP key never reaches logs, metadata, run records, the instance's files or the warehouse.

Two runs of ``fmp_daily_bars`` meet the troubles that put a URL (and so, with FMP, the key)
into a message: a 429 and a dropped connection that are retried and logged, a rejected key
whose error body echoes the key back, and a quarantined bar whose raw JSON is stored. They run on an on-disk instance whose event log also keeps the
Python logs of ``quant_assets``, ``urllib3`` (which logs every request line, query string
included) and ``requests`` at DEBUG, with Dagster's console logger at DEBUG too. Then every
place a key could end up is searched, in its raw and URL-encoded forms:

* the Dagster event log of every run (messages, metadata, error chains), serialized whole;
* the run records (run config, tags);
* every file under ``DAGSTER_HOME`` (SQLite databases, captured compute logs);
* stdout and stderr of this process;
* every text column of every table of the warehouse.

The search is shown to be able to find something: the redacted ``apikey=***`` must appear in
the event log and on stderr, where the unredacted key would have been.

Covered elsewhere: errors, ``repr`` and Python logs of the client alone
(``test_resources/test_fmp.py::test_api_key_never_appears_in_errors_logs_or_repr``).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from urllib.parse import quote, quote_plus

import duckdb
import pytest
from dagster import DagsterInstance, materialize
from dagster._serdes import serialize_value

from quant_assets.assets.ingest import fmp_daily_bars, prices
from quant_assets.partitions import RANGE_END, RANGE_START
from quant_assets_tests.dagster_project import Project
from quant_assets_tests.fmp_server import Fault, FMPServer

# URL-reserved characters make the raw and encoded forms differ; the tail is searched alone
# too, in case an escaping we did not think of hides the rest.
API_KEY = "fmp/Secret+Key=7f3a9cQZ"
KEY_TAIL = "7f3a9cQZ"
V3_FIXTURE = "aapl_historical_price_full_2016-06-02_2021-06-02.json"
LOUD = {"loggers": {"console": {"config": {"log_level": "DEBUG"}}}}


def _key_forms() -> set[str]:
    return {API_KEY, quote(API_KEY, safe=""), quote_plus(API_KEY), KEY_TAIL}


@pytest.fixture
def server(monkeypatch, shared_data):
    with FMPServer(api_key=API_KEY) as server:
        server.load_fixture_file(shared_data / "fmp" / V3_FIXTURE)
        # A bar whose high is below its low: quarantined, with the record's JSON kept.
        server.add_bars(
            "MSFT", [{"date": "2021-05-04", "open": 2, "high": 1, "low": 3, "close": 2}]
        )
        monkeypatch.setenv("FMP_API_KEY", API_KEY)
        yield server


@pytest.fixture
def loud_project(tmp_path, server):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        textwrap.dedent(
            """
            python_logs:
              managed_python_loggers: [quant_assets, urllib3, requests]
              python_log_level: DEBUG
            telemetry:
              enabled: false
            """
        )
    )
    (tmp_path / "raw").mkdir()
    with DagsterInstance.from_config(str(home)) as instance:
        yield Project(root=tmp_path, instance=instance, fmp_base_url=server.base_url)


def _fetch(project, tickers: list[str]):
    config = {**LOUD, "ops": {"fmp_daily_bars": {"config": {"tickers": tickers}}}}
    return materialize(
        [fmp_daily_bars, prices],
        instance=project.instance,
        resources=project.resources(),
        tags={RANGE_START: "2021-05-03", RANGE_END: "2021-05-07"},
        run_config=config,
        raise_on_error=False,
    )


def _warehouse_text(project) -> list[str]:
    """Every distinct value of every text column (lists cast to text) of every table."""
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    try:
        columns = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE data_type LIKE 'VARCHAR%'"
        ).fetchall()
        texts = []
        for table, column in columns:
            values = con.execute(f'SELECT DISTINCT CAST("{column}" AS VARCHAR) FROM "{table}"')
            texts += [v for (v,) in values.fetchall() if v is not None]
    finally:
        con.close()
    return texts


def test_the_fmp_key_appears_nowhere_after_runs_that_retry_fail_and_quarantine(
    loud_project, server, capfd
):
    server.inject(Fault.status(429, headers={"Retry-After": "0"}))
    server.inject(Fault.drop())  # the test client makes 3 attempts: the third succeeds
    assert _fetch(loud_project, ["AAPL", "MSFT"]).success
    # A server that echoes the key it rejected, in its error body.
    server.inject(Fault.status(401, body={"Error Message": f"Invalid API KEY: {API_KEY}"}))
    assert not _fetch(loud_project, ["AAPL"]).success

    instance = loud_project.instance
    runs = instance.get_runs()
    event_log = [serialize_value(r) for run in runs for r in instance.all_logs(run.run_id)]
    run_records = [serialize_value(run) for run in runs]
    home = Path(instance.root_directory)
    files = {p: p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file()}
    captured = capfd.readouterr()
    warehouse = _warehouse_text(loud_project)

    assert len(runs) == 2
    assert any("apikey=***" in e for e in event_log)
    assert "apikey=***" in captured.err
    assert any(path.suffix in (".out", ".err") for path in files)  # compute logs were captured
    assert warehouse  # quarantine, sources and manifest text were searched
    for form in _key_forms():
        assert not [e for e in event_log if form in e]
        assert not [r for r in run_records if form in r]
        assert not [p for p, data in files.items() if form.encode() in data]
        assert form not in captured.out and form not in captured.err
        assert not [t for t in warehouse if form in t]
