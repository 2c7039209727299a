"""Run config checked against the assets' Config classes before launch (ranges, patterns)."""

from __future__ import annotations

from quant_assets.automation.run_config import config_classes, run_config_errors
from quant_assets.definitions import ASSETS


def test_every_configurable_asset_has_its_config_class():
    classes = config_classes(ASSETS)
    assert {"trained_models", "backtests", "target_weights", "factor_values"} <= set(classes)
    assert classes["trained_models"].__name__ == "TrainedModelsConfig"


def test_a_value_out_of_range_is_named_with_its_asset_and_field():
    run_config = {
        "ops": {
            "trained_models": {"config": {"max_epochs": -1, "patience": 10}},
            "backtests": {"config": {"fee_bps": -2.0}},
        }
    }
    errors = run_config_errors(run_config, config_classes(ASSETS))
    assert len(errors) == 2
    assert errors[0].startswith("trained_models.config.max_epochs: ")
    assert "greater than or equal" in errors[0]
    assert errors[1].startswith("backtests.config.fee_bps: ")


def test_good_values_and_env_references_pass():
    run_config = {
        "ops": {
            "trained_models": {"config": {"max_epochs": 5, "seed": {"env": "SEED"}}},
            "prices": {},
        }
    }
    assert run_config_errors(run_config, config_classes(ASSETS)) == []
