"""The research table: every model out of sample, walk-forward, on 50 long-history US stocks.

Data: ``../shared/data/us_stocks_long_1962_2017.csv.gz`` (override with ``--data`` or
``QUANT_ASSETS_SHARED_DATA``), read and validated by :func:`quant_assets.ingest.read_prices`
(bad rows quarantined), the eight deep-momentum factors from the factor registry
(:func:`quant_assets.factors.compute_factors`) and :func:`quant_assets.models.build_panel`, as the
pipeline's ``trained_models`` asset does. Walk-forward windows from
:func:`quant_assets.models.walk_forward.plan_windows` (rolling training block, a purged validation
block, an embargo of at least the sequence length before validation and before test).

Rows: the rules (long-only, TSMOM, MACD), the forecasters (ridge, LightGBM, XGBoost), the
networks (MLP, LSTM, TFT; :func:`~quant_assets.models.walk_forward.train_seeds`, positions
averaged over seeds), the ensemble (best members on each window's validation block) and PPO
(:func:`quant_assets.rl.train_walk_forward_ppo`). Each is scored (:mod:`quant_assets.research`)
at 0/5/10 bp one-way, directional and market-neutral, traded at the close of the signal date
(the papers' convention) and at the next open (from the file's own opens).

    .venv/bin/python benchmarks/research.py                     # the full table, docs/results.md
    .venv/bin/python benchmarks/research.py --quick --out /tmp/results.md   # smoke run, minutes
    .venv/bin/python benchmarks/research.py --device cuda       # networks (and XGBoost) on a GPU

Everything in the written document comes from this run: no number is typed by hand.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from quant_assets.factors import compute_factors
from quant_assets.ingest import read_prices
from quant_assets.models import (
    TrainConfig,
    build_ensemble,
    build_panel,
    forecast_baseline,
    forecast_positions,
    predict_positions,
    resolve_device,
    train_model,
    wide_closes,
)
from quant_assets.models.baselines import RULES
from quant_assets.models.boosted import boosted_device, lightgbm_device
from quant_assets.models.features import DEEP_MOMENTUM_FACTORS
from quant_assets.models.walk_forward import (
    average_positions,
    plan_windows,
    train_seeds,
    window_config,
)
from quant_assets.research import (
    EXECUTIONS,
    VIEWS,
    check_claims,
    execution_panel,
    holding_returns,
    open_quality,
    results_table,
    score_positions,
    seed_summary,
    wide_opens,
)
from quant_assets.research.tables import PAPER_CLAIMS, format_number, ordering
from quant_assets.rl import EnvConfig, TradingCosts, train_walk_forward_ppo

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = (
    Path(os.environ.get("QUANT_ASSETS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    / "us_stocks_long_1962_2017.csv.gz"
)
RULE_KINDS = ("long_only", "tsmom", "macd")
FORECAST_KINDS = ("ridge", "lightgbm", "xgboost")
DETERMINISTIC = ("ridge",)
NETWORK_KINDS = ("mlp", "lstm", "tft")
MODELS = (*RULE_KINDS, *FORECAST_KINDS, *NETWORK_KINDS, "ensemble", "ppo")
COSTS_BPS = (0.0, 5.0, 10.0)
QUICK_TICKERS = 8


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "results.md")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_TICKERS} tickers, the last window, 2 seeds, 3 epochs, tiny PPO",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch / tree CPU threads")
    window = parser.add_argument_group("walk-forward windows")
    window.add_argument("--first-test", default="1990-01-01")
    window.add_argument("--retrain-every", default="7YS", help="test block length (pandas alias)")
    window.add_argument("--train-length", type=int, default=1260, help="rolling, trading days")
    window.add_argument("--validation-length", type=int, default=504, help="trading days")
    window.add_argument("--embargo", type=int, default=63, help="trading days, >= sequence")
    nets = parser.add_argument_group("networks")
    nets.add_argument("--seeds", type=int, default=5, help="seeds per model x window")
    nets.add_argument("--sequence-length", type=int, default=21)
    nets.add_argument("--stride", type=int, default=5)
    nets.add_argument("--hidden-size", type=int, default=16, help="MLP and LSTM")
    nets.add_argument("--tft-hidden-size", type=int, default=8)
    nets.add_argument("--max-epochs", type=int, default=40)
    nets.add_argument("--patience", type=int, default=10)
    nets.add_argument("--eval-stride", type=int, default=10)
    nets.add_argument(
        "--train-cost-bps",
        type=float,
        default=5.0,
        help="cost in the Sharpe loss, in early stopping, in the ensemble's choice and PPO's fees",
    )
    ppo = parser.add_argument_group("PPO")
    ppo.add_argument("--ppo-seeds", type=int, default=5)
    ppo.add_argument("--ppo-timesteps", type=int, default=30_000, help="per agent")
    ppo.add_argument("--ppo-envs", type=int, default=16)
    ppo.add_argument("--ensemble-size", type=int, default=3)
    args = parser.parse_args(argv)
    if args.quick:
        args.first_test, args.retrain_every = "2011-01-01", "7YS"
        args.seeds, args.ppo_seeds = 2, 2
        args.max_epochs, args.ppo_timesteps = 3, 2048
    if args.embargo < args.sequence_length:
        parser.error("--embargo must be at least --sequence-length")
    return args


def train_config(args: argparse.Namespace, device: str) -> TrainConfig:
    return TrainConfig(
        sequence_length=args.sequence_length,
        stride=args.stride,
        max_epochs=args.max_epochs,
        patience=args.patience,
        hidden_size=args.hidden_size,
        eval_stride=args.eval_stride,
        cost_bps=args.train_cost_bps,
        device=device,
        seed=0,
    )


def kind_config(config: TrainConfig, kind: str, args: argparse.Namespace) -> TrainConfig:
    if kind == "tft":
        return dataclasses.replace(config, hidden_size=args.tft_hidden_size)
    return config


# ----------------------------------------------------------------------------- data


def load(args: argparse.Namespace):
    """Validated prices, the factor panel, wide closes and opens, and the quarantine count."""
    prices, rejected = read_prices(args.data)
    if args.quick:
        keep = sorted(prices["ticker"].astype(str).unique())[:QUICK_TICKERS]
        prices = prices[prices["ticker"].astype(str).isin(keep)]
    closes = wide_closes(prices)
    opens = wide_opens(prices).reindex(index=closes.index, columns=closes.columns)
    features = compute_factors(prices, DEEP_MOMENTUM_FACTORS)
    panel = build_panel(features, closes, factors=tuple(DEEP_MOMENTUM_FACTORS))
    return prices, rejected, panel, closes, opens


# ----------------------------------------------------------------------------- models


class Book:
    """Per model: stitched test positions per seed, validation+test positions per window/seed."""

    def __init__(self) -> None:
        self.test: dict[str, dict[int, list[pd.DataFrame]]] = {}
        self.member: dict[str, list[dict[int, pd.DataFrame]]] = {}
        self.seconds: dict[str, float] = {}
        self.fits: dict[str, int] = {}

    def add(self, model: str, seed: int, positions: pd.DataFrame) -> None:
        self.test.setdefault(model, {}).setdefault(seed, []).append(positions)

    def stitched(self, model: str) -> dict[int, pd.DataFrame]:
        return {s: pd.concat(f, ignore_index=True) for s, f in self.test[model].items()}


def val_test_dates(panel, split) -> pd.DatetimeIndex:
    return panel.dates[np.concatenate([split.validation, split.test])]


def run_rules(book: Book, closes: pd.DataFrame, panel, splits) -> None:
    test_dates = panel.dates[np.concatenate([s.test for s in splits])]
    for kind in RULE_KINDS:
        started = time.perf_counter()
        positions = RULES[kind](closes)
        book.add(kind, 0, positions[pd.to_datetime(positions["date"]).isin(test_dates)])
        book.seconds[kind] = time.perf_counter() - started
        book.fits[kind] = 0


def run_forecasters(book: Book, panel, splits, args, device: str) -> dict:
    devices = {}
    for kind in FORECAST_KINDS:
        started = time.perf_counter()
        seeds = [0] if kind in DETERMINISTIC else list(range(args.seeds))
        book.member[kind] = []
        for w, split in enumerate(splits):
            members = {}
            for seed in seeds:
                result = forecast_baseline(
                    kind,
                    panel,
                    split,
                    seed=seed,
                    cost_bps=args.train_cost_bps,
                    device=device if kind != "ridge" else "cpu",
                    n_jobs=args.threads,
                )
                book.add(kind, seed, result.positions)
                members[seed] = forecast_positions(
                    result.estimator, panel, val_test_dates(panel, split)
                )
            book.member[kind].append(members)
            log(f"{kind} window {w}: {len(seeds)} seed(s), val Sharpe {result.val_sharpe:.2f}")
        book.seconds[kind] = time.perf_counter() - started
        book.fits[kind] = len(seeds) * len(splits)
        if kind == "lightgbm":
            devices[kind] = lightgbm_device(device)
        elif kind == "xgboost":
            devices[kind] = boosted_device(device)
        else:
            devices[kind] = "cpu"
    return devices


def run_networks(book: Book, panel, splits, args, config: TrainConfig) -> pd.DataFrame:
    """Train every network kind on every split from ``args.seeds`` seeds; the training record."""
    records = []
    for kind in NETWORK_KINDS:
        started = time.perf_counter()
        book.member[kind] = []
        for w, split in enumerate(splits):
            base = window_config(kind_config(config, kind, args), w)
            ensemble = train_seeds(kind, panel, split, base, args.seeds)
            members = {}
            for s, result in enumerate(ensemble.results):
                book.add(kind, s, result.positions)
                members[s] = predict_positions(result.model, panel, val_test_dates(panel, split))
                history = result.history
                records.append(
                    {
                        "model": kind,
                        "window": w,
                        "seed": result.config.seed,
                        "epochs": result.epochs_run,
                        "best_epoch": result.best_epoch,
                        "early_stopped": result.stopped_early,
                        "initial_val_sharpe": result.initial_val_sharpe,
                        "val_sharpe": result.val_sharpe,
                        "epoch_seconds": float(history["train_seconds"].mean()),
                        "device": str(result.device),
                    }
                )
            book.member[kind].append(members)
            last = records[-len(ensemble.results) :]
            log(
                f"{kind} window {w}: epochs {[r['epochs'] for r in last]}, best "
                f"{[r['best_epoch'] for r in last]}, {time.perf_counter() - started:.0f}s so far"
            )
        book.seconds[kind] = time.perf_counter() - started
        book.fits[kind] = args.seeds * len(splits)
    return pd.DataFrame(records)


def run_ensemble(book: Book, panel, splits, args) -> pd.DataFrame:
    """Per seed and window, the best ``ensemble_size`` fitted members on validation, averaged."""
    started = time.perf_counter()
    kinds = [k for k in (*FORECAST_KINDS, *NETWORK_KINDS) if k in book.member]
    chosen = []
    for w, split in enumerate(splits):
        for seed in range(args.seeds):
            members = {k: book.member[k][w].get(seed, book.member[k][w][0]) for k in kinds}
            result = build_ensemble(
                panel,
                split,
                members,
                k=args.ensemble_size,
                method="average",
                cost_bps=args.train_cost_bps,
            )
            book.add("ensemble", seed, result.positions)
            chosen.append({"window": w, "seed": seed, "members": ", ".join(result.members)})
    book.seconds["ensemble"] = time.perf_counter() - started
    book.fits["ensemble"] = args.seeds * len(splits)
    return pd.DataFrame(chosen)


def run_ppo(book: Book, panel, splits, closes, opens, args, device: str) -> pd.DataFrame:
    started = time.perf_counter()
    result = train_walk_forward_ppo(
        panel,
        splits,
        closes=closes,
        opens=opens,
        costs=TradingCosts(fee_bps=args.train_cost_bps),
        env_config=EnvConfig(window=min(20, args.embargo)),
        seeds=args.ppo_seeds,
        total_timesteps=args.ppo_timesteps,
        n_envs=args.ppo_envs,
        device=device,
        on_run_end=lambda run: log(
            f"ppo window {run.split_index} seed {run.seed}: {run.agent.timesteps} steps in "
            f"{run.agent.train_seconds:.0f}s, best validation reward "
            f"{run.agent.best_mean_reward:.4f}"
        ),
    )
    for run in result.runs:
        book.add("ppo", run.seed, run.positions)
    book.seconds["ppo"] = time.perf_counter() - started
    book.fits["ppo"] = len(result.runs)
    return pd.DataFrame(
        {
            "window": [r.split_index for r in result.runs],
            "seed": [r.seed for r in result.runs],
            "timesteps": [r.agent.timesteps for r in result.runs],
            "best_timesteps": [r.agent.best_timesteps for r in result.runs],
            "train_seconds": [r.agent.train_seconds for r in result.runs],
            "device": [r.agent.device for r in result.runs],
        }
    )


# ----------------------------------------------------------------------------- scoring


def score_all(book: Book, panels: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores of every seed's stitched positions and of the seed-averaged positions."""
    seed_rows, average_rows = [], []
    for model in MODELS:
        if model not in book.test:
            continue
        per_seed = book.stitched(model)
        average = average_positions(list(per_seed.values()))
        for execution, panel in panels.items():
            tag = {"model": model, "execution": execution}
            for seed, positions in per_seed.items():
                scores = score_positions(panel, positions, costs_bps=COSTS_BPS, views=VIEWS)
                seed_rows.append(scores.assign(seed=seed, **tag))
            scores = score_positions(panel, average, costs_bps=COSTS_BPS, views=VIEWS)
            average_rows.append(scores.assign(**tag))
    return pd.concat(seed_rows, ignore_index=True), pd.concat(average_rows, ignore_index=True)


def epoch_times(panel, split, config: TrainConfig, args, device: torch.device, records) -> list:
    """LSTM and TFT seconds per training epoch on CPU and, where used or present, CUDA."""
    rows = []
    run_device = "cuda" if device.type == "cuda" else "cpu"
    for kind in ("lstm", "tft"):
        mine = records[records["model"] == kind]
        if len(mine):
            rows.append((kind, run_device, float(mine["epoch_seconds"].median()), "this run"))
        if run_device == "cuda":
            cpu = dataclasses.replace(kind_config(config, kind, args), max_epochs=2, device="cpu")
            history = train_model(kind, panel, split, cpu).history
            rows.append((kind, "cpu", float(history["train_seconds"].mean()), "2-epoch probe"))
    return rows


# ----------------------------------------------------------------------------- document


def git_commit() -> str:
    def git(*argv: str) -> str:
        out = subprocess.run(["git", *argv], cwd=REPO_ROOT, capture_output=True, text=True)
        return out.stdout.strip()

    commit = git("rev-parse", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return commit + (" (with uncommitted changes)" if dirty else "")


def markdown(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
    return frame.to_markdown(index=False, floatfmt=floatfmt)


def claims_section(summary: pd.DataFrame, execution: str) -> list[str]:
    rows = summary[
        (summary["execution"] == execution)
        & (summary["view"] == "directional")
        & np.isclose(summary["cost_bps"], 0.0)
    ]
    sharpes = dict(zip(rows["model"], rows["sharpe_mean"], strict=True))
    spreads = dict(zip(rows["model"], rows["sharpe_std"], strict=True))
    table = check_claims(sharpes, spreads, PAPER_CLAIMS)
    lines = []
    for source, group in table.groupby("source", sort=False):
        parts = []
        for r in group.itertuples():
            if r.holds is None:
                parts.append(f"{r.better} vs {r.worse}: not measured")
                continue
            verdict = "holds" if r.holds else "does NOT hold"
            noise = " (gap within one seed std)" if r.within_noise else ""
            parts.append(
                f"{r.better} > {r.worse} {verdict} ({format_number(r.better_sharpe)} vs "
                f"{format_number(r.worse_sharpe)}){noise}"
            )
        held = int(group["holds"].eq(True).sum())
        known = int(group["holds"].notna().sum())
        lines.append(
            f"- **{source}**: {held} of {known} orderings reproduced. " + "; ".join(parts) + "."
        )
    order = ordering({m: v for m, v in sharpes.items()})
    lines.append(
        f"- Our ordering ({execution} execution, directional, 0 bp): " + " > ".join(order) + "."
    )
    return lines


def write_document(path: Path, context: dict) -> None:
    c = context
    args = c["args"]
    summary, averages = c["summary"], c["averages"]
    lines = [
        "# Research results: out-of-sample, walk-forward",
        "",
        "Written entirely by `benchmarks/research.py`; every number below comes from the run it "
        "describes. Re-running the command reproduces it (CPU runs are seeded and deterministic).",
        "",
        "## Run",
        "",
        f"- command: `{c['command']}`",
        f"- git commit: `{c['commit']}`",
        f"- machine: {c['machine']}",
        f"- wall time: {c['wall']:.0f} s ({c['wall'] / 60:.1f} min), finished {c['finished']}",
        f"- mode: {'QUICK smoke run (not a result)' if args.quick else 'full run'}",
        f"- data: `{args.data.name}`: {c['rows']:,} rows validated, {c['rejected']} quarantined "
        f"by `read_prices`; {c['tickers']} tickers; panel {c['panel_range']}",
        f"- features: the eight deep-momentum factors of the registry ({', '.join(DEEP_MOMENTUM_FACTORS)})",
        "",
        "### Walk-forward windows",
        "",
        f"Rolling training block of {args.train_length} trading days, validation {args.validation_length} "
        f"days, embargo {args.embargo} days before validation and before test "
        f"(>= sequence length {args.sequence_length}); test blocks `{args.retrain_every}` from "
        f"{args.first_test}. Nothing is chosen on test years: early stopping, the boosted trees' "
        "grid and tree count, ridge's alpha (time-ordered CV inside training) and the ensemble's "
        "members use training and validation blocks only.",
        "",
        markdown(c["windows"]),
        "",
        "### Models and seeds",
        "",
        f"- networks (MLP, LSTM, TFT): `train_seeds`, {args.seeds} seeds per window, positions "
        f"averaged; Sharpe loss net of {args.train_cost_bps:g} bp, sequence {args.sequence_length}, "
        f"stride {args.stride}, hidden {args.hidden_size} (TFT {args.tft_hidden_size}), "
        f"max {args.max_epochs} epochs, patience {args.patience}, LR halving on plateau, "
        f"gradient clipping, early stopping on validation Sharpe (eval stride {args.eval_stride}).",
        f"- forecasters: ridge (deterministic, one fit), LightGBM and XGBoost with "
        f"{args.seeds} seeds (row and column subsampling 0.8), devices {c['tree_devices']}; the "
        "position is the sign of the forecast of the vol-normalised next-day return.",
        f"- ensemble: per window and seed, the {args.ensemble_size} best fitted members by "
        f"validation Sharpe ({args.train_cost_bps:g} bp), equal weights.",
        f"- PPO: {args.ppo_seeds} seeds per window, {args.ppo_timesteps:,} timesteps per agent, "
        f"{args.ppo_envs} envs, discrete short/flat/long, fees {args.train_cost_bps:g} bp, "
        "best validation checkpoint kept; its orders fill at the next open in its own environment.",
        "- rules: long-only, TSMOM (12-month sign), MACD (Baz et al.), deterministic.",
        "",
        "### Scoring",
        "",
        "Each position is vol-scaled to 15% annualised (60-day EWMA vol known at the signal close), "
        "the book is equal-weighted over the scored names, and costs are charged one-way on the "
        "change of vol-scaled position (`quant_assets.research.score_positions`). *Sharpe mean ± std* "
        "is over seeds, each seed's positions stitched across windows; `—` marks a deterministic "
        "model. The other columns score the seed-averaged position (the model's actual position). "
        "Turnover is the annualised mean daily one-way change of the vol-scaled book. "
        "*Market-neutral* demeans the positions across the scored names each day before the vol "
        "scaling (long-only becomes flat: n/a). CAGR, max drawdown and turnover are of the net "
        "returns rescaled ex post to 15% realised volatility (one constant per series, as Lim et "
        "al. report; Sharpe-trained networks hold positions of arbitrary size, so unscaled CAGRs "
        "would not compare); the Sharpe ratio is unaffected.",
        "",
        "Execution: **close** = traded at the close of the signal date, earning close t -> close "
        "t+1 (Lim et al.'s convention, not tradable in practice); **next open** = traded at the "
        "open of t+1, earning open t+1 -> open t+2 (what a trader can do). A cell whose opens (or "
        "closes) are missing is not scored that day (it counts as flat for turnover).",
        "",
        "Opens in the test years (shares of validated rows):",
        "",
        markdown(c["opens"]),
        "",
        "An open equal to the close is common before the 2000s in this file (often an open that was "
        "never recorded and filled with the close); such opens are used as they are, so the "
        "next-open returns of those years partly repeat close-to-close returns.",
        "",
    ]
    for execution in EXECUTIONS:
        for view in VIEWS:
            title = {"close": "close t", "next_open": "next open"}[execution]
            lines += [
                f"## {view.replace('_', '-')} · traded at {title}",
                "",
                results_table(
                    summary,
                    averages,
                    execution=execution,
                    view=view,
                    models=MODELS,
                    costs_bps=COSTS_BPS,
                    headline_cost_bps=5.0,
                ),
                "",
            ]
    lines += [
        "## Comparison with the literature",
        "",
        "Orderings checked on the mean over seeds of the directional Sharpe at 0 bp (the papers "
        "report cost-free or low-cost Sharpe ratios). The claims are the papers' qualitative "
        "orderings: Lim et al. 2019 (Deep Momentum Networks: the Sharpe-optimised LSTM beats "
        "MACD, TSMOM and long-only), Wood et al. 2021 (Momentum Transformer: an attention/TFT-like "
        "model beats the LSTM), Qlib's benchmark table (Alpha158, CSI300: LightGBM and XGBoost "
        "have higher IC than the linear model and the LSTM).",
        "",
        "Traded at the close (the papers' convention):",
        "",
        *claims_section(summary, "close"),
        "",
        "Traded at the next open:",
        "",
        *claims_section(summary, "next_open"),
        "",
        "Why this can differ from the papers: Lim et al. and Wood et al. trade ~50-90 continuous "
        "futures (commodities, FX, rates, equity indices) where time-series momentum is strong, "
        "with long histories per window; here it is 50 single US stocks, where short-horizon "
        "reversal (partly bid-ask bounce in closes) dominates daily signals, which the "
        "close-to-close convention rewards and the next-open convention largely removes. "
        "Qlib's table ranks cross-sectional stock forecasts on 158 engineered features of "
        "Chinese A-shares by IC; here the trees see only the eight momentum factors and trade "
        "the forecast's sign per stock. The networks are small and trained briefly to fit the "
        "CPU budget (see sizing), so they are a lower bound on what the architectures can do.",
        "",
        "## Training record",
        "",
        "Networks (per window, over seeds): epochs run, best epoch, share stopped early by "
        "patience (the rest hit max epochs), validation Sharpe before and after training.",
        "",
        markdown(c["network_summary"], ".2f") if len(c["network_summary"]) else "no networks",
        "",
        "Ensemble members chosen on validation (window: members per seed):",
        "",
        markdown(c["ensemble_members"]) if len(c["ensemble_members"]) else "no ensemble",
        "",
        "PPO agents (per window, over seeds):",
        "",
        markdown(c["ppo_summary"], ".1f") if len(c["ppo_summary"]) else "no PPO",
        "",
        "## Epoch time of the LSTM and TFT",
        "",
        markdown(c["epochs"]),
        "",
        c["gpu_line"],
        "",
        "## Sizing",
        "",
        "Wall time per model (all windows and seeds), fits, and seconds per fit in this run:",
        "",
        markdown(c["sizing"], ".1f"),
        "",
        f"The settings (rolling {args.train_length}-day training, `{args.retrain_every}` test "
        f"blocks, {args.seeds} seeds, sequence {args.sequence_length}, stride {args.stride}, "
        f"hidden {args.hidden_size} / TFT {args.tft_hidden_size}, at most {args.max_epochs} "
        f"epochs, PPO {args.ppo_timesteps:,} timesteps x {args.ppo_seeds} seeds) were sized by "
        "timing single trainings (one network x window x seed) on this panel so that the full "
        "table fits the 2-hour budget on 2 CPU cores; the seconds per fit above are what this run "
        "measured, and the wall time at the top is the total.",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    started = time.perf_counter()
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    np.seterr(all="ignore")
    device = resolve_device(args.device)
    tree_device = "cuda" if device.type == "cuda" else "cpu"
    config = train_config(args, str(device))

    prices, rejected, panel, closes, opens = load(args)
    splits = plan_windows(
        panel.dates,
        first_test=args.first_test,
        retrain_every=args.retrain_every,
        window="rolling",
        train_length=args.train_length,
        validation_length=args.validation_length,
        embargo=args.embargo,
    )
    if args.quick:
        splits = splits[-1:]
    windows = pd.DataFrame(
        [
            {f"{k}": f"{a.date()}..{b.date()}" for k, (a, b) in s.date_ranges(panel.dates).items()}
            for s in splits
        ]
    )
    log(f"panel {panel.shape}, {len(splits)} window(s), device {device}")

    book = Book()
    run_rules(book, closes, panel, splits)
    tree_devices = run_forecasters(book, panel, splits, args, tree_device)
    records = run_networks(book, panel, splits, args, config)
    ensemble_members = run_ensemble(book, panel, splits, args)
    ppo_runs = run_ppo(book, panel, splits, closes, opens, args, str(device))

    panels = {e: execution_panel(panel, holding_returns(closes, opens, e)) for e in EXECUTIONS}
    seed_scores, averages = score_all(book, panels)
    summary = seed_summary(seed_scores)

    epochs = pd.DataFrame(
        epoch_times(panel, splits[0], config, args, device, records),
        columns=["network", "device", "seconds per epoch", "source"],
    )
    if device.type == "cuda":
        gpu_line = f"GPU: {torch.cuda.get_device_name(device)} (networks trained on it)."
    elif torch.cuda.is_available():
        gpu_line = "A GPU is present but this run used the CPU (`--device cpu`)."
    else:
        gpu_line = "No GPU was available on this machine: CPU epoch times only."

    edges = [panel.dates[s.test[0]] for s in splits] + [
        panel.dates[splits[-1].test[-1]] + pd.Timedelta(days=1)
    ]
    network_summary = (
        records.groupby(["model", "window"])
        .agg(
            epochs_mean=("epochs", "mean"),
            best_epoch_mean=("best_epoch", "mean"),
            early_stopped_share=("early_stopped", "mean"),
            initial_val_sharpe=("initial_val_sharpe", "mean"),
            val_sharpe=("val_sharpe", "mean"),
        )
        .reset_index()
        if len(records)
        else records
    )
    ppo_summary = (
        ppo_runs.groupby("window")
        .agg(
            seeds=("seed", "count"),
            timesteps=("timesteps", "mean"),
            best_timesteps=("best_timesteps", "mean"),
            seconds_per_agent=("train_seconds", "mean"),
        )
        .reset_index()
    )
    members = (
        ensemble_members.groupby("window")["members"].agg(" | ".join).reset_index()
        if len(ensemble_members)
        else ensemble_members
    )
    sizing = pd.DataFrame(
        {
            "model": list(book.seconds),
            "wall seconds": list(book.seconds.values()),
            "fits": [book.fits[m] for m in book.seconds],
        }
    )
    sizing["seconds per fit"] = sizing["wall seconds"] / sizing["fits"].where(sizing["fits"] > 0)
    wall = time.perf_counter() - started
    machine = (
        f"{platform.node()} ({platform.processor() or platform.machine()}), "
        f"{os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} threads, "
        f"device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
    )
    write_document(
        args.out,
        {
            "args": args,
            "command": " ".join(
                shlex.quote(a)
                for a in [
                    "python",
                    "benchmarks/research.py",
                    *(argv if argv is not None else sys.argv[1:]),
                ]
            ),
            "commit": git_commit(),
            "machine": machine,
            "wall": wall,
            "finished": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "rows": len(prices),
            "rejected": len(rejected),
            "tickers": len(panel.tickers),
            "panel_range": f"{panel.dates[0].date()}..{panel.dates[-1].date()} "
            f"({len(panel.dates)} dates)",
            "windows": windows,
            "tree_devices": ", ".join(f"{k}: {v}" for k, v in tree_devices.items()),
            "opens": open_quality(prices, edges),
            "summary": summary,
            "averages": averages,
            "network_summary": network_summary,
            "ensemble_members": members,
            "ppo_summary": ppo_summary,
            "epochs": epochs,
            "gpu_line": gpu_line,
            "sizing": sizing,
        },
    )
    log(f"wrote {args.out} in {wall:.0f}s")


if __name__ == "__main__":
    main()
