"""The code location loads as `dagster dev` would load it."""

from __future__ import annotations

from dagster import Definitions


def test_definitions_load_with_every_asset_check_job_schedule_and_sensor():
    from quant_assets.definitions import defs

    Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {
        "price_files",
        "fmp_daily_bars",
        "prices",
        "factor_values",
        "trained_models",
        "hpo",
        "rl_agents",
        "predictions",
        "target_weights",
        "backtests",
        "backtest_report",
        "engine_parity",
    }
    assert {s.name for s in defs.schedules} == {"daily_update_schedule"}
    assert {s.name for s in defs.sensors} == {"raw_files_sensor", "retrain_sensor"}
    assert {j.name for j in defs.jobs} >= {"ingest_price_files", "daily_update", "retrain_models"}
    # PPO trains in the retraining run, after trained_models, and never in the daily job
    retrain = {
        k.to_user_string()
        for k in defs.resolve_job_def("retrain_models").asset_layer.executable_asset_keys
    }
    assert retrain == {"trained_models", "rl_agents"}
    daily = defs.resolve_job_def("daily_update").asset_layer.executable_asset_keys
    assert "rl_agents" not in {k.to_user_string() for k in daily}
    checks = {k.name for c in defs.asset_checks for k in c.check_keys}
    assert checks == {
        "large_daily_moves",
        "zero_volume_bars",
        "flat_bars",
        "trading_day_gaps",
        "non_finite_or_non_positive_values",
        "inconsistent_bars",
        "invalid_dates",
        "malformed_tickers",
        "duplicate_price_keys",
        "unexplained_jumps",
        "coverage_not_collapsing",
        "one_value_per_key",
        "values_match_prices_and_registry",
        "out_of_sample_only",
    }
