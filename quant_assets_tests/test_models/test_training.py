from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from quant_assets.models import (
    TrainConfig,
    build_panel,
    deep_momentum_features,
    positions_sharpe,
    predict_positions,
    train_model,
    train_validation_test_split,
    train_walk_forward,
    walk_forward_splits,
)

SMALL = TrainConfig(
    sequence_length=10,
    batch_size=8,
    max_epochs=3,
    hidden_size=8,
    n_heads=2,
    dropout=0.1,
    device="cpu",
    seed=7,
)
LOSS_COLUMNS = ["train_loss", "train_sharpe", "val_loss", "val_sharpe", "learning_rate"]


def assert_same_weights(a, b):
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


@pytest.mark.parametrize("kind", ["mlp", "lstm", "tft"])
def test_same_seed_gives_identical_weights_and_history(kind, sp500_panel, sp500_split):
    config = SMALL if kind != "tft" else TrainConfig(**{**SMALL.__dict__, "max_epochs": 2})
    first = train_model(kind, sp500_panel, sp500_split, config)
    second = train_model(kind, sp500_panel, sp500_split, config)
    assert_same_weights(first.model, second.model)
    pd.testing.assert_frame_equal(first.history[LOSS_COLUMNS], second.history[LOSS_COLUMNS])
    pd.testing.assert_frame_equal(first.positions, second.positions)


def test_another_seed_gives_other_weights(sp500_panel, sp500_split):
    first = train_model("lstm", sp500_panel, sp500_split, SMALL)
    other = train_model(
        "lstm", sp500_panel, sp500_split, TrainConfig(**{**SMALL.__dict__, "seed": 8})
    )
    assert not torch.equal(first.model.network.head.weight, other.model.network.head.weight)


def test_test_period_data_cannot_reach_training(sp500_closes, sp500_panel, sp500_split):
    """Rewrite every close of the test period: training and validation must not notice."""
    test_start = sp500_panel.dates[sp500_split.test[0]]
    rng = np.random.default_rng(0)
    corrupted = sp500_closes.copy()
    later = corrupted.index >= test_start
    corrupted.loc[later] = corrupted.loc[later].to_numpy() * rng.uniform(0.5, 1.5, (later.sum(), 6))
    panel = build_panel(deep_momentum_features(corrupted), corrupted)
    clean = train_model("lstm", sp500_panel, sp500_split, SMALL)
    dirty = train_model("lstm", panel, sp500_split, SMALL)
    assert_same_weights(clean.model, dirty.model)
    pd.testing.assert_frame_equal(clean.history[LOSS_COLUMNS], dirty.history[LOSS_COLUMNS])
    assert clean.test_sharpe != dirty.test_sharpe


def test_validation_period_returns_cannot_reach_the_first_epoch_of_training(
    sp500_panel, sp500_split
):
    """Scramble validation targets: the first epoch's training loss is unchanged."""
    next_returns = sp500_panel.next_returns.copy()
    next_returns[sp500_split.validation] *= -3
    scrambled = type(sp500_panel)(**{**sp500_panel.__dict__, "next_returns": next_returns})
    clean = train_model("mlp", sp500_panel, sp500_split, SMALL)
    dirty = train_model("mlp", scrambled, sp500_split, SMALL)
    assert clean.history["train_loss"].iloc[0] == dirty.history["train_loss"].iloc[0]
    assert clean.history["val_sharpe"].iloc[0] != dirty.history["val_sharpe"].iloc[0]


def test_early_stopping_restores_the_best_validation_epoch(sp500_panel, sp500_split):
    config = TrainConfig(
        **{**SMALL.__dict__, "max_epochs": 30, "patience": 2, "learning_rate": 3e-2}
    )
    result = train_model("mlp", sp500_panel, sp500_split, config)
    history = result.history
    best = history.loc[history["val_sharpe"].idxmax()]
    assert result.best_epoch == best["epoch"]
    assert result.val_sharpe == pytest.approx(best["val_sharpe"], abs=1e-6)
    assert len(history) == min(30, result.best_epoch + 2)


def test_learning_rate_decays_when_validation_stalls(sp500_panel, sp500_split):
    config = TrainConfig(
        **{
            **SMALL.__dict__,
            "max_epochs": 8,
            "patience": 8,
            "lr_patience": 0,
            "learning_rate": 3e-2,
        }
    )
    history = train_model("mlp", sp500_panel, sp500_split, config).history
    assert history["learning_rate"].iloc[-1] < config.learning_rate


def test_predicted_positions_match_the_out_of_sample_positions(sp500_panel, sp500_split):
    result = train_model(
        "tft", sp500_panel, sp500_split, TrainConfig(**{**SMALL.__dict__, "max_epochs": 1})
    )
    dates = sp500_panel.dates[sp500_split.test]
    predicted = predict_positions(result.model, sp500_panel, dates)
    assert list(predicted.columns) == ["date", "ticker", "position"]
    pd.testing.assert_frame_equal(predicted, result.positions, atol=1e-6, rtol=0)
    assert predicted["date"].between(dates[0], dates[-1]).all()
    assert predicted["position"].abs().max() <= 1
    assert len(predicted) == sp500_panel.feature_mask[sp500_split.test].sum()
    assert result.test_sharpe == pytest.approx(positions_sharpe(sp500_panel, predicted), abs=1e-5)


def test_shared_weight_networks_predict_on_another_universe(sp500_panel, sp500_split, sp500_closes):
    lstm = train_model(
        "lstm", sp500_panel, sp500_split, TrainConfig(**{**SMALL.__dict__, "max_epochs": 1})
    )
    mlp = train_model(
        "mlp", sp500_panel, sp500_split, TrainConfig(**{**SMALL.__dict__, "max_epochs": 1})
    )
    subset = sp500_closes[["KO", "MSFT"]]
    other = build_panel(deep_momentum_features(subset), subset)
    dates = other.dates[-5:]
    predicted = predict_positions(lstm.model, other, dates)
    assert set(predicted["ticker"]) == {"KO", "MSFT"}
    full = predict_positions(lstm.model, sp500_panel, dates)
    pd.testing.assert_frame_equal(
        predicted,
        full[full["ticker"].isin(["KO", "MSFT"])].reset_index(drop=True),
        atol=1e-6,
        rtol=0,
    )
    with pytest.raises(ValueError, match="tickers"):
        predict_positions(mlp.model, other, dates)
    renamed = type(other)(**{**other.__dict__, "factors": tuple(reversed(other.factors))})
    with pytest.raises(ValueError, match="factors"):
        predict_positions(lstm.model, renamed, dates)


def test_strided_validation_is_exact_for_the_mlp(sp500_panel, sp500_split):
    exact = train_model("mlp", sp500_panel, sp500_split, SMALL)
    strided = train_model(
        "mlp", sp500_panel, sp500_split, TrainConfig(**{**SMALL.__dict__, "eval_stride": 10})
    )
    np.testing.assert_allclose(
        exact.history["val_sharpe"], strided.history["val_sharpe"], atol=1e-6
    )


def test_forecasting_objective_holds_the_sign_of_the_forecast(sp500_panel, sp500_split):
    config = TrainConfig(**{**SMALL.__dict__, "objective": "mse"})
    result = train_model("lstm", sp500_panel, sp500_split, config)
    assert set(np.unique(result.positions["position"])) <= {-1.0, 0.0, 1.0}
    assert (result.history["val_loss"] > 0).all()  # MSE, not -Sharpe


def test_costs_and_l1_enter_the_objective(sp500_panel, sp500_split):
    free = train_model("mlp", sp500_panel, sp500_split, SMALL)
    costly = train_model(
        "mlp",
        sp500_panel,
        sp500_split,
        TrainConfig(**{**SMALL.__dict__, "cost_bps": 50.0, "l1": 1e-3}),
    )
    assert costly.history["train_loss"].iloc[0] > free.history["train_loss"].iloc[0]


def test_embargo_shorter_than_the_sequence_is_refused(sp500_panel):
    split = train_validation_test_split(sp500_panel.dates, validation_start="2008", embargo=5)
    with pytest.raises(ValueError, match="embargo"):
        train_model("lstm", sp500_panel, split, SMALL)


def test_walk_forward_stitches_non_overlapping_test_years(sp500_panel):
    splits = walk_forward_splits(
        sp500_panel.dates,
        first_test_start="2008-01-01",
        validation_length=126,
        embargo=10,
        min_train_length=300,
    )
    config = TrainConfig(**{**SMALL.__dict__, "max_epochs": 1})
    seen = []
    result = train_walk_forward("mlp", sp500_panel, splits, config, on_split_end=seen.append)
    assert len(seen) == len(splits) == 2
    assert not result.positions.duplicated(["date", "ticker"]).any()
    assert result.positions["date"].dt.year.unique().tolist() == [2008, 2009]
    assert np.isfinite(result.sharpe)


def test_epoch_callback_sees_every_history_row(sp500_panel, sp500_split):
    rows = []
    result = train_model("mlp", sp500_panel, sp500_split, SMALL, on_epoch_end=rows.append)
    assert pd.DataFrame(rows)[LOSS_COLUMNS].equals(result.history[LOSS_COLUMNS])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kind", ["mlp", "lstm", "tft"])
def test_cuda_training_with_mixed_precision_matches_cpu_format(kind, sp500_panel, sp500_split):
    config = TrainConfig(**{**SMALL.__dict__, "device": "cuda", "max_epochs": 2})
    result = train_model(kind, sp500_panel, sp500_split, config)
    assert result.device.type == "cuda"
    assert next(result.model.parameters()).is_cuda
    assert np.isfinite(result.history[LOSS_COLUMNS].to_numpy()).all()
    predicted = predict_positions(result.model, sp500_panel, sp500_panel.dates[sp500_split.test])
    assert len(predicted) == len(result.positions)
    assert predicted["position"].abs().max() <= 1
