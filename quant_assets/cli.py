"""``python -m quant_assets.cli run``: what ``make run`` does after installing.

Seeds the embedded default data into ``data/raw``, lets the raw-file sensor register the
tickers it finds (the same code path as a file dropped in by hand), then materializes every
asset: partitioned ones over their full range as single runs. Runs go to the Dagster instance
in ``$DAGSTER_HOME`` (``make`` points it at ``dagster_home/``), so they show in the UI.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from dagster import AssetsDefinition, DagsterInstance, build_sensor_context, materialize

from quant_assets.assets.backtest import backtest_report, backtests
from quant_assets.assets.factors import factor_values
from quant_assets.assets.ingest import fmp_daily_bars, price_files, prices
from quant_assets.assets.models import predictions, trained_models
from quant_assets.assets.portfolio import target_weights
from quant_assets.automation.sensors import raw_files_sensor
from quant_assets.definitions import RESOURCES, checks_for
from quant_assets.ingest.seed import seed_default_data
from quant_assets.partitions import (
    RANGE_END,
    RANGE_START,
    ticker_partitions,
    trading_day_partitions,
)
from quant_assets.paths import data_dir
from quant_assets.resources.fmp import FMPClient


def _register_tickers(instance: DagsterInstance) -> list[str]:
    """Evaluate the raw-file sensor once and apply the partitions it asks for."""
    with build_sensor_context(instance=instance, resources=RESOURCES) as context:
        result = raw_files_sensor(context)
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return instance.get_dynamic_partitions(ticker_partitions.name)


def _materialize(
    instance: DagsterInstance, assets: list[AssetsDefinition], tags: dict[str, str]
) -> None:
    """One run of ``assets`` (with the checks on them) on the instance the UI reads."""
    result = materialize(
        [*assets, *checks_for(assets)],
        instance=instance,
        resources=RESOURCES,
        tags=tags,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    if not result.success:
        raise SystemExit(f"run {result.run_id} failed: see `make ui` for its logs")
    names = ", ".join(key.to_user_string() for a in assets for key in a.keys)
    print(f"  run {result.run_id}: {names} ok")


def run_pipeline(instance: DagsterInstance) -> None:
    raw_root = RESOURCES["raw_files"].root_path
    report = seed_default_data(raw_root)
    print(
        f"default data in {raw_root}: {len(report.written)} files written, "
        f"{len(report.already_present)} already present"
    )
    for path in report.left_alone:
        print(f"  left alone (differs from the default, never overwritten): {path}")

    tickers = _register_tickers(instance)
    print(f"ticker partitions: {len(tickers)}")
    print("materializing:")
    _materialize(instance, [price_files, prices], {RANGE_START: tickers[0], RANGE_END: tickers[-1]})
    if FMPClient.has_api_key():
        days = trading_day_partitions.get_partition_keys()
        _materialize(
            instance, [fmp_daily_bars, prices], {RANGE_START: days[0], RANGE_END: days[-1]}
        )
    else:
        print("  fmp_daily_bars skipped: FMP_API_KEY is not set (export it to fetch FMP bars)")
    days = trading_day_partitions.get_partition_keys()
    every_day = {RANGE_START: days[0], RANGE_END: days[-1]}
    _materialize(instance, [factor_values], every_day)
    _materialize(instance, [trained_models], {})
    _materialize(instance, [predictions], every_day)
    _materialize(instance, [target_weights], every_day)
    _materialize(instance, [backtests], {})
    _materialize(instance, [backtest_report], {})
    _print_summary()


def _print_summary() -> None:
    warehouse = RESOURCES["warehouse"]
    with warehouse.connect(read_only=True) as con:
        tables = con.execute(
            "SELECT table_name, estimated_size FROM duckdb_tables() ORDER BY table_name"
        ).fetchall()
        span = con.execute(
            "SELECT count(DISTINCT ticker), min(date), max(date) FROM prices"
        ).fetchone()
        rules = con.execute(
            "SELECT rule, count(*) FROM rejected_rows GROUP BY rule ORDER BY 2 DESC"
        ).fetchall()
        counts = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t, _ in tables}
    print(f"\nwarehouse {warehouse.path}:")
    for table, n in counts.items():
        print(f"  {table:<16} {n:>10,} rows")
    print(f"  prices cover {span[0]} tickers from {span[1]} to {span[2]}")
    for rule, n in rules:
        print(f"  rejected: {n} rows for {rule}")
    print(
        f"\nThe backtest report: {data_dir() / 'reports' / 'latest' / 'report.html'}\n"
        "Open the Dagster UI with `make ui` (http://127.0.0.1:3000): assets, checks, runs, "
        "the sensors and the daily schedule; the MLflow UI with `make mlflow` "
        "(http://127.0.0.1:5000).\n"
        'Query the warehouse: .venv/bin/python -c "import duckdb; '
        f"print(duckdb.connect('{warehouse.path}', read_only=True).sql('FROM instruments'))\""
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="quant_assets")
    parser.add_argument("command", choices=["run"])
    parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=Warning, module="dagster")
    with DagsterInstance.get() as instance:
        run_pipeline(instance)
    return 0


if __name__ == "__main__":
    sys.exit(main())
