"""Walk-forward training: the windows, a seed per window, a fresh network per split, test
positions stitched end to end."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_assets.models.evaluation import positions_sharpe
from quant_assets.models.networks import SeedAveragedModel
from quant_assets.models.splits import Split, walk_forward_splits
from quant_assets.models.tensors import Panel, build_panel
from quant_assets.models.training import TrainConfig, TrainResult, train_model

# The share of the history before the first test block when none is configured.
DEFAULT_FIRST_TEST_FRACTION = 0.6


def first_test_start(dates: pd.DatetimeIndex, configured: str = "") -> pd.Timestamp:
    """``configured`` as a date, or (empty) the first January 1 after 60% of ``dates``."""
    if configured:
        return pd.Timestamp(configured)
    cut = dates[int(len(dates) * DEFAULT_FIRST_TEST_FRACTION)]
    return pd.Timestamp(year=cut.year + 1, month=1, day=1)


def training_panel(features: pd.DataFrame, closes: pd.DataFrame, factors: Sequence[str]) -> Panel:
    """The panel of ``factors`` (long ``features``) and wide ``closes`` that models train on.

    Raises
    ------
    ValueError
        Without closes, or when a factor has no values: naming what to materialize.
    """
    if closes.empty:
        raise ValueError("no prices: materialize prices and factor_values first")
    missing = sorted(set(factors) - set(features["factor"].unique()))
    if missing:
        raise ValueError(f"factors {missing} have no values: materialize factor_values for them")
    return build_panel(features, closes, factors=tuple(factors))


def plan_windows(
    dates: pd.DatetimeIndex,
    *,
    first_test: str = "",
    retrain_every: str,
    window: str,
    train_length: int | None,
    validation_length: int,
    embargo: int,
) -> list[Split]:
    """The walk-forward splits of ``dates`` (see :func:`walk_forward_splits`); at least one.

    Raises
    ------
    ValueError
        When no window fits the dates (too short a history for the first test date).
    """
    start = first_test_start(dates, first_test)
    splits = walk_forward_splits(
        dates,
        first_test_start=start,
        retrain_every=retrain_every,
        window=window,
        train_length=train_length or None,
        validation_length=validation_length,
        embargo=embargo,
    )
    if not splits:
        raise ValueError(
            f"no walk-forward window fits: {len(dates)} dates, tests from {start.date()}"
        )
    return splits


def window_seed(base_seed: int, window: int) -> int:
    """A distinct, reproducible seed for walk-forward window ``window`` (from 0) of ``base_seed``.

    Derived with NumPy's ``SeedSequence`` so neighbouring windows (and base seeds) get unrelated
    streams rather than ``seed + 1``.
    """
    return int(np.random.SeedSequence([base_seed, window]).generate_state(1)[0] >> 1)


def window_config(config: TrainConfig, window: int) -> TrainConfig:
    """``config`` with the seed of walk-forward window ``window`` (:func:`window_seed`)."""
    return dataclasses.replace(config, seed=window_seed(config.seed, window))


# Each model x window is trained from this many seeds and the position is their average.
DEFAULT_SEEDS = 5


def seed_configs(config: TrainConfig, n_seeds: int = DEFAULT_SEEDS) -> list[TrainConfig]:
    """``n_seeds`` copies of ``config``, the first with its own seed, the others derived from it.

    Seed ``s`` > 0 is ``window_seed(config.seed, s)`` (unrelated streams, reproducible), so a
    one-seed run is exactly the run of ``config`` and adding seeds never changes the earlier ones.
    """
    if n_seeds < 1:
        raise ValueError(f"n_seeds must be at least 1, got {n_seeds}")
    return [config] + [
        dataclasses.replace(config, seed=window_seed(config.seed, s)) for s in range(1, n_seeds)
    ]


def average_positions(positions: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The mean position per ``date, ticker`` over several long position frames (seeds).

    A cell held by only some frames is averaged over those that hold it.
    """
    stacked = pd.concat(positions, ignore_index=True)
    if stacked.empty:
        return stacked[["date", "ticker", "position"]]
    return stacked.groupby(["date", "ticker"], as_index=False, sort=True)["position"].mean()


def seed_convergence(results: Sequence[TrainResult]) -> dict[str, float | int | bool]:
    """The training state of a model x window trained from several seeds, summarised honestly.

    ``seeds``: runs; ``epochs_run`` / ``best_epoch``: their means, ``epochs_run_max`` the
    longest; ``converged_seeds``: runs ended by early stopping (not by ``max_epochs``),
    ``converged`` True only when every run was; ``beat_init_seeds``: runs whose restored
    validation loss is below the untrained network's; ``initial_val_loss`` / ``best_val_loss``:
    means over the runs.
    """
    if not results:
        raise ValueError("no training runs to summarise")
    converged = sum(bool(r.stopped_early) for r in results)
    return {
        "seeds": len(results),
        "epochs_run": float(np.mean([r.epochs_run for r in results])),
        "epochs_run_max": int(max(r.epochs_run for r in results)),
        "best_epoch": float(np.mean([r.best_epoch for r in results])),
        "converged": converged == len(results),
        "converged_seeds": int(converged),
        "beat_init_seeds": int(sum(r.beat_initial for r in results)),
        "initial_val_loss": float(np.mean([r.initial_val_loss for r in results])),
        "best_val_loss": float(np.mean([r.best_val_loss for r in results])),
    }


@dataclass
class SeedEnsembleResult:
    """The runs of one network x split from several seeds and their averaged positions.

    ``sharpe`` scores ``positions`` (the average) on the test block, with costs, and
    ``val_sharpe`` the averaged validation positions; ``seed_sharpes`` each seed's own test
    Sharpe, for the spread over seeds; ``model`` the seed average as one module
    (:class:`~quant_assets.models.networks.SeedAveragedModel`), which reproduces ``positions``.
    """

    results: list[TrainResult]
    positions: pd.DataFrame
    sharpe: float
    val_sharpe: float = float("nan")

    @property
    def seed_sharpes(self) -> list[float]:
        return [r.test_sharpe for r in self.results]

    @property
    def model(self) -> SeedAveragedModel:
        return SeedAveragedModel([r.model for r in self.results])

    @property
    def convergence(self) -> dict[str, float | int | bool]:
        """:func:`seed_convergence` of the runs."""
        return seed_convergence(self.results)


def train_seeds(
    kind: str,
    panel: Panel,
    split: Split,
    config: TrainConfig | None = None,
    n_seeds: int = DEFAULT_SEEDS,
    *,
    on_seed_end: Callable[[TrainResult], None] | None = None,
) -> SeedEnsembleResult:
    """Train ``kind`` on ``split`` from ``n_seeds`` seeds (:func:`seed_configs`); average them."""
    config = config or TrainConfig()
    results = []
    for seed_config in seed_configs(config, n_seeds):
        result = train_model(kind, panel, split, seed_config)
        results.append(result)
        if on_seed_end is not None:
            on_seed_end(result)
    scoring = {"target_vol": config.target_vol, "cost_bps": config.cost_bps}
    positions = average_positions([r.positions for r in results])
    validation = average_positions(
        [r.validation_positions for r in results if r.validation_positions is not None]
    )
    sharpe = positions_sharpe(panel, positions, **scoring) if len(positions) else float("nan")
    val_sharpe = positions_sharpe(panel, validation, **scoring) if len(validation) else float("nan")
    return SeedEnsembleResult(
        results=results, positions=positions, sharpe=sharpe, val_sharpe=val_sharpe
    )


@dataclass
class WalkForwardResult:
    """Per-split results and the stitched out-of-sample positions and Sharpe."""

    results: list[TrainResult]
    positions: pd.DataFrame
    sharpe: float


def train_walk_forward(
    kind: str,
    panel: Panel,
    splits: list[Split],
    config: TrainConfig | None = None,
    *,
    on_split_end: Callable[[TrainResult], None] | None = None,
) -> WalkForwardResult:
    """Train a fresh network on each walk-forward split and stitch the test positions.

    Window ``i`` is trained with the seed :func:`window_seed` ``(config.seed, i)``.
    The stitched Sharpe scores the concatenated test periods as one strategy (with costs).
    """
    config = config or TrainConfig()
    results = []
    for index, split in enumerate(splits):
        result = train_model(kind, panel, split, window_config(config, index))
        results.append(result)
        if on_split_end is not None:
            on_split_end(result)
    positions = pd.concat([r.positions for r in results], ignore_index=True)
    sharpe = positions_sharpe(
        panel, positions, target_vol=config.target_vol, cost_bps=config.cost_bps
    )
    return WalkForwardResult(results=results, positions=positions, sharpe=sharpe)
