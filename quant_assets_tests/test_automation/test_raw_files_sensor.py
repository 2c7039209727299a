"""The raw-folder sensor on new, changed, unchanged and refused files, with a real instance."""

from __future__ import annotations

import os
from unittest import mock

from dagster import build_sensor_context, materialize

from quant_assets.assets.ingest import price_files, prices
from quant_assets.automation.sensors import (
    RANGE_END,
    RANGE_START,
    contiguous_blocks,
    raw_files_sensor,
)
from quant_assets.partitions import ticker_partitions
from quant_assets_tests.dagster_project import QUIET, write_real_ticker_files


def tick(project, cursor=None):
    with build_sensor_context(
        instance=project.instance, cursor=cursor, resources=project.resources()
    ) as ctx:
        result = raw_files_sensor(ctx)
    for request in result.dynamic_partitions_requests:
        project.instance.add_dynamic_partitions(
            request.partitions_def_name, list(request.partition_keys)
        )
    return result


def run_request(project, request):
    """Execute a sensor's run request the way the daemon would: its tags and its config."""
    return materialize(
        [price_files, prices],
        instance=project.instance,
        resources=project.resources(),
        tags=dict(request.tags),
        run_config={**QUIET, **request.run_config},
    )


def test_a_new_file_adds_its_ticker_and_requests_a_run_for_that_file(project, shared_data):
    write_real_ticker_files(shared_data, project.raw, ["AAPL"])

    result = tick(project)

    assert project.instance.get_dynamic_partitions(ticker_partitions.name) == ["AAPL"]
    [request] = result.run_requests
    assert request.tags[RANGE_START] == request.tags[RANGE_END] == "AAPL"
    assert request.run_config["ops"]["price_files"]["config"]["paths"] == ["AAPL_data.csv"]
    assert run_request(project, request).success
    assert project.query("SELECT count(*) AS n FROM prices")["n"][0] == 1259


def test_a_long_file_adds_every_ticker_and_one_run_covers_them(project, shared_data):
    write_real_ticker_files(shared_data, project.raw, ["AAPL"])
    first = tick(project)
    run_request(project, first.run_requests[0])
    (project.raw / "more.csv").write_text(
        "date,ticker,close\n2020-01-02,MSFT,160.6\n2020-01-02,XOM,70.9\n2020-01-03,MSFT,158.6\n"
    )

    result = tick(project, first.cursor)

    assert project.instance.get_dynamic_partitions(ticker_partitions.name) == [
        "AAPL",
        "MSFT",
        "XOM",
    ]
    [request] = result.run_requests
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("MSFT", "XOM")
    run_request(project, request)
    assert project.query("SELECT count(*) AS n FROM prices WHERE ticker <> 'AAPL'")["n"][0] == 3


def test_unchanged_files_are_skipped(project, shared_data):
    write_real_ticker_files(shared_data, project.raw, ["AAPL", "AOS"])
    first = tick(project)
    assert len(first.run_requests) == 2

    second = tick(project, first.cursor)

    assert second.run_requests == []
    assert second.dynamic_partitions_requests == []


def test_a_touched_file_with_the_same_content_is_skipped(project, shared_data):
    files = write_real_ticker_files(shared_data, project.raw, ["AAPL"])
    first = tick(project)
    stat = files["AAPL"].stat()
    os.utime(files["AAPL"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000_000))

    assert tick(project, first.cursor).run_requests == []


def test_a_changed_file_requests_a_new_run_for_its_ticker_only(project, shared_data):
    files = write_real_ticker_files(shared_data, project.raw, ["AAPL", "AOS"])
    first = tick(project)
    with open(files["AOS"], "a") as fh:
        fh.write("2018-02-08,50.0,51.0,49.5,50.5,1000000\n")

    result = tick(project, first.cursor)

    [request] = result.run_requests
    assert request.tags[RANGE_START] == request.tags[RANGE_END] == "AOS"
    assert request.run_key != first.run_requests[1].run_key


def test_files_already_in_the_warehouse_are_skipped_even_without_a_cursor(project, shared_data):
    write_real_ticker_files(shared_data, project.raw, ["AAPL"])
    run_request(project, tick(project).run_requests[0])

    assert tick(project, cursor=None).run_requests == []


def test_unsafe_tickers_and_unreadable_files_are_refused_without_stopping_the_sensor(
    project, shared_data
):
    write_real_ticker_files(shared_data, project.raw, ["AAPL"])
    (project.raw / "evil.csv").write_text(
        "date,ticker,close\n2020-01-02,x'); DROP TABLE prices;--,1\n"
    )
    (project.raw / "noheader.csv").write_text("just some words\n")

    result = tick(project)

    assert project.instance.get_dynamic_partitions(ticker_partitions.name) == ["AAPL"]
    assert [r.tags[RANGE_START] for r in result.run_requests] == ["AAPL"]


def test_contiguous_blocks_split_a_files_tickers_by_partition_order():
    order = ["A", "B", "C", "D", "E"]
    assert contiguous_blocks(["B", "C"], order) == [("B", "C")]
    assert contiguous_blocks(["E", "A", "B", "D"], order) == [("A", "B"), ("D", "E")]
    assert contiguous_blocks(["C"], order) == [("C", "C")]


def test_a_file_whose_reader_raises_anything_is_reported_and_the_good_file_still_lands(
    project, shared_data, monkeypatch
):
    """One tick over a good file, a JSON payload that is no price data ({"historical": null}
    raised TypeError inside the tick), a damaged gzip and a file whose reader raises an
    unexpected error: the good file is requested and ingested, each bad one is named."""
    import quant_assets.automation.sensors as sensors

    write_real_ticker_files(shared_data, project.raw, ["AAPL"])
    (project.raw / "MSFT.json").write_text('{"historical": null}')
    (project.raw / "XOM.csv.gz").write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    (project.raw / "IBM.csv").write_text("date,close\n2020-01-02,1.0\n")
    real_peek = sensors.peek_tickers

    def peek(path):
        if path.name == "IBM.csv":
            raise RuntimeError("reader bug")
        return real_peek(path)

    monkeypatch.setattr(sensors, "peek_tickers", peek)
    with (
        build_sensor_context(instance=project.instance, resources=project.resources()) as ctx,
        mock.patch.object(ctx.log, "error") as logged,
    ):
        result = raw_files_sensor(ctx)

    errors = "\n".join(call.args[0] for call in logged.call_args_list)
    assert "raw/MSFT.json" in errors and "raw/XOM.csv.gz" in errors
    assert "raw/IBM.csv: RuntimeError: reader bug" in errors
    [request] = result.run_requests
    assert request.run_config["ops"]["price_files"]["config"]["paths"] == ["AAPL_data.csv"]
    project.instance.add_dynamic_partitions(ticker_partitions.name, ["AAPL"])
    assert run_request(project, request).success
    assert project.query("SELECT count(*) AS n FROM prices")["n"][0] == 1259


def test_price_files_over_the_folder_skips_a_file_whose_reader_raises_and_names_it(
    project, shared_data
):
    write_real_ticker_files(shared_data, project.raw, ["AAPL"])
    (project.raw / "MSFT.json").write_text('{"historical": null}')

    result = project.ingest_files(["AAPL"])

    assert result.success
    assert project.query("SELECT count(*) AS n FROM prices")["n"][0] == 1259
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert "raw/MSFT.json" in meta["unreadable_files"].value


def test_a_run_for_one_unreadable_file_fails_naming_it(project, shared_data):
    (project.raw / "MSFT.json").write_text('{"historical": null}')

    result = project.ingest_files(["MSFT"], paths=["MSFT.json"], raise_on_error=False)

    assert not result.success
    message = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "cannot ingest raw/MSFT.json" in message
