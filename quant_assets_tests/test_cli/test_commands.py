"""The ``quant-assets`` command line on a real DuckDB file and a real Dagster instance in tmp_path."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance
from rich.console import Console
from typer.testing import CliRunner

from quant_assets.cli import app
from quant_assets.cli.dagster_runs import BadOption, resources
from quant_assets.cli.pipeline import (
    RunOptions,
    StageClock,
    chosen_tickers,
    new_progress,
    partition_blocks,
    run_pipeline,
)
from quant_assets_tests.conftest import REPO_ROOT
from quant_assets_tests.dagster_project import write_real_ticker_files

COMMANDS = ("run", "ingest", "status", "report")
SECRET = "k3y-that-must-never-show-9f2c"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A data directory and a Dagster home in tmp_path, as the command reads them from the env."""
    data, dagster_home = tmp_path / "data", tmp_path / "dagster_home"
    (data / "raw").mkdir(parents=True)
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("QUANT_ASSETS_DATA_DIR", str(data))
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    monkeypatch.setenv("FMP_API_KEY", SECRET)
    return tmp_path


def prices_rows(data) -> dict[str, int]:
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        return dict(con.execute("SELECT ticker, count(*) FROM prices GROUP BY 1").fetchall())
    finally:
        con.close()


def test_help_lists_the_four_commands():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert f" {command} " in result.stdout


def test_python_dash_m_runs_the_same_command_line():
    result = subprocess.run(
        [sys.executable, "-m", "quant_assets.cli", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert all(command in result.stdout for command in COMMANDS)


def test_ingest_lands_the_good_file_refuses_the_bad_one_and_exits_1(home, shared_data):
    folder = home / "data" / "raw" / "drop"
    good = write_real_ticker_files(shared_data, folder, ["AAPL"])["AAPL"]
    junk = folder / "junk.csv"
    junk.write_bytes(bytes(range(256)) * 8)

    result = CliRunner().invoke(app, ["ingest", str(folder)])

    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines == [f"{good}: valid 1259, rejected 0", lines[1]]
    assert lines[1].startswith(f"{junk}: refused: ")
    assert prices_rows(home / "data") == {"AAPL": 1259}
    with DagsterInstance.get() as instance:
        assert instance.get_latest_materialization_event(AssetKey("price_files")) is not None


def test_ingest_again_needs_no_run_and_prints_the_same_counts(home, shared_data):
    raw = home / "data" / "raw"
    good = write_real_ticker_files(shared_data, raw, ["AOS"])["AOS"]
    first = CliRunner().invoke(app, ["ingest"])
    with DagsterInstance.get() as instance:
        runs_after_first = len(instance.get_run_records())

    second = CliRunner().invoke(app, ["ingest", str(good)])

    assert first.exit_code == second.exit_code == 0, second.output
    assert first.stdout == second.stdout
    valid = prices_rows(home / "data")["AOS"]
    assert first.stdout == f"{good}: valid {valid}, rejected {1259 - valid}\n"
    assert valid < 1259  # the real file holds a bad row: it is counted, not lost
    with DagsterInstance.get() as instance:
        assert len(instance.get_run_records()) == runs_after_first


def test_ingest_refuses_a_path_outside_the_raw_folder_and_a_missing_one(home):
    outside = home / "elsewhere.csv"
    outside.write_text("date,ticker,close\n2020-01-02,AAPL,300.35\n")

    result = CliRunner().invoke(app, ["ingest", str(outside), str(home / "data/raw/none.csv")])

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{outside}: refused: outside the raw folder {home / 'data' / 'raw'}; copy it there "
        "first (files are read there)",
        f"{home / 'data/raw/none.csv'}: refused: no such file or folder",
    ]


def test_status_masks_the_key_and_counts_rows(home, shared_data):
    write_real_ticker_files(shared_data, home / "data" / "raw", ["AAPL"])
    # A generic name: the ticker column names the ticker (quant_assets.ingest.names).
    (home / "data" / "raw" / "export.csv").write_text(
        "date,ticker,close\n2020-01-02,ZZZ,-5\n2020-01-03,ZZZ,10\n"
    )
    CliRunner().invoke(app, ["ingest"])

    result = CliRunner().invoke(app, ["status"], env={"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert "FMP_API_KEY" in result.stdout and "*** (set)" in result.stdout
    assert "tickers: 2 (AAPL, ZZZ)" in result.stdout
    assert "prices from 2013-02-08 to 2020-01-03 (2 tickers)" in result.stdout
    table_lines = [line for line in result.stdout.splitlines() if "│" in line]
    cells = [[c for c in line.split() if c != "│"] for line in table_lines]
    second: dict[str, str] = {}  # first cell -> second cell; rows per table come first
    for row in cells:
        if len(row) > 1:
            second.setdefault(row[0], row[1])
    assert second["prices"] == "1,260" and second["raw_files"] == "2"
    assert second["rejected_rows"] == "1" and second["price_not_positive"] == "1"
    assert second["price_files"] != "never" and second["backtest_report"] == "never"


def test_status_names_a_bad_setting_and_exits_2(home, monkeypatch):
    monkeypatch.setenv("QUANT_ASSETS_CATCH_UP_DAYS", "ten")
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2
    assert "QUANT_ASSETS_CATCH_UP_DAYS must be a whole number of days, got 'ten'" in result.output


def test_commands_refuse_to_run_without_dagster_home(home, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME")
    result = CliRunner().invoke(app, ["ingest"])
    assert result.exit_code == 2
    assert "DAGSTER_HOME is not set" in result.output


def test_partition_blocks_are_runs_of_neighbours_in_partition_order():
    known = ["AAPL", "AOS", "MSFT", "SP500", "XOM", "ZION"]
    assert partition_blocks(["XOM", "AAPL", "AOS", "ZION"], known) == [
        ("AAPL", "AOS"),
        ("XOM", "ZION"),
    ]
    assert partition_blocks(["MSFT"], known) == [("MSFT", "MSFT")]


def test_chosen_tickers_add_the_benchmark_and_refuse_unknown_ones():
    known = ["AAPL", "AOS", "SP500", "XOM"]
    assert chosen_tickers(known, []) == known
    assert chosen_tickers(known, ["XOM", "AAPL"]) == ["AAPL", "SP500", "XOM"]
    with pytest.raises(BadOption, match=r"no price file holds \['NOPE'\]"):
        chosen_tickers(known, ["NOPE"])


def test_run_refuses_an_unknown_model_kind_before_any_run(home):
    result = CliRunner().invoke(app, ["run", "--models", "mlp,nonsense", "--start", "2013-02-08"])
    assert result.exit_code == 2
    assert "unknown model kinds ['nonsense']" in result.output


def test_run_refuses_a_config_value_out_of_range_before_any_run(home):
    options = RunOptions(seed_default_data=False, trained_models_config={"max_epochs": 0})
    with DagsterInstance.ephemeral() as instance:
        clock = StageClock(new_progress(Console(file=None, quiet=True)))
        with pytest.raises(BadOption, match=r"trained_models\.config\.max_epochs: "):
            run_pipeline(instance, resources(), options, clock)
        assert instance.get_run_records() == []
