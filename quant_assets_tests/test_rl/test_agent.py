"""PPO on the trading environment: learning a planted signal, best checkpoint, positions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.backtest import run_backtest
from quant_assets.models import walk_forward_splits
from quant_assets.rl import (
    BatchedTradingEnv,
    EnvConfig,
    ppo_hyperparams,
    ppo_positions,
    train_ppo,
    train_walk_forward_ppo,
)
from quant_assets_tests.test_rl.planted import TEST, TRAIN, VALIDATION, planted_data

CONFIG = EnvConfig(window=1, episode_length=64)
TINY = {"net_arch": (16, 16), "n_steps": 64, "batch_size": 128, "learning_rate": 3e-3}


@pytest.fixture(scope="module")
def planted():
    return planted_data()


@pytest.fixture(scope="module")
def agent(planted):
    _, _, data = planted
    return train_ppo(
        BatchedTradingEnv(data, TRAIN, CONFIG, n_envs=8, seed=0),
        BatchedTradingEnv(data, VALIDATION, CONFIG, episodes="full_block"),
        seed=0,
        total_timesteps=8192,
        device="cpu",
        hyperparams=TINY,
    )


def _mean_episode_reward(env: BatchedTradingEnv, policy) -> float:
    """Summed reward of each full-block episode (one per ticker), averaged."""
    obs = env.reset()
    total, done = np.zeros(env.num_envs), np.zeros(env.num_envs, dtype=bool)
    while not done.all():
        obs, reward, dones, _ = env.step(policy(obs))
        total += np.where(done, 0.0, reward)
        done |= dones
    return float(total.mean())


def test_ppo_learns_a_planted_signal_far_better_than_random(planted, agent):
    _, _, data = planted
    test_env = BatchedTradingEnv(data, TEST, CONFIG, episodes="full_block")
    rng = np.random.default_rng(0)
    follow_signal = _mean_episode_reward(test_env, lambda obs: np.where(obs[:, 0] > 0, 2, 0))
    random = _mean_episode_reward(test_env, lambda obs: rng.integers(3, size=len(obs)))
    ppo = _mean_episode_reward(
        test_env, lambda obs: agent.model.predict(obs, deterministic=True)[0]
    )
    # the bar: on the unseen test block PPO earns at least half of what trading the planted
    # signal's sign earns (about 0.6% a day), and 0.3 log-return per episode more than random
    assert follow_signal > 0.5
    assert ppo >= 0.5 * follow_signal
    assert ppo >= random + 0.3


def test_the_restored_policy_is_the_best_evaluated_one(planted, agent):
    _, _, data = planted
    curve = agent.eval_curve
    assert len(curve) == 8192 // (TINY["n_steps"] * 8)  # one evaluation per rollout
    assert agent.best_mean_reward == curve["mean_reward"].max()
    best_row = curve.loc[curve["mean_reward"].idxmax()]
    assert agent.best_timesteps == best_row["timesteps"]
    validation = BatchedTradingEnv(data, VALIDATION, CONFIG, episodes="full_block")
    again = _mean_episode_reward(
        validation, lambda obs: agent.model.predict(obs, deterministic=True)[0]
    )
    assert again == pytest.approx(agent.best_mean_reward, rel=1e-5)
    assert not agent.train_curve.empty and (agent.train_curve["episode_length"] == 64).all()


def test_ppo_positions_replay_through_the_engine_as_the_agent_traded(planted, agent):
    _, closes, data = planted
    dates = data.dates[TEST]
    positions = ppo_positions(agent, data, dates)
    assert list(positions.columns) == ["date", "ticker", "position"]
    assert len(positions) == len(dates) * len(data.tickers)
    assert set(positions["position"].unique()) <= {-1.0, 0.0, 1.0}
    pd.testing.assert_frame_equal(positions, ppo_positions(agent, data, dates))  # deterministic
    weights = positions.pivot(index="date", columns="ticker", values="position")
    test_env = BatchedTradingEnv(data, TEST, CONFIG, episodes="full_block")
    obs, equity = test_env.reset(), []
    for _ in range(len(dates) - 1):
        obs, _, _, infos = test_env.step(agent.model.predict(obs, deterministic=True)[0])
        equity.append([info["equity"] for info in infos])
    for i, ticker in enumerate(data.tickers):
        replay = run_backtest(
            closes[[ticker]].loc[dates],
            weights[[ticker]],
            fee_bps=data.costs.fee_bps,
            initial_cash=data.costs.initial_cash,
            execution="next_open",
            opens=closes[[ticker]].shift(1).loc[dates],
        )
        np.testing.assert_allclose(replay.equity.to_numpy()[1:], np.array(equity)[:, i], rtol=1e-9)


def test_an_evaluation_hook_sees_every_evaluation_and_can_stop_training(planted):
    _, _, data = planted
    rows = []

    def stop_after_two(row):
        rows.append(row)
        return len(rows) < 2

    agent = train_ppo(
        BatchedTradingEnv(data, TRAIN, CONFIG, n_envs=4, seed=1),
        BatchedTradingEnv(data, VALIDATION, CONFIG, episodes="full_block"),
        seed=1,
        total_timesteps=4096,
        device="cpu",
        hyperparams=TINY,
        on_evaluation=stop_after_two,
    )
    assert len(rows) == 2 and agent.stopped_early
    assert agent.timesteps < 4096
    assert [r["timesteps"] for r in rows] == agent.eval_curve["timesteps"].tolist()


def test_unknown_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="unknown PPO hyper-parameters"):
        ppo_hyperparams({"learning_rat": 1e-3})


def test_walk_forward_trains_each_split_and_seed_and_averages_the_seeds(planted):
    panel, closes, _ = planted
    splits = walk_forward_splits(
        panel.dates,
        first_test_start="2012-05-01",
        retrain_every="QS",
        validation_length=100,
        embargo=5,
        min_train_length=300,
    )
    assert len(splits) == 2
    finished = []
    result = train_walk_forward_ppo(
        panel,
        splits,
        closes=closes,
        opens=closes.shift(1).bfill(),
        env_config=CONFIG,
        seeds=2,
        total_timesteps=512,
        n_envs=4,
        hyperparams=TINY,
        device="cpu",
        on_run_end=finished.append,
    )
    assert [(r.split_index, r.seed) for r in finished] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    test_dates = np.concatenate([panel.dates[s.test] for s in splits])
    assert result.positions["date"].nunique() == len(test_dates)
    stacked = pd.concat([r.positions for r in result.runs])
    expected = stacked.groupby(["date", "ticker"])["position"].mean().reset_index()
    pd.testing.assert_frame_equal(result.positions, expected)
    with pytest.raises(ValueError, match="embargo"):
        train_walk_forward_ppo(
            panel, splits, closes=closes, env_config=EnvConfig(window=10), total_timesteps=64
        )
