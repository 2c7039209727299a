from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.models import Split, train_validation_test_split, walk_forward_splits

DATES = pd.bdate_range("2000-01-03", "2009-12-31")


def test_fixed_split_drops_the_embargo_before_validation_and_test():
    split = train_validation_test_split(
        DATES, validation_start="2007-01-01", test_start="2008-01-01", embargo=63
    )
    val_first = DATES.searchsorted(pd.Timestamp("2007-01-01"))
    test_first = DATES.searchsorted(pd.Timestamp("2008-01-01"))
    assert split.train[0] == 0 and split.train[-1] == val_first - 64
    assert split.validation[0] == val_first and split.validation[-1] == test_first - 64
    assert split.test[0] == test_first and split.test[-1] == len(DATES) - 1
    ranges = split.date_ranges(DATES)
    assert ranges["test"][0] == pd.Timestamp("2008-01-01")


def test_last_training_target_never_reaches_the_validation_period():
    split = train_validation_test_split(
        DATES, validation_start="2006", test_start="2008", embargo=1
    )
    # the last training position t earns close t -> t+1; t+1 must lie in the gap
    assert split.train[-1] + 1 < split.validation[0]
    assert split.validation[-1] + 1 < split.test[0]


def test_expanding_walk_forward_retrains_every_year_without_leakage():
    splits = walk_forward_splits(
        DATES, first_test_start="2005-01-01", retrain_every="YS", validation_length=252, embargo=21
    )
    assert [DATES[s.test[0]].year for s in splits] == list(range(2005, 2010))
    tests = np.concatenate([s.test for s in splits])
    np.testing.assert_array_equal(tests, np.arange(tests[0], len(DATES)))  # tiles, no overlap
    for s in splits:
        assert s.train[0] == 0
        assert s.validation[0] - s.train[-1] == 22
        assert s.test[0] - s.validation[-1] == 22
        assert len(s.validation) == 252
        assert DATES[s.train[-1]] < DATES[s.validation[0]] < DATES[s.test[0]]
    assert len(splits[-1].train) > len(splits[0].train)


def test_rolling_walk_forward_keeps_the_training_length():
    splits = walk_forward_splits(
        DATES,
        first_test_start="2006-07-01",
        retrain_every="YS",
        window="rolling",
        train_length=750,
        validation_length=126,
        embargo=63,
    )
    assert DATES[splits[0].test[0]] == pd.Timestamp("2006-07-03")
    assert DATES[splits[1].test[0]] == pd.Timestamp("2007-01-01")
    assert {len(s.train) for s in splits} == {750}


def test_walk_forward_skips_windows_without_enough_history():
    splits = walk_forward_splits(
        DATES,
        first_test_start="2001-01-01",
        validation_length=126,
        embargo=10,
        min_train_length=500,
    )
    assert all(len(s.train) >= 500 for s in splits)
    assert DATES[splits[0].test[0]].year == 2003


def test_split_rejects_overlap_and_a_missing_embargo():
    with pytest.raises(ValueError, match="embargo"):
        Split(np.arange(10), np.arange(10, 20), np.arange(20, 30), embargo=0)
    with pytest.raises(ValueError, match="validation must start"):
        Split(np.arange(10), np.arange(12, 20), np.arange(30, 40), embargo=5)
    with pytest.raises(ValueError, match="contiguous"):
        Split(np.array([0, 1, 3]), np.arange(10, 20), np.arange(30, 40), embargo=5)
