"""Strategies from models' predictions: names, settings, the window cut from the full path."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from quant_assets.portfolio import PortfolioConfig, build_weights
from quant_assets.portfolio.strategies import strategy_configs, strategy_weights
from quant_assets_tests.test_portfolio.conftest import random_walk_panel

LIMITS = {"max_weight": 0.5, "max_gross": 1.0, "rebalance": "weekly", "no_trade_band": 0.01}


def test_every_model_gets_each_method_and_black_litterman_only_where_asked():
    configs = strategy_configs(["lstm", "tsmom"], ["vol_target", "kelly"], ["lstm", "tft"], LIMITS)
    assert list(configs) == [
        "lstm:vol_target",
        "lstm:kelly",
        "lstm:black_litterman",
        "tsmom:vol_target",
        "tsmom:kelly",
    ]
    model, bl = configs["lstm:black_litterman"]
    assert model == "lstm" and bl.method == "black_litterman" and bl.rebalance == "monthly"
    model, kelly = configs["tsmom:kelly"]
    assert model == "tsmom" and kelly == PortfolioConfig(method="kelly", **LIMITS)


def test_a_bad_limit_fails_with_its_name():
    with pytest.raises(ValueError, match="max_gross"):
        strategy_configs(["mlp"], ["vol_target"], [], {**LIMITS, "max_gross": -1.0})


def _predictions(signals: pd.DataFrame, model: str) -> pd.DataFrame:
    long = signals.stack().rename("position").reset_index()
    long.columns = ["date", "ticker", "position"]
    # two versions: the first half of the dates from v1, the rest from v2
    cut = signals.index[len(signals) // 2]
    version = np.where(long["date"] < cut, f"{model}:v1", f"{model}:v2")
    return long.assign(model=model, model_version=version)


def test_window_orders_are_the_full_path_cut_to_the_window():
    signals, closes = random_walk_panel(seed=3, n_dates=200)
    preds = pd.concat([_predictions(signals, "mlp"), _predictions(-signals, "ridge")])
    strategies = strategy_configs(["mlp", "ridge"], ["vol_target"], [], LIMITS)
    start, end = closes.index[150].date(), closes.index[180].date()

    weights, summary = strategy_weights(preds, closes, strategies, start, end)

    assert list(weights.columns) == [
        "strategy",
        "model",
        "model_version",
        "ticker",
        "date",
        "weight",
    ]
    assert weights["date"].between(pd.Timestamp(start), pd.Timestamp(end)).all()
    # the orders of the window are those of the full path (the band depends on earlier orders)
    full = build_weights(signals, closes, PortfolioConfig(method="vol_target", **LIMITS))
    mlp = weights[weights["strategy"] == "mlp:vol_target"]
    got = mlp.pivot(index="date", columns="ticker", values="weight")
    expected = full.loc[got.index.min() : pd.Timestamp(end)].dropna(how="all")
    pd.testing.assert_frame_equal(got, expected[got.columns], check_names=False, check_freq=False)
    assert set(mlp["model_version"]) == {"mlp:v2"}  # the window lies in v2's half
    row = summary.set_index("strategy").loc["mlp:vol_target"]
    assert row["orders"] == len(mlp) and row["max_gross"] <= 1.0 + 1e-12


def test_tickers_without_closes_are_left_out_and_versions_default():
    signals, closes = random_walk_panel(seed=4, n_dates=120)
    preds = _predictions(signals, "macd").drop(columns="model_version")
    preds["model_version"] = None
    strategies = strategy_configs(["macd"], ["vol_target"], [], LIMITS)
    day = closes.index[-1].date()
    weights, _ = strategy_weights(
        preds, closes.drop(columns="C"), strategies, dt.date(2020, 1, 1), day
    )
    assert "C" not in set(weights["ticker"])
    assert set(weights["model_version"]) == {"macd:unversioned"}


def test_no_strategies_give_an_empty_order_table():
    signals, closes = random_walk_panel(seed=5, n_dates=30)
    weights, summary = strategy_weights(
        _predictions(signals, "mlp"), closes, {}, dt.date(2020, 1, 1), dt.date(2020, 3, 1)
    )
    assert weights.empty and "weight" in weights.columns and summary.empty
