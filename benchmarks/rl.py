"""Speed of the RL trading environment (single and vectorised) and of PPO training.

Data: ``../shared/data/sp500_5yr_2013_2018.csv.gz`` (S&P 500 stocks, 2013-2018; override with
``--data`` or ``QUANT_ASSETS_SHARED_DATA``), read and validated with
:func:`quant_assets.ingest.read_prices`; factors: the eight deep-momentum factors from
:func:`quant_assets.factors.compute_factors`. Episodes trade one ticker on the 2014-2016 block
with 5 bp fees and 2 bp slippage, filling at the next open.

    .venv/bin/python benchmarks/rl.py                       # CPU
    .venv/bin/python benchmarks/rl.py --device cuda --ppo-timesteps 200000

Prints environment steps/s of one ``TradingEnv`` (gymnasium, Python per step) and of
``BatchedTradingEnv`` at several batch sizes (goal: >= 100k steps/s on 2 CPU cores), the
vectorised/single ratio, and the wall time of PPO training for a fixed number of timesteps.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from quant_assets.assets.models import DEEP_MOMENTUM_FACTORS
from quant_assets.factors import compute_factors
from quant_assets.ingest import read_prices
from quant_assets.models import build_panel
from quant_assets.rl import (
    BatchedTradingEnv,
    EnvConfig,
    TradingCosts,
    TradingEnv,
    trading_data,
    train_ppo,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = (
    Path(os.environ.get("QUANT_ASSETS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    / "sp500_5yr_2013_2018.csv.gz"
)


def load_data(path: Path, n_tickers: int):
    """Trading data of the first ``n_tickers`` tickers (alphabetical) and the train block."""
    prices, rejected = read_prices(path)
    tickers = sorted(prices["ticker"].astype(str).unique())[:n_tickers]
    prices = prices[prices["ticker"].astype(str).isin(tickers)]
    wide = {
        field: prices.pivot_table(index="date", columns="ticker", values=field, observed=True)
        for field in ("open", "close")
    }
    features = compute_factors(prices, DEEP_MOMENTUM_FACTORS)
    panel = build_panel(features, wide["close"], factors=tuple(DEEP_MOMENTUM_FACTORS))
    block = np.flatnonzero((panel.dates >= "2014-03-01") & (panel.dates < "2016-03-01"))
    validation = np.flatnonzero((panel.dates >= "2016-06-01") & (panel.dates < "2017-06-01"))
    data = trading_data(
        panel,
        wide["close"],
        opens=wide["open"],
        fit_positions=block,
        costs=TradingCosts(fee_bps=5.0, slippage_bps=2.0),
    )
    return data, block, validation, len(rejected)


def single_steps_per_second(data, block, config: EnvConfig, steps: int) -> float:
    env = TradingEnv(data, block, config)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.integers(3, size=steps)
    started = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(int(action))
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - started)


def batched_steps_per_second(data, block, config: EnvConfig, n_envs: int, steps: int) -> float:
    env = BatchedTradingEnv(data, block, config, n_envs=n_envs, seed=0)
    env.reset()
    rng = np.random.default_rng(0)
    calls = max(steps // n_envs, 1)
    actions = rng.integers(3, size=(calls, n_envs))
    env.step(actions[0])  # compile outside the clock
    started = time.perf_counter()
    for row in actions:
        env.step(row)
    return calls * n_envs / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--tickers", type=int, default=50, help="first N tickers of the file")
    parser.add_argument("--window", type=int, default=20, help="dates of factors per observation")
    parser.add_argument("--env-steps", type=int, default=200_000)
    parser.add_argument("--n-envs", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--ppo-timesteps", type=int, default=20_000)
    parser.add_argument("--ppo-envs", type=int, default=16)
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda or cuda:N (PPO only)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    started = time.perf_counter()
    data, block, validation, rejected = load_data(args.data, args.tickers)
    print(
        f"data: {len(data.tickers)} tickers x {len(data.dates)} dates x {data.n_factors} factors "
        f"({rejected} rows quarantined), loaded in {time.perf_counter() - started:.1f} s"
    )
    config = EnvConfig(window=args.window)
    single_steps_per_second(data, block, config, 1_000)  # compile outside the clock
    single = single_steps_per_second(data, block, config, min(args.env_steps, 50_000))
    rows = [{"env": "TradingEnv (single)", "n_envs": 1, "steps/s": single, "vs single": 1.0}]
    for n_envs in args.n_envs:
        rate = batched_steps_per_second(data, block, config, n_envs, args.env_steps)
        rows.append(
            {
                "env": "BatchedTradingEnv",
                "n_envs": n_envs,
                "steps/s": rate,
                "vs single": rate / single,
            }
        )
    table = pd.DataFrame(rows)
    with pd.option_context("display.float_format", "{:,.1f}".format):
        print(table.to_string(index=False))

    started = time.perf_counter()
    agent = train_ppo(
        BatchedTradingEnv(data, block, config, n_envs=args.ppo_envs, seed=0),
        BatchedTradingEnv(data, validation, config, episodes="full_block"),
        seed=0,
        total_timesteps=args.ppo_timesteps,
        device=args.device,
        eval_every=args.ppo_timesteps,
    )
    elapsed = time.perf_counter() - started
    print(
        f"PPO: {agent.timesteps:,} timesteps on {agent.device} ({args.ppo_envs} envs) in "
        f"{agent.train_seconds:.1f} s ({agent.timesteps / agent.train_seconds:,.0f} steps/s, "
        f"with {len(agent.eval_curve)} validation evaluation(s) of {len(data.tickers)} tickers; "
        f"{elapsed:.1f} s with setup); best validation reward {agent.best_mean_reward:.4f}"
    )


if __name__ == "__main__":
    main()
