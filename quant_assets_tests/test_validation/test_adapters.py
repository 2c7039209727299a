"""Each adapter on real bars: to the cent where the assumptions agree, and a mismatch is seen."""

from __future__ import annotations

from dataclasses import replace

import pytest

from quant_assets.validation import CostConfig, Unsupported, compare_runs, ours
from quant_assets.validation.scenarios import momentum_weights

FRACTIONAL = CostConfig(fee_bps=10.0, slippage_bps=5.0, initial_cash=100_000.0)
WHOLE = replace(FRACTIONAL, slippage_bps=0.0, whole_shares=True, fee_per_share=0.005)


def engine(name: str):
    package = {"vectorbt": "vectorbt", "backtrader": "backtrader", "zipline": "zipline"}[name]
    pytest.importorskip(
        package, reason=f"{package} not installed: pip install quant_assets[validation]"
    )
    from importlib import import_module

    return import_module(f"quant_assets.validation.{name}_engine")


@pytest.fixture(scope="module")
def weights(market):
    return momentum_weights(market.closes, gross=0.9, long_only=False)


@pytest.fixture(scope="module")
def zipline_bundle(market, tmp_path_factory):
    """One bundle of the market for the whole module (ingest takes seconds)."""
    zipline = engine("zipline")
    root = tmp_path_factory.mktemp("zipline_root")
    return zipline.ingest_bundle(market, root), root


def assert_to_the_cent(run, reference):
    diff = compare_runs(run, reference)
    assert diff["to_the_cent"], diff
    assert len(run.trades) == len(reference.trades) > 50


@pytest.mark.parametrize("name", ["vectorbt", "backtrader"])
@pytest.mark.parametrize("execution", ["close", "next_open"])
def test_fractional_engines_match_ours_to_the_cent(market, weights, name, execution):
    costs = replace(FRACTIONAL, execution=execution)
    reference = ours.run(market, weights, costs)
    run = engine(name).run(market, weights, costs)
    assert run.engine == name
    assert list(run.trades.columns) == ["date", "ticker", "shares", "price", "fee"]
    assert run.equity.index.equals(market.closes.index)
    assert_to_the_cent(run, reference)
    assert run.final_value == pytest.approx(reference.final_value, abs=0.005)


@pytest.mark.parametrize("execution", ["close", "next_open"])
def test_whole_share_engines_match_vectorbt_to_the_cent(market, weights, zipline_bundle, execution):
    costs = replace(WHOLE, execution=execution)
    reference = engine("vectorbt").run(market, weights, costs)
    assert (reference.trades["shares"] % 1 == 0).all()
    assert_to_the_cent(engine("backtrader").run(market, weights, costs), reference)
    assert_to_the_cent(
        engine("zipline").run(market, weights, costs, bundle=zipline_bundle), reference
    )


def test_a_different_fee_is_reported_as_a_difference(market, weights):
    reference = ours.run(market, weights, FRACTIONAL)
    run = engine("backtrader").run(market, weights, replace(FRACTIONAL, fee_bps=11.0))
    diff = compare_runs(run, reference)
    assert not diff["to_the_cent"] and not diff["trades_match"]
    assert diff["max_abs_equity_diff"] > 1.0
    assert diff["final_value_diff"] < 0


def test_settings_an_engine_cannot_represent_are_refused(market, weights):
    with pytest.raises(Unsupported, match="fractional shares only"):
        ours.run(market, weights, WHOLE)
    with pytest.raises(Unsupported, match="whole shares only"):
        engine("zipline").run(market, weights, FRACTIONAL)
    with pytest.raises(Unsupported, match="only without slippage"):
        engine("vectorbt").run(market, weights, replace(WHOLE, slippage_bps=5.0))
