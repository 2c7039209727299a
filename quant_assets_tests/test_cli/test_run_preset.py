"""`make run`'s laptop preset for trained_models: valid, research defaults kept, fewer windows."""

from __future__ import annotations

import pandas as pd

from quant_assets.assets.models import TrainedModelsConfig, trained_models_windows
from quant_assets.automation.run_config import config_classes, run_config_errors
from quant_assets.cli.pipeline import LAPTOP_TRAINED_MODELS, RunOptions, models_config
from quant_assets.definitions import ASSETS, trained_models
from quant_assets.ingest.seed import BENCHMARK_TICKER, default_price_frames


def test_run_defaults_to_the_laptop_preset_and_it_is_valid():
    options = RunOptions()
    assert options.trained_models_config == LAPTOP_TRAINED_MODELS
    ops = models_config(trained_models, options.models, options.trained_models_config)
    assert ops["trained_models"]["config"] == LAPTOP_TRAINED_MODELS
    assert run_config_errors({"ops": ops}, config_classes(ASSETS)) == []


def test_the_preset_keeps_the_research_training_and_plans_fewer_windows():
    research, laptop = TrainedModelsConfig(), TrainedModelsConfig(**LAPTOP_TRAINED_MODELS)
    # item 1 of issue 15: the research defaults, which the preset does not touch
    for config in (research, laptop):
        assert config.seeds >= 5 and config.patience >= 10 and 1 <= config.stride <= 5
        assert config.validation_length >= 504 and config.embargo >= config.sequence_length
    frames = default_price_frames()
    dates = pd.DatetimeIndex(
        sorted(set().union(*(f["date"] for t, f in frames.items() if t != BENCHMARK_TICKER)))
    )
    full, preset = trained_models_windows(research, dates), trained_models_windows(laptop, dates)
    assert len(preset) == 1 < len(full)
    [split] = preset
    assert len(split.train) == laptop.train_length
    assert len(split.validation) == laptop.validation_length
    assert dates[split.test[0]] >= pd.Timestamp("2020-01-01")
