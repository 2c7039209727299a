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
