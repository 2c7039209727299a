"""A throwaway project for Dagster-level tests: temp raw folder, temp warehouse, real instance."""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
from dagster import DagsterInstance, materialize

from quant_assets.assets.factors import factor_checks, factor_values
from quant_assets.assets.ingest import fmp_daily_bars, price_files, prices
from quant_assets.automation.checks import price_checks
from quant_assets.partitions import RANGE_END, RANGE_START, ticker_partitions
from quant_assets.resources.compute import ComputeResource
from quant_assets.resources.fmp import FMPClient
from quant_assets.resources.mlflow import MLflowResource
from quant_assets.resources.raw_files import RawFileStore
from quant_assets.resources.warehouse import Warehouse

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class Project:
    root: Path
    instance: DagsterInstance
    fmp_base_url: str = "http://127.0.0.1:9"

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def warehouse_path(self) -> Path:
        return self.root / "warehouse.duckdb"

    def resources(self) -> dict:
        return {
            "warehouse": Warehouse(path=str(self.warehouse_path), lock_timeout_s=30),
            "raw_files": RawFileStore(root=str(self.raw)),
            "fmp": FMPClient(
                base_url=self.fmp_base_url, backoff_base_s=0.001, max_retries=2, timeout_s=5
            ),
            "compute": ComputeResource(device="cpu"),
            "mlflow": MLflowResource(tracking_uri=self.mlflow_uri),
        }

    @property
    def mlflow_uri(self) -> str:
        (self.root / "mlflow").mkdir(exist_ok=True)
        return f"sqlite:///{self.root / 'mlflow' / 'mlflow.db'}"

    def materialize(self, assets, *, start=None, end=None, config=None, raise_on_error=True):
        """One run of ``assets`` (plus their checks), over trading days start..end if given."""
        from quant_assets.definitions import checks_for

        tags = {RANGE_START: start, RANGE_END: end} if start else {}
        return materialize(
            [*assets, *checks_for(assets)],
            instance=self.instance,
            resources=self.resources(),
            tags=tags,
            run_config={**QUIET, "ops": config or {}},
            raise_on_error=raise_on_error,
        )

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        con = duckdb.connect(str(self.warehouse_path), read_only=True)
        try:
            return con.execute(sql, params or []).df()
        finally:
            con.close()

    def add_tickers(self, tickers: list[str]) -> None:
        known = set(self.instance.get_dynamic_partitions(ticker_partitions.name))
        new = [t for t in tickers if t not in known]
        if new:
            self.instance.add_dynamic_partitions(ticker_partitions.name, new)

    def ingest_files(
        self, tickers: list[str], paths: list[str] | None = None, raise_on_error: bool = True
    ):
        """One run of price_files over the tickers' partition range, plus prices and its checks."""
        self.add_tickers(tickers)
        keys = self.instance.get_dynamic_partitions(ticker_partitions.name)
        chosen = sorted(tickers, key=keys.index)
        config = {**QUIET, "ops": {"price_files": {"config": {"paths": paths or []}}}}
        return materialize(
            [price_files, prices, *price_checks],
            instance=self.instance,
            resources=self.resources(),
            tags={RANGE_START: chosen[0], RANGE_END: chosen[-1]},
            run_config=config,
            raise_on_error=raise_on_error,
        )

    def fetch_fmp(
        self,
        first_day: str,
        last_day: str,
        tickers: list[str] | None = None,
        raise_on_error: bool = True,
    ):
        config = {**QUIET, "ops": {"fmp_daily_bars": {"config": {"tickers": tickers or []}}}}
        return materialize(
            [fmp_daily_bars, prices],
            instance=self.instance,
            resources=self.resources(),
            tags={RANGE_START: first_day, RANGE_END: last_day},
            run_config=config,
            raise_on_error=raise_on_error,
        )

    def compute_factors(
        self,
        first_day: str,
        last_day: str,
        factors: list[str] | None = None,
        raise_on_error: bool = True,
    ):
        """One run of factor_values (and its checks) over trading days first_day..last_day."""
        config = {**QUIET, "ops": {"factor_values": {"config": {"factors": factors or []}}}}
        return materialize(
            [factor_values, *factor_checks],
            instance=self.instance,
            resources=self.resources(),
            tags={RANGE_START: first_day, RANGE_END: last_day},
            run_config=config,
            raise_on_error=raise_on_error,
        )


def write_real_ticker_files(
    shared_data: Path, raw: Path, tickers: list[str], gz: bool = False
) -> dict[str, Path]:
    """Per-ticker CSVs cut from the real 5-year S&P 500 file (header as in Kaggle's files)."""
    source = pd.read_csv(
        shared_data / "sp500_5yr_2013_2018.csv.gz", dtype=str, keep_default_na=False
    )
    raw.mkdir(parents=True, exist_ok=True)
    out = {}
    for ticker in tickers:
        rows = source[source["ticker"] == ticker].drop(columns="ticker")
        path = raw / f"{ticker}_data.csv"
        rows.to_csv(path, index=False)
        if gz:
            with open(path, "rb") as src, gzip.open(f"{path}.gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            path.unlink()
            path = Path(f"{path}.gz")
        out[ticker] = path
    return out
