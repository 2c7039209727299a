"""Training loop for the momentum networks: early stopping on validation Sharpe.

One call trains one network on one :class:`~quant_assets.models.splits.Split`: the feature
scaler is fitted on the training dates only, training windows lie wholly inside the training
block, gradients are clipped to ``max_grad_norm``, the learning rate halves when the validation
Sharpe stalls, training stops after ``patience`` epochs without a better validation Sharpe, and
the weights of the best validation epoch are restored at the end. The untrained network (epoch 0,
which holds about no position) is scored first and is a candidate too, so the restored model's
validation loss is never above the one at initialisation. Seeded runs on CPU are bit-for-bit reproducible; on
CUDA, mixed precision (float16 autocast with a gradient scaler) is used unless switched off.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from quant_assets.models.device import resolve_device
from quant_assets.models.evaluation import positions_frame
from quant_assets.models.losses import (
    annualised_sharpe,
    l1_penalty,
    masked_mse,
    sharpe_loss,
    strategy_returns,
)
from quant_assets.models.networks import PositionModel, build_network
from quant_assets.models.panel_tensors import PanelTensors
from quant_assets.models.scaling import PanelStandardScaler
from quant_assets.models.splits import Split
from quant_assets.models.tensors import Panel, window_ends

OBJECTIVES = ("sharpe", "mse")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (all have working defaults).

    ``sequence_length`` dates per training window (each window holds all assets); windows are laid
    every ``stride`` dates (default: ``sequence_length``, non-overlapping as in Lim et al. 2019).
    ``objective`` is ``"sharpe"`` (positions ``tanh(score)``, loss: negative annualised Sharpe net of
    ``cost_bps`` per unit of vol-scaled turnover) or ``"mse"`` (score forecasts the vol-normalised
    next-day return; position: its sign). ``l1`` weighs the L1 norm of the network's weights.
    Early stopping always watches the validation Sharpe. ``eval_stride`` > 1 scores that many
    validation/test dates per window instead of one window per date (faster on CPU; see
    :meth:`~quant_assets.models.panel_tensors.PanelTensors.scores_at`).
    """

    sequence_length: int = 63
    stride: int | None = None
    batch_size: int = 64
    max_epochs: int = 100
    patience: int = 10
    learning_rate: float = 1e-3
    lr_decay: float = 0.5
    lr_patience: int = 3
    max_grad_norm: float = 1.0
    hidden_size: int = 32
    n_layers: int | None = None
    n_heads: int = 4
    dropout: float = 0.1
    objective: str = "sharpe"
    target_vol: float = 0.15
    cost_bps: float = 0.0
    l1: float = 0.0
    feature_clip: float = 5.0
    seed: int = 0
    device: str = "auto"
    mixed_precision: bool = True
    eval_batch_size: int = 256
    eval_stride: int = 1


@dataclass
class TrainResult:
    """What one training run produced.

    ``history`` has one row per epoch: ``epoch, train_loss, train_sharpe, val_loss, val_sharpe,
    learning_rate, train_seconds, val_seconds`` (Sharpe ratios annualised, net of costs; the
    training Sharpe is the mean over batches, with dropout on). ``positions`` are the test-period
    positions (long ``date, ticker, position``) of the restored best model; ``test_sharpe`` is NaN
    without a test period. ``initial_val_loss`` and ``initial_val_sharpe`` score the untrained
    network; ``best_epoch`` 0 means no epoch beat it. ``stopped_early`` is True when early stopping
    ended training (``patience`` epochs without improvement), False when ``max_epochs`` did.
    ``validation_positions``: the restored model's positions on the validation block (long).
    """

    kind: str
    model: PositionModel
    history: pd.DataFrame
    best_epoch: int
    val_sharpe: float
    test_sharpe: float
    positions: pd.DataFrame
    config: TrainConfig
    split: Split
    device: torch.device
    initial_val_loss: float = float("nan")
    initial_val_sharpe: float = float("nan")
    stopped_early: bool = False
    validation_positions: pd.DataFrame | None = None

    @property
    def epochs_run(self) -> int:
        """Training epochs run (not counting the initial evaluation)."""
        return len(self.history)

    @property
    def beat_initial(self) -> bool:
        """True when the restored model's validation loss is below the untrained network's."""
        return bool(self.best_val_loss < self.initial_val_loss)

    @property
    def best_val_loss(self) -> float:
        """Validation loss of the restored model (the initial one when ``best_epoch`` is 0)."""
        if self.best_epoch == 0:
            return self.initial_val_loss
        return float(self.history.loc[self.history["epoch"] == self.best_epoch, "val_loss"].iloc[0])


def _new_model(kind: str, panel: Panel, split: Split, config: TrainConfig) -> PositionModel:
    scaler = PanelStandardScaler(clip=config.feature_clip)
    scaler.fit(panel.features, panel.feature_mask, split.train)
    network = build_network(
        kind,
        len(panel.factors),
        len(panel.tickers),
        hidden_size=config.hidden_size,
        n_layers=config.n_layers,
        n_heads=config.n_heads,
        dropout=config.dropout,
    )
    return PositionModel(
        network,
        scaler.mean_,
        scaler.scale_,
        context_length=config.sequence_length if network.uses_sequence else 1,
        output="position" if config.objective == "sharpe" else "forecast",
        clip=config.feature_clip,
        factors=panel.factors,
        tickers=tuple(panel.tickers),
    )


def _check(split: Split, config: TrainConfig, model: PositionModel) -> None:
    if config.objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}")
    if split.embargo < model.context_length:
        raise ValueError(
            f"embargo ({split.embargo}) must be at least the context length "
            f"({model.context_length}) so validation windows share no dates with training"
        )


def _batch_loss(
    model: PositionModel,
    tensors: PanelTensors,
    ends: torch.Tensor,
    config: TrainConfig,
    use_amp: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss (with L1) and Sharpe of one batch of training windows ending at ``ends``."""
    window = tensors.windows(ends, config.sequence_length)
    returns, vol, mask = window.next_returns, window.ex_ante_vol, window.mask
    with torch.autocast(tensors.device.type, dtype=torch.float16, enabled=use_amp):
        scores = model.scores(window.features, mask.any(dim=1)).float()
    positions = model.positions_from_scores(scores)
    if config.objective == "sharpe":
        loss = sharpe_loss(
            positions, returns, vol, mask, target_vol=config.target_vol, cost_bps=config.cost_bps
        )
        sharpe = -loss.detach()
    else:
        loss = masked_mse(scores, window.normalised_next_returns, mask)
        daily, valid = strategy_returns(
            positions.detach(),
            returns,
            vol,
            mask,
            target_vol=config.target_vol,
            cost_bps=config.cost_bps,
        )
        sharpe = annualised_sharpe(daily, valid)
    if config.l1:
        loss = loss + config.l1 * l1_penalty(model.network)
    return loss, sharpe


def _train_epoch(
    model: PositionModel,
    tensors: PanelTensors,
    ends: np.ndarray,
    optimiser: torch.optim.Optimizer,
    grad_scaler: torch.amp.GradScaler,
    generator: torch.Generator,
    config: TrainConfig,
    use_amp: bool,
) -> tuple[float, float]:
    """One pass over the training windows in a seeded random order: mean loss and Sharpe."""
    model.train()
    order = torch.randperm(len(ends), generator=generator)
    ends = torch.as_tensor(ends, device=tensors.device)
    totals = torch.zeros(2, device=tensors.device)
    for chunk in order.split(config.batch_size):
        loss, sharpe = _batch_loss(model, tensors, ends[chunk.to(tensors.device)], config, use_amp)
        optimiser.zero_grad(set_to_none=True)
        grad_scaler.scale(loss).backward()
        grad_scaler.unscale_(optimiser)
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        grad_scaler.step(optimiser)
        grad_scaler.update()
        totals += torch.stack([loss.detach(), sharpe]) * len(chunk)
    train_loss, train_sharpe = (totals / len(ends)).tolist()
    return train_loss, train_sharpe


def _evaluate(
    model: PositionModel,
    tensors: PanelTensors,
    positions: np.ndarray,
    config: TrainConfig,
    use_amp: bool,
) -> tuple[float, float, torch.Tensor]:
    """Validation loss, Sharpe and positions ``[D, N]`` (NaN where no features) on ``positions``."""
    scores = tensors.scores_at(
        model, positions, config.eval_batch_size, use_amp, config.eval_stride
    )
    held = model.positions_from_scores(scores)
    index = torch.as_tensor(positions, device=tensors.device)
    mask = tensors.mask[index]
    daily, valid = strategy_returns(
        held[None],
        tensors.next_returns[index][None],
        tensors.ex_ante_vol[index][None],
        mask[None],
        target_vol=config.target_vol,
        cost_bps=config.cost_bps,
    )
    sharpe = float(annualised_sharpe(daily, valid))
    if config.objective == "sharpe":
        loss = -sharpe
    else:
        loss = float(masked_mse(scores, tensors.normalised_next_returns[index], mask))
    held = torch.where(tensors.feature_mask[index], held, torch.full_like(held, float("nan")))
    return loss, sharpe, held


def train_model(
    kind: str,
    panel: Panel,
    split: Split,
    config: TrainConfig | None = None,
    *,
    on_epoch_end: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Train a ``"mlp"``, ``"lstm"`` or ``"tft"`` momentum network on one split.

    Parameters
    ----------
    kind : str
        Network kind (see :func:`~quant_assets.models.networks.build_network`).
    panel : Panel
        Features, next-day targets, ex-ante vol and masks.
    split : Split
        Train / validation / test positions; the embargo must be at least the context length.
    config : TrainConfig, optional
        Hyper-parameters (defaults when None).
    on_epoch_end : callable, optional
        Called with each epoch's history row (a dict), e.g. to log metrics to MLflow.

    Returns
    -------
    TrainResult
    """
    config = config or TrainConfig()
    device = resolve_device(config.device)
    use_amp = config.mixed_precision and device.type == "cuda"
    torch.manual_seed(config.seed)
    model = _new_model(kind, panel, split, config)
    _check(split, config, model)
    model.to(device)
    tensors = PanelTensors.from_panel(panel, device)
    ends = window_ends(split.train, config.sequence_length, config.stride or config.sequence_length)
    if len(ends) == 0:
        raise ValueError("the training period is shorter than one sequence")
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimiser, mode="max", factor=config.lr_decay, patience=config.lr_patience
    )
    grad_scaler = torch.amp.GradScaler(device.type, enabled=use_amp)
    generator = torch.Generator().manual_seed(config.seed)
    initial_loss, initial_sharpe, _ = _evaluate(model, tensors, split.validation, config, use_amp)
    best_sharpe, best_epoch, best_state = initial_sharpe, 0, copy.deepcopy(model.state_dict())
    rows, stopped_early = [], False
    for epoch in range(1, config.max_epochs + 1):
        started = time.perf_counter()
        train_loss, train_sharpe = _train_epoch(
            model, tensors, ends, optimiser, grad_scaler, generator, config, use_amp
        )
        trained = time.perf_counter()
        val_loss, val_sharpe, _ = _evaluate(model, tensors, split.validation, config, use_amp)
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_sharpe": train_sharpe,
            "val_loss": val_loss,
            "val_sharpe": val_sharpe,
            "learning_rate": optimiser.param_groups[0]["lr"],
            "train_seconds": trained - started,
            "val_seconds": time.perf_counter() - trained,
        }
        rows.append(row)
        if on_epoch_end is not None:
            on_epoch_end(row)
        schedule.step(val_sharpe)
        if val_sharpe > best_sharpe:
            best_sharpe, best_epoch = val_sharpe, epoch
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= config.patience:
            stopped_early = True
            break
    model.load_state_dict(best_state)
    model.eval()
    result = _result(kind, model, panel, split, config, tensors, rows, best_epoch, use_amp)
    result.initial_val_loss, result.initial_val_sharpe = initial_loss, initial_sharpe
    result.stopped_early = stopped_early
    return result


def _result(
    kind: str,
    model: PositionModel,
    panel: Panel,
    split: Split,
    config: TrainConfig,
    tensors: PanelTensors,
    rows: list[dict],
    best_epoch: int,
    use_amp: bool,
) -> TrainResult:
    """Score the restored model on validation and test and package the run."""
    _, val_sharpe, val_held = _evaluate(model, tensors, split.validation, config, use_amp)
    validation = positions_frame(val_held.cpu().numpy(), panel, split.validation)
    test_sharpe, positions = float("nan"), positions_frame(np.empty((0, 0)), panel, np.empty(0))
    if len(split.test):
        _, test_sharpe, held = _evaluate(model, tensors, split.test, config, use_amp)
        positions = positions_frame(held.cpu().numpy(), panel, split.test)
    return TrainResult(
        kind=kind,
        model=model,
        history=pd.DataFrame(rows),
        best_epoch=best_epoch,
        val_sharpe=val_sharpe,
        test_sharpe=test_sharpe,
        positions=positions,
        config=config,
        split=split,
        device=tensors.device,
        validation_positions=validation,
    )
