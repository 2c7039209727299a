"""Corrupt or truncated files dropped in data/raw: named clearly, other tickers unaffected.

Each test drops a damaged copy of a real file next to an intact one and runs the folder scan
(``price_files`` with no ``paths``) over both tickers, and, where it matters, the raw-file
sensor: the damage must be reported with the file's name (and line, for a row), the intact
ticker must land in full, and the damaged file must stay byte-for-byte as it was dropped.

Covered elsewhere: binary garbage without a header in a folder scan
(``test_assets/test_price_files.py::test_a_corrupt_file_does_not_stop_other_tickers_in_a_folder_scan``),
a truncated gzip named in run config (``...::test_a_corrupt_file_named_in_config_fails_the_run_with_its_name``),
an unreadable file during a sensor tick
(``test_automation/test_raw_files_sensor.py::test_unsafe_tickers_and_unreadable_files_are_refused_without_stopping_the_sensor``),
and each reader's error messages (``test_ingest/test_readers.py``).
"""

from __future__ import annotations

import gzip
import zlib

import pytest
from dagster import build_sensor_context

from quant_assets.automation.sensors import raw_files_sensor
from quant_assets.resources.raw_files import file_sha256

AAPL_ROWS = 1259


def _meta(result) -> dict:
    """Metadata of the run's price_files materialization (the same on each partition's event)."""
    events = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "price_files"
    ]
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


def _error_logs(project, result) -> list[str]:
    records = project.instance.all_logs(result.run_id)
    return [r.user_message for r in records if r.level >= 40 and r.dagster_event_type is None]


def _rows_by_ticker(project) -> dict[str, int]:
    counts = project.query("SELECT ticker, count(*) AS n FROM prices GROUP BY ticker")
    return dict(zip(counts["ticker"], counts["n"], strict=True))


def _sensor_tick(project):
    with build_sensor_context(instance=project.instance, resources=project.resources()) as ctx:
        return raw_files_sensor(ctx)


def _bit_flipped(data: bytes) -> bytes:
    """64 bytes inverted inside the deflate stream, as a bad sector or a bad copy leaves them.

    The first position where zlib itself fails is used ("invalid distance too far back" and
    the like); damage that still inflates is caught by the gzip CRC, which the readers
    already report as a corrupt file.
    """
    for at in range(16, len(data) - 64, 16):
        damaged = bytearray(data)
        damaged[at : at + 64] = bytes(b ^ 0xFF for b in damaged[at : at + 64])
        try:
            gzip.decompress(bytes(damaged))
        except zlib.error:
            return bytes(damaged)
        except (OSError, EOFError):
            continue
    raise AssertionError("no flip that zlib rejects")


@pytest.fixture
def msft_gz(project, ticker_files) -> bytes:
    """AAPL's real gzipped file in raw/, intact; MSFT's, as bytes to damage and drop."""
    files = ticker_files(project.raw, ["AAPL", "MSFT"], gz=True)
    msft = files["MSFT"].read_bytes()
    files["MSFT"].unlink()
    return msft


def test_a_gzip_cut_mid_stream_is_reported_by_name_and_other_tickers_land(project, msft_gz):
    damaged = project.raw / "MSFT_data.csv.gz"
    damaged.write_bytes(msft_gz[: len(msft_gz) // 2])  # an interrupted download
    digest = file_sha256(damaged)

    result = project.ingest_files(["AAPL", "MSFT"])

    assert result.success
    assert _rows_by_ticker(project) == {"AAPL": AAPL_ROWS}
    unreadable = _meta(result)["unreadable_files"]
    assert "raw/MSFT_data.csv.gz" in unreadable and "truncated gzip" in unreadable
    assert any("raw/MSFT_data.csv.gz" in m for m in _error_logs(project, result))
    # Not in the manifest: once a complete copy replaces it, the sensor ingests it.
    assert list(project.query("SELECT path FROM raw_files")["path"]) == ["raw/AAPL_data.csv.gz"]
    assert file_sha256(damaged) == digest


def test_a_gzip_with_corrupted_bytes_is_reported_by_name_and_other_tickers_land(project, msft_gz):
    (project.raw / "MSFT_data.csv.gz").write_bytes(_bit_flipped(msft_gz))

    result = project.ingest_files(["AAPL", "MSFT"], raise_on_error=False)

    assert result.success
    assert _rows_by_ticker(project) == {"AAPL": AAPL_ROWS}
    assert "raw/MSFT_data.csv.gz" in _meta(result)["unreadable_files"]


def test_a_gzip_with_corrupted_bytes_does_not_stop_the_sensor(project, msft_gz):
    (project.raw / "MSFT_data.csv.gz").write_bytes(_bit_flipped(msft_gz))

    result = _sensor_tick(project)

    assert [r.tags["quant_assets/raw_file"] for r in result.run_requests] == ["AAPL_data.csv.gz"]


def test_a_file_of_binary_garbage_with_a_price_header_is_reported_by_name(project, msft_gz):
    garbage = project.raw / "MSFT_data.csv"
    garbage.write_bytes(b"date,open,high,low,close,volume\n" + msft_gz[:4096])  # gzip as text
    # The sensor reads only the header of a one-ticker file, so it asks for a run of this
    # file too; that run fails naming it (see the tests of files named in run config).
    requested = {r.tags["quant_assets/raw_file"] for r in _sensor_tick(project).run_requests}
    assert requested == {"AAPL_data.csv.gz", "MSFT_data.csv"}

    result = project.ingest_files(["AAPL", "MSFT"])

    assert result.success
    assert _rows_by_ticker(project) == {"AAPL": AAPL_ROWS}
    unreadable = _meta(result)["unreadable_files"]
    assert "raw/MSFT_data.csv" in unreadable and "not a readable CSV file" in unreadable
    failed = project.ingest_files(["MSFT"], paths=["MSFT_data.csv"], raise_on_error=False)
    message = failed.get_step_failure_events()[0].event_specific_data.error.message
    assert "cannot ingest raw/MSFT_data.csv: " in message


# --- a CSV cut mid-line -----------------------------------------------------------------------


def _cut_file(project, ticker_files, cut_after: str) -> tuple[str, int]:
    """MSFT's real plain CSV, ending just after ``cut_after`` in its last line (no newline)."""
    files = ticker_files(project.raw, ["MSFT"])
    text = files["MSFT"].read_text()
    last_line_start = text.rstrip("\n").rfind("\n") + 1
    cut = text.index(cut_after, last_line_start) + len(cut_after)
    files["MSFT"].write_text(text[:cut])
    return text[last_line_start:cut], text[:cut].count("\n") + 1


def _quarantined_line(project) -> list[tuple[str, str]]:
    rows = project.query("SELECT source, location FROM rejected_rows WHERE ticker = 'MSFT'")
    return list(zip(rows["source"], rows["location"], strict=True))


def test_a_csv_cut_inside_its_date_quarantines_that_line_by_file_and_number(
    project, msft_gz, ticker_files
):
    fragment, line = _cut_file(project, ticker_files, "2018-02")
    assert fragment == "2018-02"

    result = project.ingest_files(["AAPL", "MSFT"])

    assert result.success
    assert _quarantined_line(project) == [("raw/MSFT_data.csv", f"line {line}")]
    assert _rows_by_ticker(project)["AAPL"] == AAPL_ROWS


def test_a_csv_cut_inside_its_close_quarantines_that_line(project, msft_gz, ticker_files):
    _, line = _cut_file(project, ticker_files, "89.2,89.6")

    project.ingest_files(["AAPL", "MSFT"])

    assert _quarantined_line(project) == [("raw/MSFT_data.csv", f"line {line}")]


def test_a_csv_cut_inside_its_last_field_quarantines_that_line(project, msft_gz, ticker_files):
    _, line = _cut_file(project, ticker_files, "89.61,411")

    project.ingest_files(["AAPL", "MSFT"])

    assert _quarantined_line(project) == [("raw/MSFT_data.csv", f"line {line}")]


def test_a_nul_byte_inside_a_price_quarantines_that_line(project, ticker_files):
    files = ticker_files(project.raw, ["MSFT"])
    data = files["MSFT"].read_bytes()
    files["MSFT"].write_bytes(data.replace(b",41107592", b",4110\x007592"))
    line = data[: data.index(b",41107592")].count(b"\n") + 1

    project.ingest_files(["MSFT"])

    assert _quarantined_line(project) == [("raw/MSFT_data.csv", f"line {line}")]
