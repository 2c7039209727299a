"""Tickers and file names crafted to inject SQL or to leave data/raw are refused.

SQL: a crafted value may reach the warehouse only as data (the writers bind every value as a
parameter), is quarantined by the ticker rule, and never becomes a partition; afterwards every
table is still there with its rows. Paths: ``..``, absolute paths and links that resolve outside
the raw folder are refused whether they come from run config or from a folder scan.

Covered elsewhere: a crafted ticker in a file during a sensor tick
(``test_automation/test_raw_files_sensor.py::test_unsafe_tickers_and_unreadable_files_are_refused_without_stopping_the_sensor``),
``../outside.csv``, ``/etc/passwd`` and ``sub/../../x.csv`` in run config
(``test_assets/test_price_files.py::test_paths_escaping_the_raw_folder_are_refused``), the raw
folder's resolve and listing rules (``test_resources/test_raw_files.py``) and malformed FMP
symbols at the client (``test_resources/test_fmp.py::test_invalid_symbol_is_refused_before_any_request``).
"""

from __future__ import annotations

import pytest
from dagster import build_sensor_context

from quant_assets.automation.sensors import raw_files_sensor
from quant_assets.partitions import ticker_partitions

INJECTIONS = ["X'); DROP TABLE prices;--", 'AAPL"; DELETE FROM prices; --']
TABLES = ["instruments", "prices", "raw_files", "rejected_rows"]
AAPL_ROWS = 1259


def _tables(project) -> list[str]:
    rows = project.query("SELECT table_name FROM information_schema.tables ORDER BY 1")
    return [t for t in rows["table_name"] if t in TABLES]


def _rows_by_ticker(project) -> dict[str, int]:
    counts = project.query("SELECT ticker, count(*) AS n FROM prices GROUP BY ticker")
    return dict(zip(counts["ticker"], counts["n"], strict=True))


def _sensor_tick(project):
    with build_sensor_context(instance=project.instance, resources=project.resources()) as ctx:
        result = raw_files_sensor(ctx)
    return result


def _failure(result) -> str:
    """The step's error message with its causes (an exception raised in an op is a cause)."""
    error, messages = result.get_step_failure_events()[0].event_specific_data.error, []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)


@pytest.fixture
def aapl_ingested(project, ticker_files):
    ticker_files(project.raw, ["AAPL"])
    project.ingest_files(["AAPL"])
    assert _rows_by_ticker(project) == {"AAPL": AAPL_ROWS}


def test_tickers_crafted_as_sql_in_a_file_are_quarantined_as_text(project, aapl_ingested):
    rows = [f"2020-01-0{i + 2},{ticker},1,2,0.5,1.5,100" for i, ticker in enumerate(INJECTIONS)]
    (project.raw / "crafted.csv").write_text(
        "date,ticker,open,high,low,close,volume\n" + "\n".join(rows) + "\n"
    )

    result = project.ingest_files(["AAPL"])

    assert result.success
    assert _tables(project) == TABLES
    assert _rows_by_ticker(project) == {"AAPL": AAPL_ROWS}
    rejected = project.query(
        "SELECT ticker, rule, location FROM rejected_rows WHERE source = 'raw/crafted.csv' "
        "ORDER BY location"
    )
    assert list(rejected["ticker"]) == INJECTIONS  # stored verbatim, as data
    assert set(rejected["rule"]) == {"ticker_format"}
    assert list(rejected["location"]) == ["line 2", "line 3"]
    assert project.instance.get_dynamic_partitions(ticker_partitions.name) == ["AAPL"]


def test_a_file_named_as_sql_is_quarantined_and_never_becomes_a_partition(
    project, aapl_ingested, ticker_files
):
    [real] = ticker_files(project.root / "elsewhere", ["MSFT"]).values()
    name = f"{INJECTIONS[0]}.csv"  # a one-ticker file: its name is the ticker
    (project.raw / name).write_bytes(real.read_bytes())

    tick = _sensor_tick(project)
    result = project.ingest_files(["AAPL"], paths=[name])

    assert tick.dynamic_partitions_requests == [] and tick.run_requests == []
    assert result.success
    assert _tables(project) == TABLES
    assert _rows_by_ticker(project) == {"AAPL": AAPL_ROWS}
    rejected = project.query("SELECT rule, count(*) AS n FROM rejected_rows GROUP BY rule")
    assert rejected.to_dict("list") == {"rule": ["ticker_format"], "n": [AAPL_ROWS]}
    assert project.query("SELECT DISTINCT source FROM rejected_rows")["source"][0] == f"raw/{name}"


def test_a_partition_key_crafted_as_sql_writes_nothing(project, aapl_ingested):
    result = project.ingest_files([INJECTIONS[0]])

    assert result.success
    assert _tables(project) == TABLES
    assert _rows_by_ticker(project) == {"AAPL": AAPL_ROWS}


def test_fmp_tickers_crafted_as_sql_are_refused_before_any_request(
    project, aapl_ingested, fmp_server
):
    project.fmp_base_url = fmp_server.base_url

    result = project.fetch_fmp("2021-05-03", "2021-05-07", INJECTIONS[:1], raise_on_error=False)

    assert not result.success
    assert "tickers.0" in _failure(result) and "should match pattern" in _failure(result)
    assert fmp_server.request_count() == 0
    assert _rows_by_ticker(project) == {"AAPL": AAPL_ROWS}


def test_passwd_named_in_run_config_is_refused(project):
    result = project.ingest_files(["AAPL"], paths=["../../etc/passwd"], raise_on_error=False)

    assert not result.success
    assert "refused '../../etc/passwd'" in _failure(result)


@pytest.fixture
def links_out(project, ticker_files):
    """AAPL's file in raw/; MSFT's outside it, reachable through a file link and a folder link."""
    ticker_files(project.raw, ["AAPL"])
    outside = project.root / "outside"
    ticker_files(outside, ["MSFT"])
    (project.raw / "MSFT_data.csv").symlink_to(outside / "MSFT_data.csv")
    (project.raw / "vendor").symlink_to(outside, target_is_directory=True)
    return outside


def test_links_out_of_raw_are_skipped_by_the_scan_and_the_sensor(project, links_out):
    tick = _sensor_tick(project)
    result = project.ingest_files(["AAPL", "MSFT"])

    assert [r.tags["quant_assets/raw_file"] for r in tick.run_requests] == ["AAPL_data.csv"]
    assert [list(r.partition_keys) for r in tick.dynamic_partitions_requests] == [["AAPL"]]
    assert result.success
    assert _rows_by_ticker(project) == {"AAPL": AAPL_ROWS}
    assert list(project.query("SELECT path FROM raw_files")["path"]) == ["raw/AAPL_data.csv"]


@pytest.mark.parametrize("link", ["MSFT_data.csv", "vendor/MSFT_data.csv"])
def test_links_out_of_raw_named_in_run_config_are_refused(project, links_out, link):
    result = project.ingest_files(["MSFT"], paths=[link], raise_on_error=False)

    assert not result.success
    assert f"refused {link!r}: it resolves outside" in _failure(result)
    assert not project.warehouse_path.exists()  # refused before anything was written
