"""The trading environment: interface contract, engine parity, rewards, vectorisation."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env

from quant_assets.backtest import SquareRootImpact, run_backtest
from quant_assets.models import Panel
from quant_assets.rl import (
    BatchedTradingEnv,
    EnvConfig,
    RewardSettings,
    TradingCosts,
    TradingEnv,
    trading_data,
)


@pytest.mark.parametrize("action", ["discrete", "continuous"])
@pytest.mark.parametrize("episodes", ["random", "full_block"])
def test_env_passes_gymnasium_check_env(sp500_data, train_block, action, episodes):
    env = TradingEnv(sp500_data, train_block, EnvConfig(window=5, action=action), episodes=episodes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker's warnings are failures here
        warnings.filterwarnings("ignore", message=".*render modes.*")  # no render by design
        check_env(env, skip_render_check=True)


def _replay_through_engine(bars, ticker, first, targets, costs, volumes=None):
    """The engine's equity for one ticker's targets dated first, first+1, ... (NaN: no order)."""
    closes = bars["close"][[ticker]]
    weights = pd.DataFrame(np.nan, index=closes.index, columns=[ticker])
    weights.iloc[first : first + len(targets), 0] = targets
    result = run_backtest(
        closes,
        weights,
        fee_bps=costs.fee_bps,
        slippage_bps=costs.slippage_bps,
        initial_cash=costs.initial_cash,
        execution="next_open",
        opens=bars["open"][[ticker]],
        volumes=None if volumes is None else volumes[[ticker]],
        impact=costs.impact,
    )
    return result.equity.to_numpy()[first : first + len(targets) + 1]


@pytest.mark.parametrize("action", ["discrete", "continuous"])
@pytest.mark.parametrize("impact", [None, SquareRootImpact(coefficient=0.8)])
def test_replaying_the_agents_positions_through_the_engine_gives_its_equity(
    sp500_panel, sp500_bars, train_block, action, impact
):
    costs = TradingCosts(fee_bps=10.0, slippage_bps=5.0, initial_cash=1e7, impact=impact)
    data = trading_data(
        sp500_panel,
        sp500_bars["close"],
        opens=sp500_bars["open"],
        volumes=sp500_bars["volume"],
        fit_positions=train_block,
        costs=costs,
    )
    # the last 250 dates: DHR and O miss closes there and some rows miss their open
    block = np.arange(len(data.dates) - 250, len(data.dates))
    env = BatchedTradingEnv(data, block, EnvConfig(window=3, action=action), episodes="full_block")
    rng = np.random.default_rng(7)
    env.reset()
    targets, equity = [], [np.full(env.num_envs, costs.initial_cash)]
    for _ in range(len(block) - 1):
        actions = (
            rng.integers(3, size=env.num_envs)
            if action == "discrete"
            else (rng.uniform(-1, 1, size=(env.num_envs, 1)))
        )
        _, _, dones, infos = env.step(actions)
        targets.append([info["target"] for info in infos])
        equity.append([info["equity"] for info in infos])
    assert dones.all()
    targets, equity = np.array(targets), np.array(equity)
    assert np.isnan(targets).any(), "the gaps place no order"
    for i, ticker in enumerate(data.tickers):
        expected = _replay_through_engine(
            sp500_bars, ticker, block[0], targets[:, i], costs, sp500_bars["volume"]
        )
        np.testing.assert_allclose(equity[:, i], expected, rtol=1e-9, atol=0)


def _rising_data(costs: TradingCosts, n_dates: int = 80) -> tuple:
    """One ticker closing 0.5% higher every day and opening half-way up from the last close."""
    dates = pd.bdate_range("2020-01-01", periods=n_dates)
    closes = pd.DataFrame({"UP": 100.0 * 1.005 ** np.arange(n_dates)}, index=dates)
    opens = closes.shift(1) * 1.0025
    opens.iloc[0] = 99.9
    panel = Panel(
        dates=dates,
        tickers=pd.Index(["UP"], name="ticker"),
        factors=("trend",),
        features=np.linspace(-1, 1, n_dates, dtype=np.float32).reshape(n_dates, 1, 1),
        next_returns=closes.pct_change().shift(-1).to_numpy(),
        ex_ante_vol=np.full((n_dates, 1), 0.1),
        feature_mask=np.ones((n_dates, 1), dtype=bool),
        mask=np.ones((n_dates, 1), dtype=bool),
    )
    data = trading_data(panel, closes, opens=opens, fit_positions=np.arange(n_dates), costs=costs)
    return data, closes, opens


def _episode_reward(env: TradingEnv, policy) -> float:
    env.reset(options={"ticker": "UP", "start": 0})
    total, done = 0.0, False
    while not done:
        _, reward, terminated, truncated, _ = env.step(policy())
        total += reward
        done = terminated or truncated
    return total


def test_long_on_a_rising_series_earns_the_most_reward():
    data, closes, opens = _rising_data(TradingCosts(fee_bps=5.0, slippage_bps=2.0))
    env = TradingEnv(data, np.arange(len(data.dates)), EnvConfig(window=2), episodes="full_block")
    rng = np.random.default_rng(0)
    rewards = {
        "long": _episode_reward(env, lambda: 2),
        "flat": _episode_reward(env, lambda: 1),
        "short": _episode_reward(env, lambda: 0),
        "random": _episode_reward(env, lambda: int(rng.integers(3))),
    }
    assert max(rewards, key=rewards.get) == "long"
    assert rewards["flat"] == 0.0
    assert rewards["short"] < rewards["random"] < rewards["long"]
    # by hand: all cash buys at the first next open at open * (1 + slippage), paying the fee on
    # top (the engine scales the buy to the cash), then rides the closes
    fill = opens["UP"].iloc[1] * (1 + 2e-4) * (1 + 5e-4)
    expected = np.log(closes["UP"].iloc[-1] / fill)
    assert rewards["long"] == pytest.approx(expected, rel=1e-12)


def test_free_long_on_a_rising_series_earns_the_log_price_change():
    data, closes, opens = _rising_data(TradingCosts())
    env = TradingEnv(data, np.arange(len(data.dates)), EnvConfig(window=2), episodes="full_block")
    reward = _episode_reward(env, lambda: 2)
    assert reward == pytest.approx(np.log(closes["UP"].iloc[-1] / opens["UP"].iloc[1]), rel=1e-12)


def test_penalties_are_separate_components_and_the_reward_is_clipped():
    costs = TradingCosts(fee_bps=5.0)
    data, _, _ = _rising_data(costs)
    settings = RewardSettings(drawdown_penalty=2.0, turnover_penalty=0.5, reward_clip=0.004)
    env = TradingEnv(
        data,
        np.arange(len(data.dates)),
        EnvConfig(window=2, reward=settings),
        episodes="full_block",
    )
    env.reset(options={"ticker": "UP", "start": 0})
    _, reward, _, _, info = env.step(0)  # go short: pays turnover, then loses to the rise
    assert info["turnover_penalty"] == pytest.approx(0.5 * 1.0, rel=1e-3)  # traded ~ equity
    assert reward == -0.004  # clipped
    _, reward, _, _, info = env.step(0)
    # still short: only the drift of the weight back to -1 is traded (about 1% of equity)
    assert 0.0 < info["turnover_penalty"] < 0.5 * 0.02
    assert info["log_return"] < 0
    drawdown_increase = info["drawdown_penalty"] / 2.0
    assert drawdown_increase == pytest.approx(-np.expm1(info["log_return"]), rel=0.02)
    unclipped = info["log_return"] - info["drawdown_penalty"] - info["turnover_penalty"]
    assert unclipped < -0.004
    assert reward == -0.004
    env.reset(options={"ticker": "UP", "start": 0})
    _, reward, _, _, info = env.step(1)  # flat: nothing traded, nothing lost
    assert (reward, info["turnover_penalty"], info["drawdown_penalty"]) == (0.0, 0.0, 0.0)


def test_batched_env_equals_single_envs_stepped_one_by_one(sp500_data, train_block):
    config = EnvConfig(window=4, episode_length=30, action="continuous")
    pinned = [
        {"ticker": "AAPL", "start": int(train_block[0])},
        {"ticker": "DHR", "start": int(train_block[100])},
        {"ticker": "O", "start": int(train_block[5])},
        {"ticker": "AAPL", "start": int(train_block[-31])},
    ]
    batched = BatchedTradingEnv(sp500_data, train_block, config, n_envs=len(pinned), seed=1)
    batched.set_options(pinned)
    batched_obs = batched.reset()
    singles = [TradingEnv(sp500_data, train_block, config) for _ in pinned]
    single_obs = np.stack([env.reset(options=o)[0] for env, o in zip(singles, pinned, strict=True)])
    np.testing.assert_array_equal(batched_obs, single_obs)
    rng = np.random.default_rng(3)
    for _ in range(config.episode_length):
        actions = rng.uniform(-1, 1, size=(len(pinned), 1)).astype(np.float32)
        obs, rewards, dones, infos = batched.step(actions)
        for i, env in enumerate(singles):
            s_obs, s_reward, s_term, s_trunc, s_info = env.step(actions[i])
            assert rewards[i] == s_reward
            assert dones[i] == (s_term or s_trunc)
            for key, value in s_info.items():
                np.testing.assert_equal(infos[i][key], value)
            if dones[i]:
                np.testing.assert_array_equal(infos[i]["terminal_observation"], s_obs)
                assert infos[i]["TimeLimit.truncated"] == s_trunc
            else:
                np.testing.assert_array_equal(obs[i], s_obs)
    assert dones.all()  # every pinned episode ends after episode_length steps
    fresh = obs[:, -2:]  # auto-reset: flat books, all cash
    np.testing.assert_array_equal(fresh, np.tile([0.0, 1.0], (len(pinned), 1)))


def test_observations_use_no_factor_after_the_decision_date(sp500_data, train_block):
    env = TradingEnv(sp500_data, train_block, EnvConfig(window=3), episodes="full_block")
    obs, _ = env.reset(options={"ticker": "CVX", "start": int(train_block[10])})
    column = sp500_data.tickers.get_loc("CVX")
    t = int(train_block[10])
    expected = sp500_data.features[column, t - 2 : t + 1].ravel()
    np.testing.assert_array_equal(obs[:-2], expected)
    np.testing.assert_array_equal(obs[-2:], [0.0, 1.0])


def test_close_only_data_fills_at_the_next_close(sp500_panel, sp500_bars, train_block):
    costs = TradingCosts(fee_bps=5.0, slippage_bps=1.0)
    data = trading_data(sp500_panel, sp500_bars["close"], fit_positions=train_block, costs=costs)
    env = TradingEnv(data, train_block, EnvConfig(window=2), episodes="full_block")
    env.reset(options={"ticker": "JNJ", "start": int(train_block[0])})
    rng = np.random.default_rng(5)
    targets, equity = [], [costs.initial_cash]
    for _ in range(60):
        _, _, _, _, info = env.step(int(rng.integers(3)))
        targets.append(info["target"])
        equity.append(info["equity"])
    closes = sp500_bars["close"][["JNJ"]]
    bars = {"close": closes, "open": closes}
    expected = _replay_through_engine(bars, "JNJ", int(train_block[0]), targets, costs)
    np.testing.assert_allclose(equity, expected, rtol=1e-9, atol=0)
