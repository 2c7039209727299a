"""Temporal train / validation / test splits with an embargo gap, and walk-forward windows.

Splits hold integer positions on a panel's date axis. Each period is one contiguous block, in
the order train, validation, test, and ``embargo`` dates are dropped between consecutive blocks.
The last training sample (date ``t``) is scored on the close of ``t+1``; an embargo of at least
one date keeps that close out of the validation period, and an embargo of at least the sequence
length keeps validation windows from sharing input dates with training windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Split:
    """One temporal split: contiguous position blocks separated by ``embargo`` dropped dates.

    Attributes
    ----------
    train, validation, test : ndarray of int
        Positions on the panel's date axis; ``test`` may be empty (a final, live model).
    embargo : int
        Dates dropped between train and validation and between validation and test.
    """

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    embargo: int

    def __post_init__(self) -> None:
        if self.embargo < 1:
            raise ValueError("embargo must be at least 1 date (the next-day target horizon)")
        if len(self.train) == 0 or len(self.validation) == 0:
            raise ValueError("train and validation periods must not be empty")
        for block in (self.train, self.validation, self.test):
            if len(block) and not np.array_equal(block, np.arange(block[0], block[-1] + 1)):
                raise ValueError("each period must be one contiguous block of dates")
        if self.validation[0] - self.train[-1] <= self.embargo:
            raise ValueError("validation must start more than `embargo` dates after train ends")
        if len(self.test) and self.test[0] - self.validation[-1] <= self.embargo:
            raise ValueError("test must start more than `embargo` dates after validation ends")

    def date_ranges(self, dates: pd.DatetimeIndex) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
        """First and last date of each non-empty period, for logs and metadata."""
        blocks = {"train": self.train, "validation": self.validation, "test": self.test}
        return {name: (dates[b[0]], dates[b[-1]]) for name, b in blocks.items() if len(b)}


def _block(start: int, stop: int) -> np.ndarray:
    return np.arange(max(start, 0), max(stop, 0), dtype=np.int64)


def train_validation_test_split(
    dates: pd.DatetimeIndex,
    *,
    validation_start: str | pd.Timestamp,
    test_start: str | pd.Timestamp | None = None,
    test_end: str | pd.Timestamp | None = None,
    embargo: int = 63,
) -> Split:
    """Split a calendar at two dates; the embargo is cut from the end of the earlier period.

    Parameters
    ----------
    dates : DatetimeIndex
        The panel's sorted trading dates.
    validation_start, test_start : date-like
        First dates of the validation and test periods (no test period when ``test_start`` is None).
    test_end : date-like, optional
        Last test date (inclusive); default the last date.
    embargo : int
        Trading dates dropped before validation and before test.
    """
    dates = pd.DatetimeIndex(dates)
    val_first = int(dates.searchsorted(pd.Timestamp(validation_start)))
    if test_start is None:
        test_first = test_stop = len(dates)
    else:
        test_first = int(dates.searchsorted(pd.Timestamp(test_start)))
        end = (
            len(dates) if test_end is None else dates.searchsorted(pd.Timestamp(test_end), "right")
        )
        test_stop = int(end)
    val_stop = test_first - embargo if test_start is not None else len(dates)
    return Split(
        train=_block(0, val_first - embargo),
        validation=_block(val_first, val_stop),
        test=_block(test_first, test_stop),
        embargo=embargo,
    )


def walk_forward_splits(
    dates: pd.DatetimeIndex,
    *,
    first_test_start: str | pd.Timestamp,
    retrain_every: str = "YS",
    window: str = "expanding",
    train_length: int | None = None,
    validation_length: int = 252,
    embargo: int = 63,
    min_train_length: int = 252,
) -> list[Split]:
    """Walk-forward splits: retrain at each boundary, test until the next one.

    Test blocks start at ``first_test_start`` and then at each date of
    ``pd.date_range(..., freq=retrain_every)`` (``"YS"``: every January, ``"QS"``: quarterly).
    Before each test block come ``embargo`` dropped dates, ``validation_length`` validation dates,
    ``embargo`` more dropped dates, and the training block: everything earlier (``"expanding"``) or
    the last ``train_length`` dates (``"rolling"``). Splits whose training block is shorter than
    ``min_train_length`` are skipped.

    Returns
    -------
    list of Split
        In time order; test blocks tile the calendar from ``first_test_start`` without overlap.
    """
    if window not in {"expanding", "rolling"}:
        raise ValueError("window must be 'expanding' or 'rolling'")
    if window == "rolling" and not train_length:
        raise ValueError("a rolling window needs train_length (trading dates)")
    dates = pd.DatetimeIndex(dates)
    first = pd.Timestamp(first_test_start)
    anchors = pd.date_range(first, dates[-1], freq=retrain_every)
    starts = sorted({first, *anchors[anchors > first]})
    cuts = [int(dates.searchsorted(s)) for s in starts] + [len(dates)]
    splits = []
    for test_first, test_stop in zip(cuts[:-1], cuts[1:], strict=True):
        if test_stop <= test_first:
            continue
        val_first = test_first - embargo - validation_length
        train_stop = val_first - embargo
        train_first = 0 if window == "expanding" else train_stop - train_length
        train = _block(train_first, train_stop)
        if len(train) < max(min_train_length, 1) or val_first < 0:
            continue
        validation = _block(val_first, test_first - embargo)
        splits.append(Split(train, validation, _block(test_first, test_stop), embargo))
    return splits
