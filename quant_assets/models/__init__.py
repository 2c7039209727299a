"""Deep-momentum models: panel tensors, temporal splits, networks, losses, training, baselines.

Conventions shared by every module: dates are trading dates; a position dated ``t`` is taken at
the close of ``t`` from information known then, and earns the simple return from the close of
``t`` to the close of ``t+1``, scaled to a 15% annualised target by the ex-ante (60-day EWMA)
volatility known at ``t``. Positions travel as long frames ``date, ticker, position`` in
``[-1, 1]``. Masks exclude missing tickers and days from losses and metrics.
"""

from __future__ import annotations

from quant_assets.models.baselines import (
    BOOSTED_FORECASTERS,
    FORECAST_KINDS,
    FORECASTERS,
    ForecastBaselineResult,
    forecast_baseline,
    forecast_positions,
    long_only_positions,
    macd_positions,
    tsmom_positions,
)
from quant_assets.models.boosted import BoostedForecastResult, forecast_boosted
from quant_assets.models.device import resolve_device
from quant_assets.models.ensemble import EnsembleResult, build_ensemble, forecaster_members
from quant_assets.models.evaluation import (
    positions_array,
    positions_sharpe,
    strategy_daily_returns,
)
from quant_assets.models.features import deep_momentum_features, macd_signal, normalised_returns
from quant_assets.models.hpo import BestParams, make_objective, run_study, search_space
from quant_assets.models.importance import permutation_importance, shap_importance
from quant_assets.models.losses import (
    annualised_sharpe,
    l1_penalty,
    masked_mse,
    sharpe_loss,
    strategy_returns,
)
from quant_assets.models.networks import NETWORK_KINDS, PositionModel, build_network
from quant_assets.models.prediction import predict_positions
from quant_assets.models.purged_cv import (
    purged_cv_within,
    purged_kfold_splits,
    purged_walk_forward_splits,
)
from quant_assets.models.returns import (
    daily_returns,
    ex_ante_volatility,
    next_day_returns,
    wide_closes,
    wide_opens,
)
from quant_assets.models.scaling import PanelStandardScaler
from quant_assets.models.splits import Split, train_validation_test_split, walk_forward_splits
from quant_assets.models.tensors import Panel, build_panel, sequence_windows, window_ends
from quant_assets.models.training import TrainConfig, TrainResult, train_model
from quant_assets.models.walk_forward import WalkForwardResult, train_walk_forward

__all__ = [
    "BOOSTED_FORECASTERS",
    "BestParams",
    "BoostedForecastResult",
    "EnsembleResult",
    "FORECASTERS",
    "FORECAST_KINDS",
    "ForecastBaselineResult",
    "NETWORK_KINDS",
    "Panel",
    "PanelStandardScaler",
    "PositionModel",
    "Split",
    "TrainConfig",
    "TrainResult",
    "WalkForwardResult",
    "annualised_sharpe",
    "build_ensemble",
    "build_network",
    "build_panel",
    "daily_returns",
    "deep_momentum_features",
    "ex_ante_volatility",
    "forecast_baseline",
    "forecast_boosted",
    "forecast_positions",
    "forecaster_members",
    "l1_penalty",
    "long_only_positions",
    "macd_positions",
    "macd_signal",
    "make_objective",
    "masked_mse",
    "next_day_returns",
    "normalised_returns",
    "permutation_importance",
    "positions_array",
    "positions_sharpe",
    "predict_positions",
    "purged_cv_within",
    "purged_kfold_splits",
    "purged_walk_forward_splits",
    "resolve_device",
    "run_study",
    "search_space",
    "sequence_windows",
    "shap_importance",
    "sharpe_loss",
    "strategy_daily_returns",
    "strategy_returns",
    "train_model",
    "train_validation_test_split",
    "train_walk_forward",
    "tsmom_positions",
    "walk_forward_splits",
    "wide_closes",
    "wide_opens",
    "window_ends",
]
