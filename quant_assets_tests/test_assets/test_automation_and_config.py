"""What the code location declares beyond the assets: automation conditions, blocking checks,
the report's freshness policy and Config that explains and validates itself."""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, AssetSelection, asset, materialize

import quant_assets.assets.factors as factor_assets
from quant_assets.assets.backtest import BacktestsConfig, ReportConfig, backtests
from quant_assets.assets.factors import (
    FactorValuesConfig,
    factor_checks,
    factor_values,
    values_match_prices_and_registry,
)
from quant_assets.assets.portfolio import TargetWeightsConfig, target_weights
from quant_assets.partitions import RANGE_END, RANGE_START, trading_day_partitions
from quant_assets_tests.dagster_project import QUIET, write_real_ticker_files

ASSETS_DIR = Path(factor_assets.__file__).parent
SQL_TEXT = re.compile(r"^\s*(SELECT|INSERT|DELETE|UPDATE|CREATE|WITH)\b", re.IGNORECASE)
CONFIGS = [FactorValuesConfig, TargetWeightsConfig, BacktestsConfig, ReportConfig]


@pytest.mark.parametrize("module", ["factors.py", "portfolio.py", "backtest.py"])
def test_asset_modules_are_thin(module):
    tree = ast.parse((ASSETS_DIR / module).read_text())
    long = [
        (n.name, n.end_lineno - n.lineno + 1)
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.end_lineno - n.lineno >= 60
    ]
    sql = [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and SQL_TEXT.match(n.value)
    ]
    assert long == [] and sql == []


def _node(key: str):
    from quant_assets.definitions import defs

    return defs.resolve_asset_graph().get(AssetKey(key))


def test_downstream_assets_follow_their_upstream_declaratively():
    for key in ("factor_values", "target_weights", "backtests", "backtest_report"):
        condition = _node(key).automation_condition
        assert condition is not None and condition.get_label() == "on_upstream_update", key
    labels = _labels(_node("factor_values").automation_condition)
    assert {"any_deps_updated", "in_latest_time_window"} <= labels
    # a new, empty trading day at midnight is not a reason to run (the schedule fills it)
    assert "newly_missing" not in labels


def _labels(condition) -> set[str]:
    out = {condition.get_label() or condition.name}
    for child in getattr(condition, "children", []):
        out |= _labels(child)
    return out


def test_factors_run_after_new_prices_but_not_twice_after_the_daily_run():
    """The condition on stand-ins shaped as the real graph: ``prices`` unpartitioned (the files
    land through the ticker-partitioned ``price_files``), factors by trading day."""
    from dagster import DagsterInstance, evaluate_automation_conditions

    from quant_assets.assets.factors import ON_UPSTREAM_UPDATE

    @asset(name="prices")
    def prices_stub() -> None: ...

    @asset(
        name="factor_values",
        deps=[prices_stub],
        partitions_def=trading_day_partitions,
        automation_condition=ON_UPSTREAM_UPDATE,
    )
    def factors_stub() -> None: ...

    with DagsterInstance.ephemeral() as instance:
        latest = trading_day_partitions.get_last_partition_key()

        def tick(cursor=None):
            result = evaluate_automation_conditions(
                defs=[prices_stub, factors_stub], instance=instance, cursor=cursor
            )
            return set(result.get_requested_partitions(AssetKey("factor_values"))), result.cursor

        requested, cursor = tick()
        assert requested == set()  # nothing new: a fresh, empty day alone starts nothing
        materialize([prices_stub], instance=instance)
        requested, cursor = tick(cursor)
        assert requested == {latest}  # a file landed: the newest trading day follows
        requested, cursor = tick(cursor)
        assert requested == set()  # requested once, not on every tick
        materialize([factors_stub], instance=instance, partition_key=latest)
        requested, cursor = tick(cursor)
        assert requested == set()


def test_factor_values_has_blocking_error_checks_and_report_a_freshness_policy():
    from quant_assets.definitions import defs

    specs = {
        spec.name: spec
        for checks in defs.asset_checks
        for spec in checks.check_specs
        if spec.asset_key == AssetKey("factor_values")
    }
    assert specs["values_match_prices_and_registry"].blocking
    assert specs["one_value_per_key"].blocking
    assert not specs["coverage_not_collapsing"].blocking  # a heuristic: it warns
    policy = _node("backtest_report").freshness_policy
    assert policy is not None
    assert policy.deadline_cron == "0 21 * * 1-5" and policy.timezone == "America/New_York"
    assert policy.lower_bound_delta == timedelta(hours=3)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.__name__)
def test_every_config_field_has_a_description_and_numbers_a_range(config):
    for name, field in config.model_fields.items():
        assert field.description and len(field.description) > 20, name
        if field.annotation in (int, float):
            bounds = {type(m).__name__ for m in field.metadata}
            assert bounds & {"Ge", "Gt"}, f"{config.__name__}.{name} has no lower bound"
    schema = config.to_config_schema().as_field().config_type.fields
    assert all(f.description for f in schema.values())  # what the launchpad shows


@pytest.mark.parametrize(
    ("assets", "op", "config", "field"),
    [
        ([backtests], "backtests", {"fee_bps": -1.0}, "fee_bps"),
        ([backtests], "backtests", {"cost_grid_bps": [0.0, -5.0]}, "cost_grid_bps"),
        ([backtests], "backtests", {"bootstrap_samples": 0}, "bootstrap_samples"),
        ([target_weights], "target_weights", {"rebalance": "hourly"}, "rebalance"),
        ([target_weights], "target_weights", {"max_gross": 0.0}, "max_gross"),
        ([target_weights], "target_weights", {"methods": ["martingale"]}, "methods"),
        ([factor_values], "factor_values", {"factors": ["rsi_14", "no_such"]}, "factors"),
    ],
)
def test_bad_config_fails_before_any_work_naming_the_field(project, assets, op, config, field):
    result = project.materialize(
        assets,
        start="2018-02-07",
        end="2018-02-07",
        config={op: {"config": config}},
        raise_on_error=False,
    )
    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    error = failure.event_specific_data.error
    text = error.to_string() if hasattr(error, "to_string") else str(error)
    assert "validation error" in text and re.search(rf"\b{field}\b", text)
    assert not project.warehouse_path.exists() or project.query(
        "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'weights'"
    )["n"][0] in (0, 1)  # nothing computed: no rows anywhere to look at
    assert not result.get_asset_materialization_events()


# --- the blocking check on real data ------------------------------------------------------


@pytest.fixture
def factored(project, shared_data):
    write_real_ticker_files(shared_data, project.raw, ["AAPL", "MSFT"])
    project.ingest_files(["AAPL", "MSFT"])
    project.compute_factors("2018-01-29", "2018-02-06", factors=["rsi_14", "ret_5"])
    return project


def _plant(path: Path, *rows: tuple) -> None:
    con = duckdb.connect(str(path))
    try:
        con.executemany("INSERT INTO factor_values VALUES (?, ?, ?, ?)", list(rows))
    finally:
        con.close()


def test_the_blocking_check_fails_on_a_planted_bad_row(factored):
    project = factored
    _plant(
        project.warehouse_path,
        ("GHOST", "2018-02-06", "rsi_14", 50.0),  # no price bar
        ("AAPL", "2018-02-06", "not_a_factor", 1.0),  # not registered
    )
    result = materialize(
        [factor_values, *factor_checks],
        selection=AssetSelection.checks(values_match_prices_and_registry),
        instance=project.instance,
        resources=project.resources(),
        run_config=QUIET,
        raise_on_error=False,
    )
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed and check.severity.value == "ERROR"
    assert check.metadata["malformed_rows"].value == 2
    assert check.metadata["dates_checked"].value == "all"
    problems = check.metadata["problems"].value
    assert "no price bar" in problems and "not in factor_definitions" in problems


def test_a_bad_write_stops_everything_downstream_in_the_run(factored, monkeypatch):
    project = factored
    write = factor_assets.replace_factor_values

    def write_then_corrupt(con, values, start, end):
        counts = write(con, values, start, end)
        con.execute("INSERT INTO factor_values VALUES ('GHOST', ?, 'rsi_14', 1.0)", [end])
        return counts

    monkeypatch.setattr(factor_assets, "replace_factor_values", write_then_corrupt)

    @asset(deps=[factor_values], partitions_def=trading_day_partitions)
    def downstream_of_factors() -> None:
        raise AssertionError("must not run after a failed blocking check")

    result = materialize(
        [factor_values, *factor_checks, downstream_of_factors],
        instance=project.instance,
        resources=project.resources(),
        tags={RANGE_START: "2018-02-07", RANGE_END: "2018-02-07"},
        run_config={**QUIET, "ops": {"factor_values": {"config": {"factors": ["rsi_14"]}}}},
        raise_on_error=False,
    )
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["values_match_prices_and_registry"].passed
    assert checks["values_match_prices_and_registry"].metadata["malformed_rows"].value == 1
    assert checks["one_value_per_key"].passed
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"factor_values"}
    assert not result.success
