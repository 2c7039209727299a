"""Several seeds per model x window, averaged: seed derivation and the average, hand-checked."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from quant_assets.models import TrainConfig
from quant_assets.models.walk_forward import average_positions, seed_configs, train_seeds
from quant_assets_tests.test_models.planted_signal import planted_signal_panel, planted_split


def test_seed_configs_keep_the_first_seed_and_derive_distinct_others():
    config = TrainConfig(seed=7, hidden_size=3)
    configs = seed_configs(config, 5)
    assert configs[0] == config
    assert len({c.seed for c in configs}) == 5
    assert all(dataclasses.replace(c, seed=7) == config for c in configs)
    # adding seeds never changes the earlier ones
    assert seed_configs(config, 3) == configs[:3]
    with pytest.raises(ValueError, match="n_seeds"):
        seed_configs(config, 0)


def test_average_positions_is_the_mean_over_the_frames_that_hold_a_cell():
    day = pd.Timestamp("2020-01-02")
    a = pd.DataFrame({"date": [day, day], "ticker": ["A", "B"], "position": [1.0, -1.0]})
    b = pd.DataFrame({"date": [day], "ticker": ["A"], "position": [0.0]})
    c = pd.DataFrame({"date": [day], "ticker": ["A"], "position": [0.5]})
    out = average_positions([a, b, c])
    assert out.to_dict("records") == [
        {"date": day, "ticker": "A", "position": 0.5},
        {"date": day, "ticker": "B", "position": -1.0},
    ]


def test_train_seeds_averages_the_seeds_positions():
    panel, split = planted_signal_panel(n_dates=400), planted_split(400)
    split = dataclasses.replace(
        split, train=np.arange(0, 250), validation=np.arange(260, 320), test=np.arange(330, 400)
    )
    config = TrainConfig(
        sequence_length=1, batch_size=32, max_epochs=2, hidden_size=4, device="cpu", seed=3
    )
    seen = []
    result = train_seeds("mlp", panel, split, config, n_seeds=3, on_seed_end=seen.append)
    assert [r.config.seed for r in result.results] == [c.seed for c in seed_configs(config, 3)]
    assert seen == result.results
    expected = average_positions([r.positions for r in result.results])
    pd.testing.assert_frame_equal(result.positions, expected)
    assert len(result.seed_sharpes) == 3 and np.isfinite(result.sharpe)
