"""The FMP API key never reaches the MLflow store: params, tags, artifacts or database."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from quant_assets.models import forecast_baseline
from quant_assets.tracking import (
    RunProvenance,
    clean_tags,
    log_baseline,
    log_forecast_baseline,
    log_training,
)


@pytest.fixture
def api_key(monkeypatch) -> str:
    key = f"fmpkey{secrets.token_hex(12)}"
    monkeypatch.setenv("FMP_API_KEY", key)
    return key


def _store_texts(tracker, run_ids) -> list[str]:
    client = tracker.client
    texts = []
    for run_id in run_ids:
        run = client.get_run(run_id)
        texts += [*run.data.params, *run.data.params.values()]
        texts += [*run.data.tags, *run.data.tags.values(), run.info.run_name]
    for model in client.search_registered_models():
        texts += [model.name, str(model.tags), str(model.description)]
    for version in client.search_model_versions():
        texts += [str(version.tags), version.source]
    return texts


def _store_files(tracker) -> list[Path]:
    return [p for p in tracker.database_path.parent.rglob("*") if p.is_file()]


def test_api_key_is_never_stored_even_when_a_caller_passes_it(
    tracker, trained_mlp, panel, split, api_key
):
    careless = {
        "source_url": f"https://financialmodelingprep.com/stable/x?symbol=AAPL&apikey={api_key}",
        "fmp_api_key": api_key,
        "note": f"fetched with {api_key}",
    }
    provenance = RunProvenance(dagster_run_id="run-1", partition_key=api_key)
    logged = [
        log_training(
            tracker, trained_mlp, panel, window=api_key, provenance=provenance, tags=careless
        ),
        log_baseline(
            tracker, kind="tsmom", params={"lookback": 252, **careless}, metrics={"val_sharpe": 0.1}
        ),
        log_forecast_baseline(
            tracker, forecast_baseline("ridge", panel, split), panel, split, tags=careless
        ),
    ]
    texts = _store_texts(tracker, [m.run_id for m in logged])
    assert not [t for t in texts if api_key in t]
    assert any("apikey=***" in t for t in texts)  # the careless values were kept, redacted
    files = _store_files(tracker)
    assert any(f.name == "model.pth" for f in files) and any(f.suffix == ".db" for f in files)
    leaking = [f for f in files if api_key.encode() in f.read_bytes()]
    assert leaking == []


def test_secret_looking_keys_are_masked_whatever_their_value():
    assert clean_tags({"api_key": "abc", "db_password": "x", "lookback": 252}) == {
        "api_key": "***",
        "db_password": "***",
        "lookback": "252",
    }
