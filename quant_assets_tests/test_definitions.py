"""The code location loads as `dagster dev` would load it."""

from __future__ import annotations

from dagster import Definitions


def test_definitions_load_with_every_asset_check_job_schedule_and_sensor():
    from quant_assets.definitions import defs

    Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"price_files", "fmp_daily_bars", "prices"} <= keys
    assert {s.name for s in defs.schedules} == {"daily_update_schedule"}
    assert {s.name for s in defs.sensors} == {"raw_files_sensor"}
    checks = {k.name for c in defs.asset_checks for k in c.check_keys}
    assert {"large_daily_moves", "zero_volume_bars", "flat_bars", "trading_day_gaps"} <= checks
