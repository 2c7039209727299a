"""No lookahead: the weights up to date t are the same whatever data follows t, for every method."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_assets.portfolio import (
    METHODS,
    PortfolioConfig,
    build_weights,
    rebalance_schedule,
    target_weights,
)
from quant_assets_tests.test_portfolio.conftest import random_walk_panel

CONFIGS = {
    "vol_target": PortfolioConfig(method="vol_target", no_trade_band=0.01),
    "vol_target_asset": PortfolioConfig(method="vol_target", vol_target_level="asset"),
    "vol_target_portfolio": PortfolioConfig(
        method="vol_target", vol_target_level="portfolio", rebalance="weekly"
    ),
    "fixed_fractional": PortfolioConfig(method="fixed_fractional", rebalance="monthly"),
    "kelly": PortfolioConfig(method="kelly", max_gross=3.0, no_trade_band=0.05),
    "risk_parity": PortfolioConfig(method="risk_parity", long_only=True, rebalance="weekly"),
    "black_litterman": PortfolioConfig(
        method="black_litterman", bl_lookback=40, rebalance="monthly", max_weight=0.6
    ),
    "black_litterman_min_variance": PortfolioConfig(
        method="black_litterman",
        bl_prior="min_variance",
        bl_lookback=40,
        rebalance="monthly",
        long_only=True,
    ),
}
N_DATES = 160


def test_every_method_is_covered():
    assert {config.method for config in CONFIGS.values()} == set(METHODS)


def panel(config: PortfolioConfig, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    signals, closes = random_walk_panel(seed, n_dates=N_DATES)
    return (signals * 1e-3 if config.method == "kelly" else signals), closes


def assert_same_past(
    config: PortfolioConfig,
    past: tuple[pd.DataFrame, pd.DataFrame],
    full: tuple[pd.DataFrame, pd.DataFrame],
    n_past: int,
) -> None:
    """Targets (before the calendar) and orders (after it) agree on the first n_past dates.

    Black-Litterman only has targets on rebalance dates, where they are the orders (no band).
    """
    slow = config.method == "black_litterman"
    for build in (build_weights,) if slow else (target_weights, build_weights):
        expected = build(*full, config).iloc[:n_past]
        got = build(*past, config).iloc[:n_past]
        assert expected.notna().any().any()
        pd.testing.assert_frame_equal(got, expected, check_exact=True)


@pytest.mark.parametrize("name", sorted(CONFIGS))
@settings(max_examples=3, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_appending_future_data_leaves_past_weights_unchanged(name, seed, data):
    config = CONFIGS[name]
    signals, closes = panel(config, seed)
    # cut just after a rebalance date, where a one-day leak would change an order
    schedule = rebalance_schedule(closes.index, config.rebalance)
    cut = data.draw(st.sampled_from([p + 1 for p in np.flatnonzero(schedule) if p >= 44]))
    assert_same_past(config, (signals.iloc[:cut], closes.iloc[:cut]), (signals, closes), cut)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_changing_the_future_leaves_past_weights_unchanged(name):
    config = CONFIGS[name]
    signals, closes = panel(config, seed=11)
    # Monday 2020-06-01 opens a week and a month: a rebalance date for every calendar, so a
    # leak from the next day onwards would show in its weights.
    last_past = closes.index.get_loc(pd.Timestamp("2020-06-01"))
    shocked_closes, flipped_signals = closes.copy(), signals.copy()
    shocked_closes.iloc[last_past + 1 :] *= 1.5
    flipped_signals.iloc[last_past + 1 :] *= -1.0
    assert_same_past(config, (flipped_signals, shocked_closes), (signals, closes), last_past + 1)
