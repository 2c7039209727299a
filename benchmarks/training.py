"""Training throughput of the momentum networks on CPU and, when present, on a GPU.

Data: ``../shared/data/us_stocks_long_1962_2017.csv.gz`` (50 US stocks, 1962-2017; override with
``--data`` or ``QUANT_ASSETS_SHARED_DATA``). Features: the eight deep-momentum factors. Each
network warms up on a short block, then trains one full epoch on the 1962-2009 training block
(validation 2010-2012, test 2013-2017), which is timed. Samples are asset sequences
(one asset's ``--sequence-length`` window) with data; asset-days are samples times that length.

    .venv/bin/python benchmarks/training.py            # CPU, plus CUDA when available
    .venv/bin/python benchmarks/training.py --kinds lstm tft --batch-size 256

Prints a table and the GPU/CPU ratio of training throughput per network (goal: >= 10x for the
LSTM and the TFT).
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from quant_assets.models import (
    NETWORK_KINDS,
    Split,
    TrainConfig,
    build_panel,
    deep_momentum_features,
    sequence_windows,
    train_model,
    train_validation_test_split,
    window_ends,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = (
    Path(os.environ.get("QUANT_ASSETS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    / "us_stocks_long_1962_2017.csv.gz"
)


def load_closes(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, usecols=["date", "ticker", "close"], parse_dates=["date"])
    frame = frame.drop_duplicates(["date", "ticker"], keep="last")
    return frame.pivot(index="date", columns="ticker", values="close").sort_index()


def samples_per_epoch(panel, split, config: TrainConfig) -> int:
    """Asset sequences with at least one scored date in the training windows of one epoch."""
    ends = window_ends(split.train, config.sequence_length, config.stride or config.sequence_length)
    masks = sequence_windows(panel.mask, ends, config.sequence_length, fill=False)
    return int(masks.any(axis=1).sum())


def time_network(kind: str, panel, split, config: TrainConfig) -> dict:
    """Warm up on a short block (lazy kernels, cuDNN plans), then time one full epoch."""
    n = len(panel.dates)
    warm_up = Split(np.arange(n - 900, n - 400), np.arange(n - 300, n - 200), np.arange(0), 63)
    train_model(kind, panel, warm_up, replace(config, max_epochs=1))
    result = train_model(kind, panel, split, config)
    last = result.history.iloc[-1]
    samples = samples_per_epoch(panel, split, config)
    return {
        "network": kind,
        "device": config.device,
        "epoch_s": last["train_seconds"],
        "val_s": last["val_seconds"],
        "samples/s": samples / last["train_seconds"],
        "asset_days/s": samples * config.sequence_length / last["train_seconds"],
        "val_sharpe": result.val_sharpe,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--kinds", nargs="+", default=list(NETWORK_KINDS))
    parser.add_argument("--devices", nargs="+", default=None, help="default: cpu and cuda if any")
    parser.add_argument("--sequence-length", type=int, default=63)
    parser.add_argument("--batch-size", type=int, default=64, help="windows of all 50 assets")
    parser.add_argument("--hidden-size", type=int, default=32)
    args = parser.parse_args()

    started = time.perf_counter()
    closes = load_closes(args.data)
    panel = build_panel(deep_momentum_features(closes), closes)
    split = train_validation_test_split(
        panel.dates, validation_start="2010-01-01", test_start="2013-01-01", embargo=63
    )
    ranges = {
        k: f"{a:%Y-%m-%d}..{b:%Y-%m-%d}" for k, (a, b) in split.date_ranges(panel.dates).items()
    }
    print(
        f"panel {panel.shape} (dates, factors, tickers) built in {time.perf_counter() - started:.1f}s"
    )
    print(f"split {ranges}, scored cells in train: {panel.mask[split.train].sum():,}")
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}")

    devices = args.devices or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        if device.startswith("cuda"):
            print(f"GPU: {torch.cuda.get_device_name(torch.device(device))}")
        for kind in args.kinds:
            config = TrainConfig(
                sequence_length=args.sequence_length,
                batch_size=args.batch_size,
                hidden_size=args.hidden_size,
                max_epochs=1,
                eval_stride=args.sequence_length,
                device=device,
            )
            rows.append(time_network(kind, panel, split, config))
            row = rows[-1]
            print(
                f"  {kind:>4} on {device}: epoch {row['epoch_s']:.2f}s, {row['samples/s']:,.0f} samples/s"
            )

    table = pd.DataFrame(rows)
    with pd.option_context("display.float_format", "{:,.3f}".format, "display.width", 120):
        print(table.to_string(index=False))
    gpu = [d for d in devices if d.startswith("cuda")]
    if "cpu" not in devices or not gpu:
        print("GPU/CPU ratio: no GPU here" if "cpu" in devices else "GPU/CPU ratio: no CPU run")
        return
    speed = table.pivot(index="network", columns="device", values="samples/s")
    for kind in args.kinds:
        ratio = speed.at[kind, gpu[0]] / speed.at[kind, "cpu"]
        goal = " (goal >= 10x)" if kind in ("lstm", "tft") else ""
        flag = "" if not goal else (" met" if ratio >= 10 else " NOT met")
        print(f"GPU/CPU ratio {kind}: {ratio:,.1f}x{goal}{flag}")
    print(f"total {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
