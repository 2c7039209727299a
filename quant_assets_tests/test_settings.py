"""quant_assets.settings: read at call time, validated, naming the variable, the key never shown."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from quant_assets.paths import data_dir, raw_dir
from quant_assets.settings import (
    ENV_NAMES,
    Settings,
    SettingsError,
    fmp_api_key,
    load_settings,
    preserved_environment,
    read_setting,
)

KEY = "s3cr3t-fmp-key-0042"


@pytest.fixture
def clean_env(monkeypatch):
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_every_setting_has_a_variable_a_description_and_a_default(clean_env):
    for name, field in Settings.model_fields.items():
        assert field.alias in ENV_NAMES, name
        assert field.description and len(field.description) > 20, name
    settings = load_settings()
    assert (settings.catch_up_days, settings.retrain_days) == (10, 21)
    assert settings.history_start == dt.date(1990, 1, 1)
    assert settings.fmp_api_key is None and settings.dagster_home is None


def test_the_environment_is_read_at_each_call_not_at_import(clean_env, tmp_path):
    clean_env.setenv("QUANT_ASSETS_DATA_DIR", str(tmp_path / "one"))
    assert data_dir() == tmp_path / "one"
    clean_env.setenv("QUANT_ASSETS_DATA_DIR", str(tmp_path / "two"))
    assert raw_dir() == tmp_path / "two" / "raw"
    assert load_settings().warehouse_path == tmp_path / "two" / "warehouse.duckdb"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("QUANT_ASSETS_CATCH_UP_DAYS", "ten", "must be a whole number of days, got 'ten'"),
        ("QUANT_ASSETS_CATCH_UP_DAYS", "-1", "must be at least 0, got -1"),
        ("QUANT_ASSETS_RETRAIN_DAYS", "0", "must be at least 1, got 0"),
        ("QUANT_ASSETS_RETRAIN_DAYS", "2.5", "must be a whole number of days, got '2.5'"),
        ("QUANT_ASSETS_HISTORY_START", "1990-13-01", "month value is outside"),
        ("QUANT_ASSETS_HISTORY_START", "2999-01-01", "must not be in the future"),
    ],
)
def test_a_bad_value_raises_naming_the_variable(clean_env, name, value, message):
    clean_env.setenv(name, value)
    with pytest.raises(SettingsError, match=f"^{name} .*{message}"):
        load_settings()
    with pytest.raises(ValueError, match=name):
        read_setting(name)


def test_one_setting_is_read_without_judging_the_others(clean_env):
    clean_env.setenv("QUANT_ASSETS_CATCH_UP_DAYS", "ten")
    clean_env.setenv("QUANT_ASSETS_RETRAIN_DAYS", " 40 ")
    assert read_setting("QUANT_ASSETS_RETRAIN_DAYS") == 40
    with pytest.raises(KeyError, match="NOT_A_SETTING is not a setting"):
        read_setting("NOT_A_SETTING")


def test_the_key_is_masked_in_repr_str_and_the_effective_settings(clean_env):
    clean_env.setenv("FMP_API_KEY", f"  {KEY}\n")
    settings = load_settings()
    assert fmp_api_key() == KEY == settings.fmp_key()
    for shown in (repr(settings), str(settings), str(settings.effective()), f"{settings}"):
        assert KEY not in shown
    assert settings.effective()["FMP_API_KEY"] == "*** (set)"


def test_a_blank_value_counts_as_unset(clean_env):
    clean_env.setenv("FMP_API_KEY", "   ")
    clean_env.setenv("QUANT_ASSETS_CATCH_UP_DAYS", "")
    assert fmp_api_key() is None
    assert load_settings().catch_up_days == 10


def test_preserved_environment_puts_back_set_and_unset_values(clean_env):
    clean_env.setenv("MLFLOW_TRACKING_URI", "sqlite:///before.db")
    with preserved_environment("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI") as saved:
        assert saved == {"MLFLOW_TRACKING_URI": "sqlite:///before.db", "MLFLOW_REGISTRY_URI": None}
        os.environ["MLFLOW_TRACKING_URI"] = "sqlite:///during.db"
        os.environ["MLFLOW_REGISTRY_URI"] = "sqlite:///during.db"
    assert os.environ["MLFLOW_TRACKING_URI"] == "sqlite:///before.db"
    assert "MLFLOW_REGISTRY_URI" not in os.environ
