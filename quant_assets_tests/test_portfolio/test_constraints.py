"""Position and leverage limits on hand-made books."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_assets.portfolio import apply_constraints
from quant_assets_tests.test_portfolio.conftest import wide

NAN = np.nan
DATES = pd.bdate_range("2021-01-04", periods=4)


def values(frame: pd.DataFrame) -> np.ndarray:
    return frame.to_numpy()


def test_long_only_drops_shorts():
    book = wide(DATES, A=[0.5, -0.2], B=[-0.3, 0.4])
    np.testing.assert_array_equal(
        values(apply_constraints(book, long_only=True)), [[0.5, 0], [0, 0.4]]
    )


def test_max_weight_clips_each_side():
    book = wide(DATES, A=[0.5], B=[-0.6], C=[0.1])
    np.testing.assert_array_equal(
        values(apply_constraints(book, max_weight=0.4)), [[0.4, -0.4, 0.1]]
    )


def test_gross_cap_shrinks_the_row_proportionally():
    book = wide(DATES, A=[0.6, 0.2], B=[-0.6, -0.2], C=[0.3, 0.1])
    # Day 0: gross 1.5 > 1 -> x 2/3. Day 1: gross 0.5 is within the cap and stays.
    got = apply_constraints(book, max_gross=1.0)
    np.testing.assert_allclose(values(got), [[0.4, -0.4, 0.2], [0.2, -0.2, 0.1]], rtol=1e-15)


def test_net_cap_shrinks_the_row_for_long_and_short_books():
    book = wide(DATES, A=[0.6, -0.6], B=[0.4, -0.4], C=[0.0, 0.2])
    # Day 0: net 1.0 > 0.5 -> x 0.5. Day 1: net -0.8 -> x 0.625.
    got = apply_constraints(book, max_net=0.5)
    np.testing.assert_allclose(values(got), [[0.3, 0.2, 0.0], [-0.375, -0.25, 0.125]], rtol=1e-15)


def test_the_tighter_of_gross_and_net_wins_after_clipping():
    book = wide(DATES, A=[0.9], B=[0.5], C=[-0.2])
    # clip A to 0.6 -> (0.6, 0.5, -0.2): gross 1.3 -> x 1/1.3; net 0.9 -> x 0.8/0.9 (looser)
    got = apply_constraints(book, max_weight=0.6, max_gross=1.0, max_net=0.8)
    np.testing.assert_allclose(values(got), [[0.6 / 1.3, 0.5 / 1.3, -0.2 / 1.3]], rtol=1e-15)
    assert np.abs(values(got)).sum() <= 1.0 + 1e-15


def test_nan_means_no_order_and_does_not_count_towards_leverage():
    book = wide(DATES, A=[0.8, NAN], B=[NAN, NAN], C=[0.8, 0.3])
    got = apply_constraints(book, max_gross=1.0)
    np.testing.assert_allclose(values(got), [[0.5, NAN, 0.5], [NAN, NAN, 0.3]], rtol=1e-15)


def test_all_limits_hold_on_random_books():
    rng = np.random.default_rng(0)
    book = pd.DataFrame(
        rng.normal(0, 0.5, (200, 8)), index=pd.bdate_range("2021-01-01", periods=200)
    )
    got = apply_constraints(book, max_weight=0.3, max_gross=1.5, max_net=0.4).to_numpy()
    assert np.abs(got).max() <= 0.3 + 1e-12
    assert np.abs(got).sum(axis=1).max() <= 1.5 + 1e-12
    assert np.abs(got.sum(axis=1)).max() <= 0.4 + 1e-12
    long_only = apply_constraints(book, long_only=True, max_net=1.0).to_numpy()
    assert long_only.min() >= 0 and long_only.sum(axis=1).max() <= 1.0 + 1e-12
