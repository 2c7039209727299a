"""Model assets: walk-forward training tracked in MLflow, and out-of-sample predictions.

``trained_models`` trains every configured network (MLP, LSTM, TFT), forecaster (ridge, random
forest, gradient boosting) and rule baseline (long-only, TSMOM, MACD) on each walk-forward window,
logs one MLflow run per model per window (registered versions for the fitted ones) and records the
versions in the warehouse. ``predictions`` turns them into positions for its trading days: the
version whose test block holds a date predicts it, and dates after the last block are predicted by
the newest version, so every stored position is out of sample for the model that made it.
"""

# No `from __future__ import annotations` here: Dagster reads these annotations at runtime.
import time

import numpy as np
import pandas as pd
from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from quant_assets.assets.factors import factor_values
from quant_assets.models import (
    NETWORK_KINDS,
    Panel,
    TrainConfig,
    build_panel,
    forecast_baseline,
    forecast_positions,
    long_only_positions,
    macd_positions,
    positions_sharpe,
    predict_positions,
    train_model,
    tsmom_positions,
    walk_forward_splits,
)
from quant_assets.partitions import trading_day_partitions, trading_day_window
from quant_assets.resources.compute import ComputeResource
from quant_assets.resources.mlflow import MLflowResource
from quant_assets.resources.warehouse import Warehouse
from quant_assets.tracking.baselines import log_baseline, log_forecast_baseline
from quant_assets.tracking.provenance import RunProvenance
from quant_assets.tracking.registry import load_registered_model
from quant_assets.tracking.training import log_training
from quant_assets.warehouse.ducklake import current_snapshot_id
from quant_assets.warehouse.models import (
    latest_training,
    load_closes,
    load_features,
    model_versions,
    record_training,
    replace_predictions,
)

# Lim et al. (2019): volatility-normalised returns over five horizons and Baz et al.'s MACD
# signals. Every registered factor can be chosen instead (config ``factors``).
DEEP_MOMENTUM_FACTORS = [
    "vol_scaled_ret_1",
    "vol_scaled_ret_21",
    "vol_scaled_ret_63",
    "vol_scaled_ret_126",
    "vol_scaled_ret_252",
    "macd_8_24",
    "macd_16_48",
    "macd_32_96",
]
RULES = {"long_only": long_only_positions, "tsmom": tsmom_positions, "macd": macd_positions}
FORECASTERS = ("ridge", "random_forest", "hist_gradient_boosting")


class TrainedModelsConfig(Config):
    """Which models to train, on which walk-forward windows, with which hyper-parameters.

    ``first_test_start`` empty means the first January after 60% of the history. The defaults are
    sized so that ``make run`` trains every kind on a laptop CPU in minutes; on a GPU raise
    ``max_epochs``, lower ``stride`` and retrain every year (``retrain_every="YS"``).
    """

    factors: list[str] = DEEP_MOMENTUM_FACTORS
    networks: list[str] = list(NETWORK_KINDS)
    forecasters: list[str] = list(FORECASTERS)
    rules: list[str] = list(RULES)
    first_test_start: str = ""
    retrain_every: str = "6YS"
    window: str = "expanding"
    train_length: int = 0
    validation_length: int = 252
    embargo: int = 63
    sequence_length: int = 21
    stride: int = 20
    max_epochs: int = 3
    patience: int = 2
    hidden_size: int = 16
    learning_rate: float = 1e-3
    cost_bps: float = 2.0  # the turnover penalty of the Sharpe loss, bps per unit traded
    l1: float = 1e-5  # L1 penalty on the network weights
    seed: int = 0


def _first_test_start(dates: pd.DatetimeIndex, configured: str) -> pd.Timestamp:
    if configured:
        return pd.Timestamp(configured)
    cut = dates[int(len(dates) * 0.6)]
    return pd.Timestamp(year=cut.year + 1, month=1, day=1)


def _train_config(config: TrainedModelsConfig, compute: ComputeResource) -> TrainConfig:
    base = TrainConfig()
    overrides = {
        "sequence_length": config.sequence_length,
        "stride": config.stride,
        "max_epochs": config.max_epochs,
        "patience": config.patience,
        "hidden_size": config.hidden_size,
        "learning_rate": config.learning_rate,
        "cost_bps": config.cost_bps,
        "seed": config.seed,
        "l1": config.l1,
    }
    return compute.train_config(base, **overrides)


def _window_rows(
    panel: Panel, split, model: str, family: str, window: int, logged, val, test, last: bool
) -> dict:
    dates = panel.dates
    return {
        "model": model,
        "family": family,
        "window": window,
        "model_version": (
            f"{logged.registered_name}/{logged.version}"
            if logged is not None and logged.version is not None
            else f"rule:{model}"
        ),
        "registered_name": None if logged is None else logged.registered_name,
        "version": None if logged is None or logged.version is None else str(logged.version),
        "mlflow_run_id": None if logged is None else logged.run_id,
        "train_start": dates[split.train[0]].date() if family != "rule" else None,
        "train_end": dates[split.train[-1]].date() if family != "rule" else None,
        "test_start": dates[split.test[0]].date(),
        # the newest window serves every later date too
        "test_end": None if last else dates[split.test[-1]].date(),
        "val_sharpe": val,
        "test_sharpe": test,
    }


@asset(
    deps=[factor_values],
    group_name="models",
    pool="gpu",
    kinds={"pytorch", "scikitlearn", "mlflow"},
)
def trained_models(
    context: AssetExecutionContext,
    config: TrainedModelsConfig,
    warehouse: Warehouse,
    compute: ComputeResource,
    mlflow: MLflowResource,
) -> MaterializeResult:
    """Every configured model trained walk-forward; one MLflow run per model per window.

    Networks are trained with the Sharpe loss (turnover cost in bps) and early stopping on
    validation Sharpe; forecasters are tuned with time-ordered folds; rules need no fitting but
    are scored and logged alike. The MLflow runs carry the Dagster run id; the registered versions
    land in ``model_versions`` with the test block each serves.
    """
    started = time.perf_counter()
    with warehouse.reading() as con:
        snapshot_id = current_snapshot_id(con)
        closes = load_closes(con)
        features = load_features(con, list(closes.columns), factors=config.factors)
    if closes.empty:
        raise Failure("no prices: materialize prices and factor_values first")
    missing = sorted(set(config.factors) - set(features["factor"].unique()))
    if missing:
        raise Failure(f"factors {missing} have no values: materialize factor_values for them")
    panel = build_panel(features, closes, factors=tuple(config.factors))
    first_test = _first_test_start(panel.dates, config.first_test_start)
    splits = walk_forward_splits(
        panel.dates,
        first_test_start=first_test,
        retrain_every=config.retrain_every,
        window=config.window,
        train_length=config.train_length or None,
        validation_length=config.validation_length,
        embargo=config.embargo,
    )
    if not splits:
        raise Failure(
            f"no walk-forward window fits: {len(panel.dates)} dates, tests from {first_test}"
        )
    train_config = _train_config(config, compute)
    unknown = (
        set(config.networks) - set(NETWORK_KINDS)
        | set(config.forecasters) - set(FORECASTERS)
        | set(config.rules) - set(RULES)
    )
    if unknown:
        raise Failure(f"unknown model kinds {sorted(unknown)}")
    device = compute.describe()
    tracker = mlflow.tracker()
    provenance = RunProvenance.from_context(
        context, data_start=panel.dates[0].date(), data_end=panel.dates[-1].date()
    )
    context.log.info(
        f"training {len(config.networks)} networks, {len(config.forecasters)} forecasters, "
        f"{len(config.rules)} rules on {len(splits)} windows, {len(panel.tickers)} tickers, "
        f"{len(panel.factors)} factors, device {device['device']}"
    )

    rows, oos = [], {}
    rule_positions = {name: RULES[name](closes) for name in config.rules}
    for w, split in enumerate(splits):
        last = w == len(splits) - 1
        label = str(panel.dates[split.test[0]].year)
        test_dates = panel.dates[split.test]
        for kind in config.networks:
            result = train_model(kind, panel, split, train_config)
            logged = log_training(
                tracker, result, panel, window=label, provenance=provenance, compute=device
            )
            rows.append(
                _window_rows(
                    panel,
                    split,
                    kind,
                    "network",
                    w,
                    logged,
                    result.val_sharpe,
                    result.test_sharpe,
                    last,
                )
            )
            oos.setdefault(kind, []).append(result.positions)
            context.log.info(
                f"{kind} window {label}: val Sharpe {result.val_sharpe:.2f}, test "
                f"{result.test_sharpe:.2f}, {logged.registered_name} v{logged.version}"
            )
        for kind in config.forecasters:
            result = forecast_baseline(
                kind,
                panel,
                split,
                target_vol=train_config.target_vol,
                cost_bps=config.cost_bps,
                seed=config.seed,
            )
            logged = log_forecast_baseline(
                tracker, result, panel, split, window=label, provenance=provenance
            )
            rows.append(
                _window_rows(
                    panel,
                    split,
                    kind,
                    "forecaster",
                    w,
                    logged,
                    result.val_sharpe,
                    result.test_sharpe,
                    last,
                )
            )
            oos.setdefault(kind, []).append(result.positions)
        for kind, positions in rule_positions.items():
            test = positions[positions["date"].isin(test_dates)]
            sharpe = positions_sharpe(
                panel, test, target_vol=train_config.target_vol, cost_bps=config.cost_bps
            )
            logged = log_baseline(
                tracker,
                kind=kind,
                metrics={"test_sharpe": sharpe},
                panel=panel,
                split=split,
                window=label,
                provenance=provenance,
            )
            rows.append(_window_rows(panel, split, kind, "rule", w, logged, None, sharpe, last))
            oos.setdefault(kind, []).append(test)

    versions = pd.DataFrame(rows)
    summary = pd.DataFrame(
        {
            "model": list(oos),
            "oos_sharpe": [
                positions_sharpe(
                    panel,
                    pd.concat(parts, ignore_index=True),
                    target_vol=train_config.target_vol,
                    cost_bps=config.cost_bps,
                )
                for parts in oos.values()
            ],
        }
    )
    with warehouse.transaction() as con:
        record_training(
            con,
            training_id=context.run_id,
            dagster_run_id=context.run_id,
            data_start=panel.dates[0].date(),
            data_end=panel.dates[-1].date(),
            tickers=[str(t) for t in panel.tickers],
            factors=list(panel.factors),
            device=str(device["device"]),
            config=config.model_dump(),
            versions=versions,
            snapshot_id=snapshot_id,
        )
    shown = versions[
        [
            "model",
            "window",
            "model_version",
            "mlflow_run_id",
            "test_start",
            "val_sharpe",
            "test_sharpe",
        ]
    ]
    return MaterializeResult(
        metadata={
            "training_id": context.run_id,
            "windows": len(splits),
            "models": len(oos),
            "tickers": len(panel.tickers),
            "factors": len(panel.factors),
            "data_range": f"{panel.dates[0].date()}..{panel.dates[-1].date()}",
            "first_test_date": str(panel.dates[splits[0].test[0]].date()),
            "device": MetadataValue.json(device),
            "mlflow_tracking_uri": str(tracker.tracking_uri),
            "mlflow_run_ids": MetadataValue.json(
                {f"{r.model}/{r.window}": r.mlflow_run_id for r in versions.itertuples()}
            ),
            "model_versions": MetadataValue.md(shown.to_markdown(index=False, floatfmt=".3f")),
            "out_of_sample_sharpe": MetadataValue.md(
                summary.sort_values("oos_sharpe", ascending=False).to_markdown(
                    index=False, floatfmt=".3f"
                )
            ),
            "seconds": round(time.perf_counter() - started, 1),
        }
    )


@asset(
    deps=[trained_models, factor_values],
    partitions_def=trading_day_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="models",
    pool="warehouse",
    kinds={"pytorch", "duckdb"},
)
def predictions(
    context: AssetExecutionContext,
    warehouse: Warehouse,
    compute: ComputeResource,
    mlflow: MLflowResource,
) -> MaterializeResult:
    """Out-of-sample positions in [-1, 1] per model, ticker and trading day (``predictions``).

    Each date is predicted by the version of the newest training whose walk-forward test block
    holds it (dates after the last block: the newest version), loaded back from the MLflow
    registry; dates before the first test block get no prediction, as they were seen in training.
    """
    start, end = trading_day_window(context)
    with warehouse.connect(read_only=True) as con:
        training = latest_training(con)
        if training is None:
            raise Failure("no trained models yet: materialize trained_models first")
        versions = model_versions(con, training["training_id"])
        tickers = list(training["tickers"])
        closes = load_closes(con, end)
        closes = closes[[t for t in tickers if t in closes.columns]]
        in_window = closes.index[(closes.index >= pd.Timestamp(start))]
        # networks read sequence_length dates of features before a date; 200 covers any config
        first_needed = closes.index[max(0, closes.index.searchsorted(pd.Timestamp(start)) - 200)]
        features = load_features(
            con, tickers, first_needed.date(), end, factors=list(training["factors"])
        )

    frames = []
    if len(in_window):
        panel = build_panel(features, closes.loc[first_needed:], factors=tuple(training["factors"]))
        tracker = mlflow.tracker()
        device = str(compute.torch_device())
        rules = {}
        for row in versions.itertuples():
            block_end = pd.Timestamp(row.test_end) if pd.notna(row.test_end) else pd.Timestamp.max
            dates = in_window[
                (in_window >= pd.Timestamp(row.test_start)) & (in_window <= block_end)
            ]
            if not len(dates):
                continue
            if row.family == "rule":
                if row.model not in rules:  # over all closes (signals need their history)
                    rules[row.model] = RULES[row.model](closes, in_window)
                got = rules[row.model]
                got = got[got["date"].isin(dates)]
            else:
                model = load_registered_model(
                    tracker, row.registered_name, int(row.version), device=device
                )
                if row.family == "network":
                    got = predict_positions(model, panel, dates)
                else:
                    got = forecast_positions(model, panel, dates)
            frames.append(
                got[["date", "ticker", "position"]].assign(
                    model=row.model,
                    model_version=row.model_version,
                    training_id=training["training_id"],
                )
            )
    positions = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(
            columns=["date", "ticker", "position", "model", "model_version", "training_id"]
        )
    )
    positions = positions[np.isfinite(positions["position"].astype(float))]
    with warehouse.transaction() as con:
        deleted, inserted = replace_predictions(con, positions, start, end)
    by_model = (
        positions.groupby(["model", "model_version"], as_index=False).agg(
            rows=("position", "size"),
            first=("date", "min"),
            last=("date", "max"),
            mean_abs_position=("position", lambda p: float(np.abs(p).mean())),
        )
        if len(positions)
        else pd.DataFrame()
    )
    return MaterializeResult(
        metadata={
            "window": f"{start}..{end}",
            "training_id": training["training_id"],
            "rows_written": inserted,
            "rows_replaced": deleted,
            "models": int(positions["model"].nunique()) if len(positions) else 0,
            "model_versions": MetadataValue.md(
                by_model.to_markdown(index=False, floatfmt=".3f") if len(by_model) else "none"
            ),
        }
    )
