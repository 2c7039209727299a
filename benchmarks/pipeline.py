"""Pipeline benchmark: ingest -> factors -> rules -> backtest through Dagster, and a one-day update.

Usage: ``python benchmarks/pipeline.py [--data DIR] [--datasets sp500 long] [--instance KIND]``;
the data defaults to ``../shared/data`` beside the repository (or ``$QUANT_ASSETS_SHARED_DATA``).

Per data set (``sp500``: 505 tickers x 1,259 days of ``sp500_5yr_2013_2018.csv.gz``; ``long``:
the 50 long-history tickers of ``us_stocks_long_1962_2017.csv.gz``), on a fresh Dagster instance
and a temporary warehouse, raw folder and MLflow store:

1. Full recompute, one ``dagster.materialize`` run per stage as ``make run`` does, each with the
   asset checks on its assets: ``price_files`` + ``prices`` over every ticker partition,
   ``factor_values`` over every trading day, ``trained_models`` with rules only (networks=[],
   forecasters=[], rules tsmom, macd, long_only), ``predictions`` and ``target_weights`` over
   every trading day, ``backtests``. The input is the data set without its last day.
2. One-day update, as the daily schedule runs it: one run for the last day's partition of
   ``fmp_daily_bars`` (that day's real bars served by the loopback FMP server of the tests, one
   request per symbol, the client's rate limit off), ``prices``, ``factor_values``,
   ``predictions``, ``target_weights`` and ``backtests``, timed end to end with its checks.
   (``daily_update`` also renders ``backtest_report``; the goal is about the data path.)
   Then the day's ``fmp_daily_bars`` once more from FMP's bulk endpoint (``fmp_bulk``): the
   number of FMP requests of each mode is printed with the wait that the real API's rate
   limit (300 requests/min on the entry plan) would add to it.
3. For comparison, the same day dropped into the raw folder as a file: the run the raw-file
   sensor requests (``price_files`` + ``prices`` over the file's ticker partitions), then the
   date-partitioned assets for the day.

Prints each stage's wall time (and its step time from Dagster's events: the rest is run set-up
and per-partition event bookkeeping), the update against the full recompute as a ratio, and the
goal of the issue: a one-day update under 5 s end to end. The trading-day partitions start at
``QUANT_ASSETS_HISTORY_START`` (set here to 1962-01-02 unless already set, so that the long data
set's factors cover its whole history). The MLflow store is created before timing; imports and
compiled-kernel loads are paid by the first (full) run, as in a fresh ``make run``. A run that
the Dagster daemon launches for the schedule starts a new process and pays the code location's
imports too: their time is printed separately.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("QUANT_ASSETS_HISTORY_START", "1962-01-02")
warnings.filterwarnings("ignore")  # Dagster's beta/preview warnings at import

import duckdb  # noqa: E402
import pandas as pd  # noqa: E402
from dagster import AssetsDefinition, DagsterInstance, materialize  # noqa: E402

from quant_assets.assets.backtest import backtests  # noqa: E402
from quant_assets.assets.factors import factor_values  # noqa: E402
from quant_assets.assets.ingest import fmp_daily_bars, price_files, prices  # noqa: E402
from quant_assets.assets.models import predictions, trained_models  # noqa: E402
from quant_assets.assets.portfolio import target_weights  # noqa: E402
from quant_assets.definitions import CHECKS  # noqa: E402
from quant_assets.partitions import (  # noqa: E402
    RANGE_END,
    RANGE_START,
    ticker_partitions,
    trading_day_partitions,
)
from quant_assets.resources.compute import ComputeResource  # noqa: E402
from quant_assets.resources.fmp import FMPClient, SlidingWindowLimiter  # noqa: E402
from quant_assets.resources.mlflow import MLflowResource  # noqa: E402
from quant_assets.resources.raw_files import RawFileStore  # noqa: E402
from quant_assets.resources.warehouse import Warehouse  # noqa: E402
from quant_assets_tests.fmp_server import FakeClock, FMPServer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("QUANT_ASSETS_SHARED_DATA", REPO.parent / "shared" / "data"))
DATASETS = {
    "sp500": "sp500_5yr_2013_2018.csv.gz",
    "long": "us_stocks_long_1962_2017.csv.gz",
}
RULES_ONLY = {
    "trained_models": {
        "config": {"networks": [], "forecasters": [], "rules": ["tsmom", "macd", "long_only"]}
    }
}
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
GOAL_S = 5.0
ENTRY_PLAN_REQUESTS_PER_MINUTE = 300
ASSET_STEPS = {
    "fmp_daily_bars",
    "price_files",
    "prices",
    "factor_values",
    "predictions",
    "target_weights",
    "backtests",
}


@dataclass
class Stage:
    name: str
    wall_s: float
    steps_s: float
    partitions: int
    note: str = ""


@dataclass
class FMPCount:
    mode: str
    requests: int
    step_s: float


@dataclass
class Outcome:
    dataset: str
    rows: int
    tickers: int
    days: int
    last_day: str
    full: list[Stage] = field(default_factory=list)
    update: list[Stage] = field(default_factory=list)
    update_steps: dict[str, float] = field(default_factory=dict)
    file_route: list[Stage] = field(default_factory=list)
    checks: str = ""
    fmp: list[FMPCount] = field(default_factory=list)


class Bench:
    """A throwaway project: temp raw folder, warehouse and MLflow store on one instance."""

    def __init__(self, root: Path, instance: DagsterInstance) -> None:
        self.root, self.instance = root, instance
        self.raw = root / "raw"
        self.raw.mkdir(parents=True)
        uri = f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"
        self.resources = {
            "warehouse": Warehouse(path=str(root / "warehouse.duckdb")),
            "raw_files": RawFileStore(root=str(self.raw)),
            "fmp": FMPClient(base_url="http://127.0.0.1:9"),
            "compute": ComputeResource(device="cpu"),
            "mlflow": MLflowResource(tracking_uri=uri),
        }
        self.resources["mlflow"].tracker()  # create the store (schema migrations) untimed

    def run(
        self,
        name: str,
        assets: list[AssetsDefinition],
        tags: dict[str, str] | None = None,
        ops: dict | None = None,
        partition_key: str | None = None,
        partitions: int = 0,
    ) -> tuple[Stage, dict[str, float]]:
        keys = {key for a in assets for key in a.keys}
        checks = [c for c in CHECKS if any(k.asset_key in keys for k in c.check_keys)]
        started = time.perf_counter()
        result = materialize(
            [*assets, *checks],
            instance=self.instance,
            resources=self.resources,
            tags=tags or {},
            partition_key=partition_key,
            run_config={**QUIET, "ops": ops or {}},
        )
        wall = time.perf_counter() - started
        steps = {
            e.step_key: e.event_specific_data.duration_ms / 1000
            for e in result.all_events
            if e.event_type_value == "STEP_SUCCESS"
        }
        return Stage(name, wall, sum(steps.values()), partitions), steps

    def count(self, sql: str, params: list | None = None):
        con = duckdb.connect(str(self.root / "warehouse.duckdb"), read_only=True)
        try:
            return con.execute(sql, params or []).fetchone()
        finally:
            con.close()


def fmp_records(rows: pd.DataFrame) -> list[dict]:
    """Rows of the data set as FMP's end-of-day records (numbers as JSON numbers)."""
    fields = [c for c in ("date", "open", "high", "low", "close", "volume") if c in rows]
    out = rows[fields].copy()
    for c in fields[1:]:
        out[c] = pd.to_numeric(out[c], errors="coerce")
    if "adj_close" in rows:
        out["adjClose"] = pd.to_numeric(rows["adj_close"], errors="coerce")
    return out.to_dict(orient="records")


def open_instance(kind: str, root: Path) -> DagsterInstance:
    if kind == "ephemeral":
        return DagsterInstance.ephemeral()
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return DagsterInstance.get()


def day_keys(first: str, last: str) -> list[str]:
    return [k for k in trading_day_partitions.get_partition_keys() if first <= k <= last]


def bench_dataset(name: str, path: Path, instance_kind: str) -> Outcome:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    last_day = frame["date"].max()
    tickers = sorted(frame["ticker"].unique())
    outcome = Outcome(name, len(frame), len(tickers), frame["date"].nunique(), last_day)
    with tempfile.TemporaryDirectory(prefix=f"bench_pipeline_{name}_") as tmp:
        root = Path(tmp)
        with open_instance(instance_kind, root) as instance:
            bench = Bench(root, instance)
            history = frame[frame["date"] < last_day]
            history.to_csv(
                bench.raw / f"{name}.csv.gz",
                index=False,
                compression={"method": "gzip", "compresslevel": 1},
            )
            instance.add_dynamic_partitions(ticker_partitions.name, tickers)
            by_ticker = {RANGE_START: tickers[0], RANGE_END: tickers[-1]}
            days = day_keys(history["date"].min(), history["date"].max())
            by_day = {RANGE_START: days[0], RANGE_END: days[-1]}

            full = [
                bench.run("price_files + prices", [price_files, prices], by_ticker,
                          partitions=len(tickers))[0],
                bench.run("factor_values (every day)", [factor_values], by_day,
                          partitions=len(days))[0],
                bench.run("trained_models (rules only)", [trained_models], ops=RULES_ONLY)[0],
                bench.run("predictions (every day)", [predictions], by_day,
                          partitions=len(days))[0],
                bench.run("target_weights (every day)", [target_weights], by_day,
                          partitions=len(days))[0],
                bench.run("backtests", [backtests])[0],
            ]  # fmt: skip
            outcome.full = full
            windows = bench.count("SELECT count(*) FROM model_versions")[0]
            full[2].note = f"{windows} model versions"
            full[1].note = f"{bench.count('SELECT count(*) FROM factor_values')[0]:,} values"

            # The daily run for the last day, as the schedule starts it: that day's bars from
            # the loopback FMP server (one request per symbol), then everything downstream.
            day_rows = frame[frame["date"] == last_day]
            with FMPServer() as server:
                for ticker, bar in zip(day_rows["ticker"], fmp_records(day_rows), strict=True):
                    server.add_bars(ticker, [bar])
                os.environ["FMP_API_KEY"] = server.api_key
                bench.resources["fmp"] = FMPClient(base_url=server.base_url, requests_per_minute=0)
                daily, steps = bench.run(
                    "daily run: FMP bars -> prices -> factors -> predictions -> weights -> backtests",
                    [fmp_daily_bars, prices, factor_values, predictions, target_weights, backtests],
                    partition_key=last_day,
                    partitions=1,
                )
                outcome.fmp = [
                    FMPCount("per symbol", server.request_count(), steps["fmp_daily_bars"])
                ]
                outcome.fmp.append(fmp_bulk_day(bench, server, last_day))
                os.environ.pop("FMP_API_KEY")
            daily.note = f"{len(day_rows)} symbols fetched"
            outcome.update = [daily]
            outcome.update_steps = steps
            written = {
                table: bench.count(f"SELECT count(*) FROM {table} WHERE date = ?", [last_day])[0]
                for table in ("prices", "factor_values", "predictions", "weights")
            }
            outcome.checks = ", ".join(f"{t} {n:,}" for t, n in written.items())
            if not written["weights"]:
                outcome.checks += " (no orders: weekly rebalancing on a week's first trading day)"
            outcome.checks += (
                f"; backtest equity ends {bench.count('SELECT max(date) FROM backtest_equity')[0]}"
            )

            # The other way a day arrives: a file dropped into data/raw. The sensor's run reads
            # it for the file's ticker partitions (one Dagster event per ticker), then the
            # date-partitioned assets run for the day as above (their rows are replaced).
            day_file = f"{name}_{last_day}.csv"
            day_rows.to_csv(bench.raw / day_file, index=False)
            day_tickers = sorted(day_rows["ticker"].unique())
            ingest, _ = bench.run(
                "file route: ingest the day's file (price_files + prices)",
                [price_files, prices],
                {RANGE_START: day_tickers[0], RANGE_END: day_tickers[-1]},
                ops={"price_files": {"config": {"paths": [day_file]}}},
                partitions=len(day_tickers),
            )
            ingest.note = f"{len(day_rows)} rows, {len(day_tickers)} ticker partitions"
            rest, _ = bench.run(
                "file route: factors -> predictions -> weights -> backtests",
                [factor_values, predictions, target_weights, backtests],
                partition_key=last_day,
                partitions=1,
            )
            outcome.file_route = [ingest, rest]
    return outcome


def fmp_bulk_day(bench: Bench, server: FMPServer, day: str) -> FMPCount:
    """The same day's fmp_daily_bars again (its rows replaced), from the bulk endpoint."""
    before = server.request_count()
    bench.resources["fmp"] = FMPClient(
        base_url=server.base_url, requests_per_minute=0, fmp_bulk=True
    )
    _, steps = bench.run("fmp_daily_bars (bulk)", [fmp_daily_bars], partition_key=day)
    return FMPCount("bulk (fmp_bulk)", server.request_count() - before, steps["fmp_daily_bars"])


def rate_limit_wait_s(requests: int, per_minute: int = ENTRY_PLAN_REQUESTS_PER_MINUTE) -> float:
    """Seconds the client's own limiter (a sliding minute of ``per_minute`` requests) makes
    ``requests`` sent back to back wait, on a clock that moves only while waiting."""
    clock = FakeClock()
    limiter = SlidingWindowLimiter(per_minute)
    return sum(limiter.acquire(clock.monotonic, clock.sleep) for _ in range(requests))


def cold_import_s() -> float:
    """What a daemon-launched run pays first: importing the code location in a new process."""
    code = "import time; t = time.perf_counter(); import quant_assets.definitions; "
    code += "print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def print_fmp_requests(counts: list[FMPCount]) -> None:
    """FMP requests of the day's fetch and the wait the real API's rate limit would add."""
    rate = ENTRY_PLAN_REQUESTS_PER_MINUTE
    print(f"  FMP requests of the one-day fetch (rate limit off here; at {rate}/min, the entry")
    print("  plan's, the real API would add the wait shown):")
    for c in counts:
        wait = rate_limit_wait_s(c.requests)
        print(f"    {c.mode:18s} {c.requests:6d} requests  +{wait:6.1f} s waiting  "
              f"(fmp_daily_bars step {c.step_s:.2f} s)")  # fmt: skip


def report(outcome: Outcome) -> bool:
    full_s = sum(s.wall_s for s in outcome.full)
    update_s = sum(s.wall_s for s in outcome.update)
    print(
        f"\n== {outcome.dataset}: {outcome.rows:,} rows, {outcome.tickers} tickers x "
        f"{outcome.days:,} days; last day {outcome.last_day} removed, then added"
    )
    print(
        f"{'full recompute (one run per stage)':56s} {'wall s':>8s} {'steps s':>8s} {'parts':>6s}"
    )
    for s in outcome.full:
        print(f"  {s.name:54s} {s.wall_s:8.2f} {s.steps_s:8.2f} {s.partitions:6d}  {s.note}")
    print(f"  {'total':54s} {full_s:8.2f}")
    print("one-day update")
    for s in outcome.update:
        print(f"  {s.name:54s} {s.wall_s:8.2f} {s.steps_s:8.2f} {s.partitions:6d}  {s.note}")
    steps = ", ".join(f"{k} {v:.2f}" for k, v in outcome.update_steps.items())
    print(f"    steps (s): {steps}")
    checks_s = sum(v for k, v in outcome.update_steps.items() if k not in ASSET_STEPS)
    print(f"  {'total':54s} {update_s:8.2f}")
    print(f"    of which asset checks {checks_s:.2f} s; without them {update_s - checks_s:.2f} s")
    print(f"  rows dated {outcome.last_day}: {outcome.checks}")
    print_fmp_requests(outcome.fmp)
    route_s = sum(s.wall_s for s in outcome.file_route)
    print("the same day as a file dropped into data/raw (sensor route), for comparison")
    for s in outcome.file_route:
        print(f"  {s.name:54s} {s.wall_s:8.2f} {s.steps_s:8.2f} {s.partitions:6d}  {s.note}")
    print(f"  {'total':54s} {route_s:8.2f}")
    print(
        f"ratio update / full recompute: {update_s / full_s:.4f} ({full_s / update_s:.0f}x faster)"
    )
    met = update_s < GOAL_S
    print(f"goal one-day update < {GOAL_S:.0f} s end to end: {'met' if met else 'NOT met'}")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument(
        "--instance",
        choices=["ephemeral", "sqlite"],
        default="ephemeral",
        help="an in-memory instance, or a temp DAGSTER_HOME with dagster_home/dagster.yaml",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    missing = [DATASETS[d] for d in args.datasets if not (args.data / DATASETS[d]).is_file()]
    if missing:
        print(f"data not found in {args.data}: {missing} (pass --data DIR)", file=sys.stderr)
        return 2
    print(
        f"cores: {os.cpu_count()}, Dagster instance: {args.instance}, "
        f"trading-day partitions from {os.environ['QUANT_ASSETS_HISTORY_START']}"
    )
    print(
        f"cold import of the code location (a daemon-launched run pays it): {cold_import_s():.2f} s"
    )
    results, goals = [], []
    for dataset in args.datasets:
        results.append(bench_dataset(dataset, args.data / DATASETS[dataset], args.instance))
        goals.append(report(results[-1]))
    print()
    for outcome, met in zip(results, goals, strict=True):
        print(
            f"goal {outcome.dataset}: one-day update < {GOAL_S:.0f} s {'met' if met else 'NOT met'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
