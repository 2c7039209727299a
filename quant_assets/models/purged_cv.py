"""Purged, embargoed cross-validation on a date axis (López de Prado 2018, ch. 7).

Samples are dates (positions ``0 .. n-1`` on a panel's calendar). The label of the sample dated
``t`` is decided by the closes of dates ``t .. t + label_horizon`` (a next-day return has
``label_horizon=1``): its *label window* is the closed interval ``[t, t + label_horizon]``. Two
label windows overlap when they share a date (closed intervals, as in the book's
``getTrainTimes``), so a training label that ends on the close a test label starts from is purged.

For a test fold covering samples ``a .. b-1`` (one contiguous block):

* **purge**: training drops every sample whose label window overlaps a test label window, that is
  every ``t`` with ``a - label_horizon <= t <= b - 1 + label_horizon``;
* **embargo**: training also drops the ``embargo`` samples after the purged ones,
  ``b + label_horizon .. b + label_horizon + embargo - 1`` (their features are computed from
  closes the test labels were made of; the book extends each test label by the embargo).

Folds are returned as ``(train, test)`` pairs of sorted ``int64`` position arrays.
:func:`purged_row_folds` expands date folds to the pooled ``(date, ticker)`` rows of a panel.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_assets.models.splits import Split


def _n_samples(dates_or_n: pd.DatetimeIndex | np.ndarray | int) -> int:
    if isinstance(dates_or_n, int | np.integer):
        return int(dates_or_n)
    return len(dates_or_n)


def _check(n: int, n_splits: int, label_horizon: int, embargo: int) -> None:
    if n_splits < 2:
        raise ValueError("n_splits must be at least 2")
    if n < n_splits:
        raise ValueError(f"cannot make {n_splits} folds from {n} samples")
    if label_horizon < 0 or embargo < 0:
        raise ValueError("label_horizon and embargo must not be negative")


def purged_train_positions(
    n: int, test: np.ndarray, *, label_horizon: int, embargo: int, after: bool = True
) -> np.ndarray:
    """Positions ``0 .. n-1`` left for training around one contiguous ``test`` block.

    ``after=False`` keeps only samples before the test block (walk-forward).
    """
    first, last = int(test[0]), int(test[-1])
    positions = np.arange(n, dtype=np.int64)
    before = positions < first - label_horizon
    later = positions > last + label_horizon + embargo
    return positions[before | (later & after)]


def purged_kfold_splits(
    dates_or_n: pd.DatetimeIndex | np.ndarray | int,
    n_splits: int,
    *,
    label_horizon: int = 1,
    embargo: int = 0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """K contiguous test folds in time order; training is every other sample, purged and embargoed.

    Parameters
    ----------
    dates_or_n : DatetimeIndex, array or int
        The sample dates (only their number is used) or the number of samples.
    n_splits : int
        Number of folds (>= 2); fold sizes differ by at most one, the larger ones first
        (``numpy.array_split``).
    label_horizon : int
        Dates after ``t`` whose closes decide the label of sample ``t`` (1: next-day return).
    embargo : int
        Samples dropped from training after the purged zone that follows each test fold.

    Returns
    -------
    list of (train, test)
        Sorted ``int64`` positions. A fold whose training set would be empty is skipped.
    """
    n = _n_samples(dates_or_n)
    _check(n, n_splits, label_horizon, embargo)
    folds = []
    for test in np.array_split(np.arange(n, dtype=np.int64), n_splits):
        train = purged_train_positions(n, test, label_horizon=label_horizon, embargo=embargo)
        if len(train):
            folds.append((train, test))
    return folds


def purged_walk_forward_splits(
    dates_or_n: pd.DatetimeIndex | np.ndarray | int,
    n_splits: int,
    *,
    label_horizon: int = 1,
    embargo: int = 0,
    min_train: int = 1,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Walk-forward folds: ``n_splits + 1`` contiguous blocks; fold ``k`` tests block ``k + 1``.

    Training is every sample before the test block whose label ends before it
    (``t < a - label_horizon``) less ``embargo`` more samples, so that training is one contiguous
    block separated from the test block by a gap, as sequence models and
    :class:`~quant_assets.models.splits.Split` need. Folds with fewer than ``min_train``
    training samples are skipped.
    """
    n = _n_samples(dates_or_n)
    _check(n, n_splits, label_horizon, embargo)
    blocks = np.array_split(np.arange(n, dtype=np.int64), n_splits + 1)
    folds = []
    for test in blocks[1:]:
        train = np.arange(max(int(test[0]) - label_horizon - embargo, 0), dtype=np.int64)
        if len(train) >= max(min_train, 1):
            folds.append((train, test))
    return folds


def purged_cv_within(
    block: np.ndarray,
    n_splits: int,
    *,
    label_horizon: int = 1,
    embargo: int = 0,
    walk_forward: bool = False,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Purged folds inside one block of panel positions (e.g. ``split.train``), as panel positions.

    Labels of the block's last samples reach past it; the caller's split keeps them out of its
    validation block (``Split.embargo``). ``walk_forward`` picks :func:`purged_walk_forward_splits`.
    """
    block = np.asarray(block, dtype=np.int64)
    make = purged_walk_forward_splits if walk_forward else purged_kfold_splits
    folds = make(len(block), n_splits, label_horizon=label_horizon, embargo=embargo)
    return [(block[train], block[test]) for train, test in folds]


def purged_row_folds(
    row_dates: np.ndarray, date_folds: list[tuple[np.ndarray, np.ndarray]]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Date folds to row folds: each pooled row goes where its date goes (all assets of a day together).

    Parameters
    ----------
    row_dates : array of int
        Date position of each pooled ``(date, ticker)`` row.
    date_folds : list of (train, test)
        Date positions, e.g. from :func:`purged_cv_within`.
    """
    row_dates = np.asarray(row_dates)
    return [
        (np.nonzero(np.isin(row_dates, train))[0], np.nonzero(np.isin(row_dates, test))[0])
        for train, test in date_folds
    ]


def split_from_walk_forward_fold(train: np.ndarray, test: np.ndarray, embargo: int) -> Split:
    """A :class:`Split` validating on a walk-forward fold's test block (no test period).

    The train block is cut so that more than ``embargo`` dates separate it from the validation
    block, as :class:`Split` requires.
    """
    train = np.asarray(train, dtype=np.int64)
    test = np.asarray(test, dtype=np.int64)
    train = train[train < test[0] - embargo]
    return Split(train=train, validation=test, test=np.empty(0, dtype=np.int64), embargo=embargo)
