from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_assets.models.purged_cv import (
    purged_cv_within,
    purged_kfold_splits,
    purged_row_folds,
    purged_walk_forward_splits,
    split_from_walk_forward_fold,
)


def _as_lists(folds):
    return [(train.tolist(), test.tolist()) for train, test in folds]


def test_purged_kfold_by_hand_next_day_labels_one_date_embargo():
    # folds 0-3, 4-6, 7-9; label of t spans closes [t, t+1]
    folds = purged_kfold_splits(10, 3, label_horizon=1, embargo=1)
    assert _as_lists(folds) == [
        ([6, 7, 8, 9], [0, 1, 2, 3]),  # 4 shares close 4 with label 3; 5 is the embargo
        ([0, 1, 2, 9], [4, 5, 6]),  # 3 ends on close 4; 7 starts on close 7; 8 embargoed
        ([0, 1, 2, 3, 4, 5], [7, 8, 9]),  # 6 ends on close 7
    ]


def test_purged_kfold_by_hand_five_day_labels_no_embargo():
    dates = pd.bdate_range("2020-01-01", periods=12)
    folds = purged_kfold_splits(dates, 2, label_horizon=5, embargo=0)
    # test 0-5 has label closes 0..10: train keeps t > 10; test 6-11: keeps t < 1
    assert _as_lists(folds) == [([11], [0, 1, 2, 3, 4, 5]), ([0], [6, 7, 8, 9, 10, 11])]


def test_purged_kfold_skips_a_fold_with_nothing_left_to_train_on():
    # horizon 5 purges everything around the middle fold of 9 samples
    folds = purged_kfold_splits(9, 3, label_horizon=5, embargo=0)
    assert [test.tolist() for _, test in folds] == [[0, 1, 2], [6, 7, 8]]


def test_purged_walk_forward_by_hand():
    folds = purged_walk_forward_splits(12, 3, label_horizon=1, embargo=2)
    # blocks 0-2, 3-5, 6-8, 9-11; training ends 1 (purge) + 2 (embargo) dates before each test
    # block, which leaves nothing before 3-5: that fold is skipped
    assert _as_lists(folds) == [([0, 1, 2], [6, 7, 8]), ([0, 1, 2, 3, 4, 5], [9, 10, 11])]


def test_folds_inside_a_block_are_panel_positions_and_rows_follow_their_date():
    block = np.arange(100, 110)
    folds = purged_cv_within(block, 3, label_horizon=1, embargo=1)
    assert folds[1][0].tolist() == [100, 101, 102, 109]
    assert folds[1][1].tolist() == [104, 105, 106]
    row_dates = np.repeat(block, 3)  # three tickers a day
    (train_rows, test_rows), *_ = purged_row_folds(row_dates, folds[1:])
    assert sorted(set(row_dates[train_rows])) == [100, 101, 102, 109]
    assert len(train_rows) == 12 and len(test_rows) == 9


def test_a_walk_forward_fold_becomes_a_valid_split():
    train, test = purged_walk_forward_splits(300, 2, label_horizon=1, embargo=0)[1]
    split = split_from_walk_forward_fold(train, test, embargo=10)
    assert split.validation.tolist() == test.tolist()
    assert split.validation[0] - split.train[-1] == 11
    assert len(split.test) == 0


@pytest.mark.parametrize("bad", [dict(n_splits=1), dict(label_horizon=-1), dict(embargo=-2)])
def test_bad_settings_are_rejected(bad):
    settings_ = dict(n_splits=3, label_horizon=1, embargo=0) | bad
    n_splits = settings_.pop("n_splits")
    with pytest.raises(ValueError):
        purged_kfold_splits(20, n_splits, **settings_)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(4, 80),
    n_splits=st.integers(2, 6),
    horizon=st.integers(0, 6),
    embargo=st.integers(0, 6),
    walk_forward=st.booleans(),
)
def test_no_train_label_overlaps_a_test_label_and_the_embargo_holds(
    n, n_splits, horizon, embargo, walk_forward
):
    if n < n_splits + walk_forward:
        return
    make = purged_walk_forward_splits if walk_forward else purged_kfold_splits
    folds = make(n, n_splits, label_horizon=horizon, embargo=embargo)
    tested = []
    for train, test in folds:
        assert np.array_equal(test, np.arange(test[0], test[-1] + 1))
        assert len(train) and np.all(np.diff(train) > 0)
        # closed label windows [t, t + horizon]: no shared date
        overlaps = (train[:, None] <= test[None, :] + horizon) & (
            test[None, :] <= train[:, None] + horizon
        )
        assert not overlaps.any()
        later = train[train > test[-1]]
        assert (later > test[-1] + horizon + embargo).all()
        # purging is minimal: everything outside the purged and embargoed zone trains
        zone = (np.arange(n) >= test[0] - horizon) & (np.arange(n) <= test[-1] + horizon + embargo)
        if walk_forward:
            expected = np.arange(max(test[0] - horizon - embargo, 0))
        else:
            expected = np.arange(n)[~zone]
        assert np.array_equal(train, expected)
        tested.extend(test.tolist())
    if not walk_forward:
        assert len(tested) == len(set(tested))
