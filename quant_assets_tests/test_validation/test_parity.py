"""The parity table over the standard scenarios, and the engine_parity asset in a real run."""

from __future__ import annotations

import pandas as pd
import pytest

from quant_assets.assets.validation import engine_parity
from quant_assets.validation import parity, parity_table, standard_scenarios
from quant_assets_tests.dagster_project import write_real_ticker_files

DISCA_SPLIT = pd.DataFrame(
    {"ticker": ["DISCA"], "date": [pd.Timestamp("2014-08-07")], "factor": [2.0]}
)


@pytest.fixture(scope="module")
def scenarios(sp500_raw_bars):
    return standard_scenarios(
        sp500_raw_bars,
        ["AAPL", "MSFT", "XOM", "JNJ"],
        "2015-01-01",
        "2015-04-30",
        split_tickers=["DISCA"],
        known_splits=DISCA_SPLIT,
    )


def test_every_scenario_is_built_from_the_real_bars(scenarios):
    names = [s.name for s in scenarios]
    assert names[-1] == "split" and len(names) == len(set(names)) == 11
    split = scenarios[-1]
    assert split.market.splits[["ticker", "factor"]].values.tolist() == [["DISCA", 2.0]]
    delisted = next(s for s in scenarios if s.name == "delisted")
    assert delisted.market.closes["MSFT"].iloc[-1:].isna().all()
    assert delisted.market.closes["MSFT"].notna().sum() > 30


def test_parity_table_agrees_to_the_cent_where_aligned_and_names_missing_engines(
    scenarios, monkeypatch
):
    pytest.importorskip("vectorbt")
    pytest.importorskip("backtrader")
    monkeypatch.setitem(parity.ENGINES, "zipline", (parity.ENGINES["zipline"][0], "no_such_pkg"))
    table = parity_table(scenarios).set_index(["scenario", "engine"])
    assert (table.xs("zipline", level="engine")["status"] == "not installed").all()
    assert "no_such_pkg" in table.loc[("split", "zipline"), "reason"]
    ran = table[table["status"] == "ran"]
    disagree = set(ran.index[~ran["to_the_cent"].astype(bool)])
    # backtrader rejects an order the cash cannot pay; ours and vectorbt buy what it pays
    assert disagree == {("cash_binding", "backtrader"), ("cash_binding_whole", "backtrader")}
    assert table.loc[("whole_shares", "ours"), "status"] == "unsupported"
    assert table.loc[("whole_shares", "backtrader"), "reference"] == "vectorbt"


def test_zipline_alone_applies_the_split(scenarios):
    pytest.importorskip("zipline")
    pytest.importorskip("vectorbt")
    split = [s for s in scenarios if s.name == "split"]
    table = parity_table(split, engines=("vectorbt", "zipline")).set_index("engine")
    # the others see a false 50 % loss on the raw series; zipline's bundle holds the split
    assert table.loc["zipline", "final_value"] > 1.5 * table.loc["vectorbt", "final_value"]
    assert bool(table.loc["zipline", "trades_match"])


def test_engine_parity_asset_materializes_on_the_warehouse(project, shared_data):
    tickers = ["AAPL", "MSFT", "XOM"]
    write_real_ticker_files(shared_data, project.raw, tickers)
    project.ingest_files(tickers)
    config = {"engine_parity": {"config": {"n_tickers": 3, "window_bars": 60}}}
    result = project.materialize([engine_parity], config=config)
    event = result.get_asset_materialization_events()[-1]
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    assert metadata["runs"] > 0
    assert metadata["runs_to_the_cent"] >= metadata["runs"] - 2  # backtrader's cash_binding
    assert metadata["multi_asset_daily/ours"]["status"] == "ran"
    # the warehouse holds adjusted closes: next-open scenarios report the missing opens
    assert "opens" in metadata["slippage_next_open/ours"]["reason"]
