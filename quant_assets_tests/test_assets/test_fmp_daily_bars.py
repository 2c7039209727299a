"""fmp_daily_bars against a real HTTP server on 127.0.0.1 that serves FMP's real payloads."""

from __future__ import annotations

import json

import pytest

V3_FIXTURE = "aapl_historical_price_full_2016-06-02_2021-06-02.json"


@pytest.fixture
def served(project, fmp_server, shared_data):
    fmp_server.load_fixture_file(shared_data / "fmp" / V3_FIXTURE)
    project.fmp_base_url = fmp_server.base_url
    return fmp_server


def _fixture_records(shared_data, first: str, last: str) -> list[dict]:
    records = json.loads((shared_data / "fmp" / V3_FIXTURE).read_text())["historical"]
    return [r for r in records if first <= r["date"] <= last]


def test_a_backfill_of_many_days_is_one_run_with_one_request_per_ticker(
    project, served, shared_data
):
    result = project.fetch_fmp("2021-05-03", "2021-05-28", tickers=["AAPL"])

    assert result.success
    assert served.request_count() == 1
    stored = project.query("SELECT * FROM prices ORDER BY date")
    expected = sorted(
        _fixture_records(shared_data, "2021-05-03", "2021-05-28"), key=lambda r: r["date"]
    )
    assert len(stored) == len(expected) == 20
    assert stored["close"].tolist() == [r["close"] for r in expected]
    assert stored["volume"].tolist() == [float(r["volume"]) for r in expected]  # E-notation parsed
    assert stored["source"].iloc[0].startswith("fmp/stable/AAPL/2021-05-03_")


def test_the_stable_endpoint_layout_is_ingested_too(project, fmp_server, shared_data):
    fmp_server.load_fixture_file(
        shared_data / "fmp" / "aapl_stable_historical-price-eod-full_2023-01-01_2023-01-10.json"
    )
    project.fmp_base_url = fmp_server.base_url
    project.fetch_fmp("2023-01-02", "2023-01-10", tickers=["AAPL"])
    stored = project.query("SELECT date, close, volume FROM prices ORDER BY date")
    assert len(stored) == 6
    assert (
        stored.loc[stored["date"].astype(str).str[:10] == "2023-01-09", "volume"].item()
        == 70_790_813
    )


def test_fmp_down_fails_the_run_clearly_and_writes_nothing(project, served):
    project.fetch_fmp("2021-05-03", "2021-05-07", tickers=["AAPL"])
    before = project.query("SELECT count(*) AS n FROM prices")["n"][0]
    served.down = True

    result = project.fetch_fmp("2021-05-10", "2021-05-14", tickers=["AAPL"], raise_on_error=False)

    assert not result.success
    message = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "FMP fetch failed for AAPL 2021-05-10..2021-05-14" in message and "503" in message
    assert project.query("SELECT count(*) AS n FROM prices")["n"][0] == before

    served.down = False  # the next run catches up
    assert project.fetch_fmp("2021-05-10", "2021-05-14", tickers=["AAPL"]).success
    assert project.query("SELECT count(*) AS n FROM prices")["n"][0] == before + 5


def test_the_api_key_never_reaches_metadata_or_the_warehouse(project, served):
    result = project.fetch_fmp("2021-05-03", "2021-05-07", tickers=["AAPL"])
    text = " ".join(
        str(v.value)
        for e in result.get_asset_materialization_events()
        for v in e.materialization.metadata.values()
    )
    assert served.api_key not in text
    dump = project.query("SELECT * FROM prices").to_csv()
    assert served.api_key not in dump


def test_missing_api_key_fails_with_a_clear_message(project, served, monkeypatch):
    monkeypatch.delenv("FMP_API_KEY")
    result = project.fetch_fmp("2021-05-03", "2021-05-07", tickers=["AAPL"], raise_on_error=False)
    assert not result.success
    assert (
        "FMP_API_KEY is not set"
        in result.get_step_failure_events()[0].event_specific_data.error.message
    )
    assert served.request_count() == 0


def test_a_ticker_without_bars_is_reported_not_fatal(project, served):
    result = project.fetch_fmp("2021-05-03", "2021-05-07", tickers=["AAPL", "NOSUCH"])
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["tickers_without_bars"].value == "NOSUCH"


def test_the_default_universe_is_the_warehouse_instruments(project, served, shared_data):
    from quant_assets_tests.dagster_project import write_real_ticker_files

    write_real_ticker_files(shared_data, project.raw, ["AAPL"])
    project.ingest_files(["AAPL"])
    served.requests.clear()
    assert project.fetch_fmp("2021-05-03", "2021-05-07").success
    assert [r.query.get("symbol") for r in served.requests] == ["AAPL"]


def test_many_symbols_are_validated_together_each_row_naming_its_own_request(
    project, served, shared_data
):
    """One validation for every symbol's bars; sources and record numbers stay per request."""
    week = _fixture_records(shared_data, "2021-05-03", "2021-05-07")  # newest first, as served
    broken = [dict(r) for r in week]
    broken[1]["high"] = broken[1]["low"] / 2  # 2021-05-06: high below low
    served.add_bars("MSFT", broken)

    result = project.fetch_fmp("2021-05-03", "2021-05-07", tickers=["AAPL", "MSFT"])

    assert result.success
    stored = project.query(
        "SELECT ticker, source, count(*) AS n FROM prices GROUP BY ALL ORDER BY 1"
    )
    assert stored.to_dict("records") == [
        {"ticker": "AAPL", "source": "fmp/stable/AAPL/2021-05-03_2021-05-07", "n": 5},
        {"ticker": "MSFT", "source": "fmp/stable/MSFT/2021-05-03_2021-05-07", "n": 4},
    ]
    rejected = project.query("SELECT source, location, ticker, date, rule FROM rejected_rows")
    assert rejected.to_dict("records") == [
        {
            "source": "fmp/stable/MSFT/2021-05-03_2021-05-07",
            "location": "record 2",  # MSFT's second record in its own reply
            "ticker": "MSFT",
            "date": "2021-05-06",
            "rule": "high_below_open_close_low",
        }
    ]


# --- config that explains itself ------------------------------------------------------------


def _failure_chain(result) -> str:
    error, messages = result.get_step_failure_events()[0].event_specific_data.error, []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)


def test_every_config_field_is_described_with_its_unit_and_range_in_the_launchpad():
    from quant_assets.assets.ingest import fmp_daily_bars

    fields = fmp_daily_bars.op.config_schema.config_type.fields
    assert set(fields) == {"tickers"}
    description = fields["tickers"].description
    assert "symbols" in description and "0 to 5000" in description


@pytest.mark.parametrize("tickers", [["aapl"], ["AAPL", "x'); DROP TABLE prices;--"]])
def test_a_bad_ticker_in_config_fails_at_launch_naming_the_field(project, served, tickers):
    result = project.fetch_fmp("2021-05-03", "2021-05-07", tickers=tickers, raise_on_error=False)

    assert not result.success
    message = _failure_chain(result)
    assert "tickers." in message and "should match pattern" in message
    assert served.request_count() == 0
    assert not project.warehouse_path.exists()  # nothing ran: not even a connection


# --- bulk endpoint, bad payloads, bad numbers ------------------------------------------------

WEEK = ("2021-05-03", "2021-05-07")
WEEK_DAYS = ["2021-05-03", "2021-05-04", "2021-05-05", "2021-05-06", "2021-05-07"]
PRICE_COLUMNS = "ticker, date, open, high, low, close, adj_close, volume"


def _fetch_with(project, tickers, *, window=WEEK, raise_on_error=True, **fmp_config):
    """One fmp_daily_bars + prices run with an FMP client configured by ``fmp_config``."""
    from dagster import materialize

    from quant_assets.assets.ingest import fmp_daily_bars, prices
    from quant_assets.partitions import RANGE_END, RANGE_START
    from quant_assets.resources.fmp import FMPClient
    from quant_assets_tests.dagster_project import QUIET

    settings = {"backoff_base_s": 0.001, "max_retries": 2, "timeout_s": 5, **fmp_config}
    fmp = FMPClient(base_url=project.fmp_base_url, **settings)
    return materialize(
        [fmp_daily_bars, prices],
        instance=project.instance,
        resources={**project.resources(), "fmp": fmp},
        tags={RANGE_START: window[0], RANGE_END: window[1]},
        run_config={**QUIET, "ops": {"fmp_daily_bars": {"config": {"tickers": tickers}}}},
        raise_on_error=raise_on_error,
    )


def _metadata(result) -> dict:
    """The metadata of fmp_daily_bars (a run over many days has one event per day, alike)."""
    event = next(
        e
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key.path == ["fmp_daily_bars"]
    )
    return {k: v.value for k, v in event.materialization.metadata.items()}


@pytest.fixture
def two_served(project, fmp_server, shared_data):
    """AAPL's real bars, and MSFT's: the same bars at 1.37 times the prices (other decimals)."""
    records = json.loads((shared_data / "fmp" / V3_FIXTURE).read_text())["historical"]
    fmp_server.add_bars("AAPL", records)
    scaled = [
        {**r, **{k: r[k] * 1.37 for k in ("open", "high", "low", "close", "adjClose")}}
        for r in records
    ]
    fmp_server.add_bars("MSFT", scaled)
    project.fmp_base_url = fmp_server.base_url
    return fmp_server


def test_bulk_and_per_symbol_store_identical_prices_bulk_with_one_request_per_day(
    project, two_served, tmp_path
):
    from quant_assets_tests.dagster_project import Project
    from quant_assets_tests.fmp_server import BULK_EOD_PATH

    per_symbol = _fetch_with(project, ["AAPL", "MSFT"], api_version="v3")
    bulk_project = Project(root=tmp_path / "bulk", instance=project.instance)
    (bulk_project.raw).mkdir(parents=True)
    bulk_project.fmp_base_url = project.fmp_base_url
    two_served.requests.clear()

    bulk = _fetch_with(bulk_project, ["AAPL", "MSFT"], fmp_bulk=True)

    assert [r.path for r in two_served.requests] == [BULK_EOD_PATH] * 5
    assert [r.query["date"] for r in two_served.requests] == WEEK_DAYS
    sql = f"SELECT {PRICE_COLUMNS} FROM prices ORDER BY ticker, date"
    stored, stored_bulk = project.query(sql), bulk_project.query(sql)
    assert len(stored) == 10 and stored["adj_close"].notna().all()
    assert stored.equals(stored_bulk)  # bit for bit
    assert _metadata(per_symbol)["fmp_requests"] == 2
    assert _metadata(bulk)["fmp_requests"] == 5
    sources = bulk_project.query("SELECT DISTINCT source FROM prices ORDER BY 1")["source"]
    assert sources.iloc[0] == "fmp/eod-bulk/AAPL/2021-05-03"


def test_a_bulk_request_that_fails_is_retried_then_fails_the_run_naming_the_day(
    project, two_served
):
    from quant_assets_tests.fmp_server import BULK_EOD_PATH, Fault

    two_served.inject(Fault.status(503), times=2, path=BULK_EOD_PATH)
    assert _fetch_with(project, ["AAPL"], window=(WEEK[0], WEEK[0]), fmp_bulk=True).success
    assert two_served.request_count(BULK_EOD_PATH) == 3
    before = project.query("SELECT count(*) AS n FROM prices")["n"][0]

    two_served.inject(Fault.status(503), times=3, path=BULK_EOD_PATH)
    result = _fetch_with(project, ["AAPL", "MSFT"], fmp_bulk=True, raise_on_error=False)

    assert not result.success
    message = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "FMP bulk fetch failed for 2021-05-03" in message
    assert "failed after 3 attempts: HTTP 503" in message
    assert two_served.api_key not in message
    assert project.query("SELECT count(*) AS n FROM prices")["n"][0] == before


def test_a_bulk_day_whose_reply_is_not_price_data_is_quarantined_and_the_other_days_land(
    project, two_served
):
    from quant_assets_tests.fmp_server import BULK_EOD_PATH, Fault

    two_served.inject(Fault.status(200, body="<html>maintenance</html>"), path=BULK_EOD_PATH)

    result = _fetch_with(project, ["AAPL", "MSFT"], fmp_bulk=True)

    assert result.success
    days = project.query("SELECT DISTINCT date::VARCHAR AS d FROM prices ORDER BY 1")["d"]
    assert list(days) == WEEK_DAYS[1:]
    [row] = project.query("SELECT source, location, rule, reason FROM rejected_rows").to_dict(
        "records"
    )
    assert (row["source"], row["location"], row["rule"]) == (
        "fmp/eod-bulk/2021-05-03",
        "response",
        "fmp_payload",
    )
    assert "HTML page" in row["reason"] and "bulk day 2021-05-03" in row["reason"]
    assert "fmp/eod-bulk/2021-05-03" in _metadata(result)["bad_payloads"]


def test_one_symbols_bad_payloads_are_quarantined_by_name_and_the_others_land(project, two_served):
    from quant_assets_tests.fmp_server import Fault

    two_served.add_bars("XOM", [{"date": "2021-05-03", "close": 50.0}])
    two_served.inject(
        Fault.status(200, body={"historical": None}), path="/api/v3/historical-price-full/MSFT"
    )
    two_served.inject(
        Fault.status(200, body="<!DOCTYPE html><title>Just a moment...</title>"),
        path="/api/v3/historical-price-full/XOM",
    )

    result = _fetch_with(project, ["AAPL", "MSFT", "XOM"], api_version="v3")

    assert result.success
    stored = project.query("SELECT ticker, count(*) AS n FROM prices GROUP BY 1")
    assert stored.to_dict("records") == [{"ticker": "AAPL", "n": 5}]
    rejected = project.query("SELECT source, ticker, rule, reason FROM rejected_rows ORDER BY 1")
    assert list(rejected["source"]) == [
        "fmp/v3/MSFT/2021-05-03_2021-05-07",
        "fmp/v3/XOM/2021-05-03_2021-05-07",
    ]
    assert list(rejected["rule"]) == ["fmp_payload", "fmp_payload"]
    assert '"historical": null' in rejected["reason"][0]
    assert "HTML page" in rejected["reason"][1]
    bad = _metadata(result)["bad_payloads"]
    assert "symbol 'MSFT'" in bad and "symbol 'XOM'" in bad


def test_non_finite_absurd_and_foreign_records_are_quarantined_by_rule(project, fmp_server):
    from quant_assets_tests.fmp_server import Fault

    good = '"open": 10, "high": 11, "low": 9, "close": 10.5, "volume": 1000'
    body = (
        "["
        '{"symbol": "AAPL", "date": "2021-05-07", ' + good + "},"
        '{"symbol": "MSFT", "date": "2021-05-06", "open": 10, "high": 11, "low": 9, '
        '"close": 10.5, "volume": 2e13},'
        '{"symbol": "AAPL", "date": "2021-05-05", "open": 10, "high": 2e7, "low": 9, '
        '"close": 2e7, "volume": 1000},'
        '{"symbol": "AAPL", "date": "2021-05-04", "open": NaN, "high": 11, "low": 9, '
        '"close": 10.5, "volume": 1000},'
        '{"symbol": "AAPL", "date": "2021-05-03", "open": 10, "high": 11, "low": 9, '
        '"close": 1e999, "volume": -Infinity}'
        "]"
    )
    fmp_server.inject(Fault.status(200, body=body))
    project.fmp_base_url = fmp_server.base_url

    assert _fetch_with(project, ["AAPL"]).success

    stored = project.query(f"SELECT {PRICE_COLUMNS} FROM prices")
    assert stored[["close", "volume"]].to_dict("records") == [{"close": 10.5, "volume": 1000.0}]
    rejected = project.query("SELECT location, date, rule, reason FROM rejected_rows ORDER BY 1")
    assert rejected[["location", "date", "rule"]].to_dict("records") == [
        {"location": "record 2", "date": "2021-05-06", "rule": "out_of_range,ticker_conflict"},
        {"location": "record 3", "date": "2021-05-05", "rule": "out_of_range"},
        {"location": "record 4", "date": "2021-05-04", "rule": "non_finite"},
        {"location": "record 5", "date": "2021-05-03", "rule": "non_finite"},
    ]
    assert "close='1e999'" in rejected["reason"][3] and "volume='-inf'" in rejected["reason"][3]
    assert "requested 'AAPL', the record says 'MSFT'" in rejected["reason"][0]
