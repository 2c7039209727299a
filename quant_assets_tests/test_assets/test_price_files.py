"""price_files and prices materialized for real on an ephemeral instance and a temp warehouse."""

from __future__ import annotations

import gzip
import hashlib
import shutil

import pytest

from quant_assets_tests.dagster_project import write_real_ticker_files


def _materialization(result, key: str):
    events = [
        e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key
    ]
    return events[-1].materialization


def _meta(result, key: str) -> dict:
    return {k: v.value for k, v in _materialization(result, key).metadata.items()}


def _fingerprint(folder):
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_price_files_write_valid_rows_and_quarantine_bad_ones(project, shared_data):
    write_real_ticker_files(shared_data, project.raw, ["AAPL", "AOS", "DHR"])
    result = project.ingest_files(["AAPL", "AOS", "DHR"])

    meta = _meta(result, "price_files")
    assert meta["rows_read"] == meta["rows_valid"] + meta["rows_rejected"]
    # AOS line 322 (high below low) and DHR line 437 (low above min(open, close))
    assert meta["rows_rejected"] == 2
    counts = project.query(
        "SELECT ticker, count(*) AS n FROM prices GROUP BY ticker ORDER BY ticker"
    )
    assert counts.set_index("ticker")["n"].to_dict() == {"AAPL": 1259, "AOS": 1258, "DHR": 1242}
    rejected = project.query("SELECT * FROM rejected_rows ORDER BY source")
    assert rejected.loc[0, "source"] == "raw/AOS_data.csv"
    assert rejected.loc[0, "rule"] == "high_below_open_close_low"
    assert rejected.loc[0, "location"].startswith("line ")
    assert '"23.595"' in rejected.loc[0, "raw_values"]
    instruments = project.query("SELECT * FROM instruments ORDER BY ticker")
    assert list(instruments["ticker"]) == ["AAPL", "AOS", "DHR"]
    assert instruments.loc[0, "row_count"] == 1259
    assert str(instruments.loc[0, "first_date"])[:10] == "2013-02-08"


def test_second_materialization_of_same_files_changes_nothing(project, shared_data):
    write_real_ticker_files(shared_data, project.raw, ["AAPL", "AOS"])
    project.ingest_files(["AAPL", "AOS"])
    before = project.query("SELECT * FROM prices ORDER BY ticker, date")
    rejected_before = project.query("SELECT * FROM rejected_rows")

    result = project.ingest_files(["AAPL", "AOS"])

    meta = _meta(result, "price_files")
    assert (meta["rows_inserted"], meta["rows_updated"]) == (0, 0)
    assert meta["rows_unchanged"] == len(before)
    after = project.query("SELECT * FROM prices ORDER BY ticker, date")
    assert after.equals(before)  # ingested_at and source included
    assert len(project.query("SELECT * FROM rejected_rows")) == len(rejected_before)


def test_raw_files_are_never_modified_moved_or_deleted(project, shared_data):
    write_real_ticker_files(shared_data, project.raw, ["AAPL", "AOS"], gz=True)
    before = _fingerprint(project.raw)
    project.ingest_files(["AAPL", "AOS"])
    project.ingest_files(["AAPL", "AOS"])
    assert _fingerprint(project.raw) == before


def test_a_single_ticker_partition_writes_only_that_ticker(project, shared_data):
    source = shared_data / "sp500_5yr_2013_2018.csv.gz"
    lines = gzip.decompress(source.read_bytes()).decode().splitlines()
    keep = [lines[0]] + [ln for ln in lines[1:] if ln.split(",")[1] in {"AAPL", "MSFT", "XOM"}]
    (project.raw / "three.csv").write_text("\n".join(keep) + "\n")
    project.add_tickers(["AAPL", "MSFT", "XOM"])

    result = project.ingest_files(["MSFT"])

    assert list(project.query("SELECT DISTINCT ticker FROM prices")["ticker"]) == ["MSFT"]
    meta = _meta(result, "price_files")
    assert meta["rows_outside_partitions"] == 2 * 1259
    # The file is not marked ingested: the sensor must still bring in AAPL and XOM.
    assert project.query("SELECT * FROM raw_files").empty


def test_full_sp500_file_ingests_every_row_once(project, shared_data):
    shutil.copy(shared_data / "sp500_5yr_2013_2018.csv.gz", project.raw / "all_stocks_5yr.csv.gz")
    import pandas as pd

    tickers = sorted(
        pd.read_csv(project.raw / "all_stocks_5yr.csv.gz", usecols=["ticker"])["ticker"].unique()
    )

    first = _meta(project.ingest_files(tickers), "price_files")
    second = _meta(project.ingest_files(tickers), "price_files")

    assert first["rows_read"] == 619_040
    assert first["rows_valid"] + first["rows_rejected"] == 619_040
    assert first["rows_inserted"] == first["rows_valid"]
    assert (second["rows_inserted"], second["rows_updated"]) == (0, 0)
    assert project.query("SELECT count(*) AS n FROM prices")["n"][0] == first["rows_valid"]
    manifest = project.query("SELECT * FROM raw_files")
    assert manifest.loc[0, "rows_read"] == 619_040 and len(manifest.loc[0, "tickers"]) == 505


def test_a_corrupt_file_named_in_config_fails_the_run_with_its_name(project, shared_data):
    files = write_real_ticker_files(shared_data, project.raw, ["AAPL"], gz=True)
    data = files["AAPL"].read_bytes()
    (project.raw / "MSFT_data.csv.gz").write_bytes(data[: len(data) // 2])  # truncated download

    result = project.ingest_files(["MSFT"], paths=["MSFT_data.csv.gz"], raise_on_error=False)

    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "raw/MSFT_data.csv.gz" in failure and "truncated" in failure


def test_a_corrupt_file_does_not_stop_other_tickers_in_a_folder_scan(project, shared_data):
    write_real_ticker_files(shared_data, project.raw, ["AAPL"])
    (project.raw / "BAD_data.csv").write_bytes(b"\x00\x01garbage without header\n")

    result = project.ingest_files(["AAPL", "BAD"])

    assert list(project.query("SELECT DISTINCT ticker FROM prices")["ticker"]) == ["AAPL"]
    assert "raw/BAD_data.csv" in _meta(result, "price_files")["unreadable_files"]


@pytest.mark.parametrize("path", ["../outside.csv", "/etc/passwd", "sub/../../x.csv"])
def test_paths_escaping_the_raw_folder_are_refused(project, path):
    (project.root / "outside.csv").write_text("date,close\n2020-01-02,1\n")
    result = project.ingest_files(["AAPL"], paths=[path], raise_on_error=False)
    assert not result.success
    assert "refused" in result.get_step_failure_events()[0].event_specific_data.error.message


def test_price_checks_report_suspicious_rows_with_counts_and_examples(project, shared_data):
    write_real_ticker_files(shared_data, project.raw, ["DHR", "AAPL"])
    result = project.ingest_files(["DHR", "AAPL"])
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    zero = checks["zero_volume_bars"]
    assert not zero.passed and zero.metadata["count"].value == 1  # DHR 2016-01-12
    assert "2016-01-12" in zero.metadata["examples"].value
    gaps = checks["trading_day_gaps"]
    # DHR's 16 missing bars (README) plus its one quarantined bar
    assert gaps.metadata["count"].value == 17
    assert checks["flat_bars"].passed


def test_every_config_field_is_described_with_its_unit_and_range_in_the_launchpad():
    from quant_assets.assets.ingest import price_files

    fields = price_files.op.config_schema.config_type.fields
    assert set(fields) == {"paths"}
    description = fields["paths"].description
    assert "relative to the raw folder" in description and "0 to 10000 files" in description


def test_an_empty_path_in_config_fails_at_launch_naming_the_field(project, shared_data):
    write_real_ticker_files(shared_data, project.raw, ["AAPL"])

    result = project.ingest_files(["AAPL"], paths=["AAPL_data.csv", ""], raise_on_error=False)

    assert not result.success
    error, messages = result.get_step_failure_events()[0].event_specific_data.error, []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    assert "paths.1" in "\n".join(messages)
    assert not project.warehouse_path.exists()  # nothing ran: not even a connection


def test_a_corrupt_file_named_beside_a_good_one_fails_the_run_but_the_good_one_lands(
    project, shared_data
):
    write_real_ticker_files(shared_data, project.raw, ["AAPL"])
    (project.raw / "MSFT_data.csv").write_text("<html><body>502 Bad Gateway</body></html>\n")

    result = project.ingest_files(
        ["AAPL", "MSFT"], paths=["AAPL_data.csv", "MSFT_data.csv"], raise_on_error=False
    )

    assert not result.success  # each file commits on its own: the good one is not held back
    assert (
        "raw/MSFT_data.csv" in result.get_step_failure_events()[0].event_specific_data.error.message
    )
    assert list(project.query("SELECT DISTINCT ticker FROM prices")["ticker"]) == ["AAPL"]
    assert list(project.query("SELECT path FROM raw_files")["path"]) == ["raw/AAPL_data.csv"]
