"""The registry: complete, consistent with the computation, and exportable as a table."""

from __future__ import annotations

import json

from quant_assets.factors import (
    FACTOR_REGISTRY,
    GROUPS,
    FactorDefinition,
    factor_definitions_frame,
    required_lookback,
    to_wide,
)


def test_registry_has_every_group_and_at_least_30_factors():
    assert len(FACTOR_REGISTRY) >= 30
    assert {d.group for d in FACTOR_REGISTRY.values()} == set(GROUPS)
    assert all(isinstance(d, FactorDefinition) for d in FACTOR_REGISTRY.values())
    assert all(name == d.name for name, d in FACTOR_REGISTRY.items())


def test_every_factor_computes_on_real_data(sp500_factors):
    counts = sp500_factors.groupby("factor", observed=True).size()
    assert list(counts.index) == list(FACTOR_REGISTRY)
    assert (counts > 1000).all()
    assert sp500_factors["value"].notna().all()


def test_warmup_matches_first_value(sp500, sp500_factors):
    """Each factor's first value for a full-history ticker is on row ``warmup`` (0-based)."""
    aapl = sp500[sp500["ticker"] == "AAPL"].sort_values("date")["date"].reset_index(drop=True)
    first = (
        sp500_factors[sp500_factors["ticker"] == "AAPL"]
        .groupby("factor", observed=True)["date"]
        .min()
    )
    for name, definition in FACTOR_REGISTRY.items():
        assert first[name] == aapl[definition.warmup], name
        assert definition.warmup < definition.lookback or definition.lookback == 1


def test_definitions_frame_is_the_factor_definitions_table():
    frame = factor_definitions_frame()
    assert list(frame.columns) == [
        "name", "group", "params", "lookback", "warmup", "requires", "description",
    ]  # fmt: skip
    assert frame["name"].tolist() == list(FACTOR_REGISTRY)
    assert frame["name"].is_unique
    assert frame["description"].str.len().gt(10).all()
    macd = frame.set_index("name").loc["macd_8_24"]
    assert json.loads(macd["params"]) == {
        "long": 24, "price_window": 63, "short": 8, "signal_window": 252,
    }  # fmt: skip
    assert frame.set_index("name").loc["atr_14", "requires"] == "high,low,close"


def test_required_lookback_is_the_longest_lookback():
    assert required_lookback(["ret_1", "sma_200"]) == 200
    assert required_lookback() == max(d.lookback for d in FACTOR_REGISTRY.values())
    assert required_lookback(["sma_5"]) == 5


def test_to_wide_has_one_column_per_factor(sp500_factors):
    wide = to_wide(sp500_factors)
    assert list(wide.columns) == list(FACTOR_REGISTRY)
    assert wide.index.names == ["ticker", "date"]
    assert wide.index.is_monotonic_increasing
    assert wide.notna().sum().sum() == len(sp500_factors)
    row = sp500_factors.iloc[12345]
    assert wide.loc[(row["ticker"], row["date"]), row["factor"]] == row["value"]
