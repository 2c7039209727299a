from __future__ import annotations

import numpy as np

from quant_assets.models import PanelStandardScaler, TrainConfig, train_model


def test_statistics_come_from_training_cells_only(sp500_panel, sp500_split):
    scaler = PanelStandardScaler().fit(
        sp500_panel.features, sp500_panel.feature_mask, sp500_split.train
    )
    block = sp500_panel.features[sp500_split.train, 2, :]
    valid = sp500_panel.feature_mask[sp500_split.train]
    assert np.isclose(scaler.mean_[2], block[valid].astype(np.float64).mean(), rtol=1e-5)
    assert np.isclose(scaler.scale_[2], block[valid].astype(np.float64).std(), rtol=1e-5)


def test_later_periods_cannot_move_the_scaler(sp500_panel, sp500_split):
    later = sp500_panel.features.copy()
    later[sp500_split.validation[0] :] = 1e6
    fitted = PanelStandardScaler().fit(
        sp500_panel.features, sp500_panel.feature_mask, sp500_split.train
    )
    refitted = PanelStandardScaler().fit(later, sp500_panel.feature_mask, sp500_split.train)
    np.testing.assert_array_equal(fitted.mean_, refitted.mean_)
    np.testing.assert_array_equal(fitted.scale_, refitted.scale_)


def test_transform_clips_and_fills_missing_with_zero(sp500_panel, sp500_split):
    scaler = PanelStandardScaler(clip=2.0).fit(
        sp500_panel.features, sp500_panel.feature_mask, sp500_split.train
    )
    scaled = scaler.transform(sp500_panel.features)
    assert np.abs(scaled).max() <= 2.0
    assert (scaled[np.isnan(sp500_panel.features)] == 0).all()


def test_trained_model_carries_the_training_period_scaler(sp500_panel, sp500_split):
    config = TrainConfig(sequence_length=5, max_epochs=1, hidden_size=4, device="cpu")
    result = train_model("mlp", sp500_panel, sp500_split, config)
    scaler = PanelStandardScaler().fit(
        sp500_panel.features, sp500_panel.feature_mask, sp500_split.train
    )
    np.testing.assert_array_equal(result.model.feature_mean.numpy(), scaler.mean_)
    np.testing.assert_array_equal(result.model.feature_scale.numpy(), scaler.scale_)
