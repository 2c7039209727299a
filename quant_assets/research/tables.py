"""Result tables: mean ± std over seeds, markdown rows, and the papers' orderings checked.

Scores come as long frames from :func:`~quant_assets.research.scoring.score_positions`, with
``model`` and ``execution`` columns added (and ``seed`` for the per-seed scores). A deterministic
model has one seed; its std is undefined and shown as ``—``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

KEYS = ["model", "execution", "view", "cost_bps"]


def seed_summary(seed_scores: pd.DataFrame) -> pd.DataFrame:
    """Sharpe mean, sample std (ddof 1; NaN for one seed) and seed count per model x setting.

    ``seed_scores`` holds one row per ``model, seed, execution, view, cost_bps`` with a
    ``sharpe`` column.
    """
    grouped = seed_scores.groupby(KEYS, sort=False)["sharpe"]
    return grouped.agg(sharpe_mean="mean", sharpe_std="std", n_seeds="size").reset_index()


def format_number(value: float, digits: int = 2, *, percent: bool = False) -> str:
    """``value`` rounded (as a percentage with ``percent``), ``n/a`` when not finite."""
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{100 * value:.{max(digits - 1, 0)}f}%" if percent else f"{value:.{digits}f}"


def format_mean_std(mean: float, std: float, digits: int = 2) -> str:
    """``mean ± std``; ``—`` for an undefined std (one seed), ``n/a`` for an undefined mean."""
    if mean is None or not np.isfinite(mean):
        return "n/a"
    spread = "—" if std is None or not np.isfinite(std) else f"{std:.{digits}f}"
    return f"{mean:.{digits}f} ± {spread}"


def results_table(
    summary: pd.DataFrame,
    average_scores: pd.DataFrame,
    *,
    execution: str,
    view: str,
    models: Sequence[str],
    costs_bps: Sequence[float],
    headline_cost_bps: float,
) -> str:
    """One markdown table: a row per model, Sharpe per cost over seeds, then the seed-average's
    Sharpe, CAGR, max drawdown and turnover at ``headline_cost_bps``.

    Parameters
    ----------
    summary : DataFrame
        :func:`seed_summary` output.
    average_scores : DataFrame
        Scores of each model's seed-averaged positions (``model, execution, view, cost_bps,
        sharpe, cagr, max_drawdown, turnover``).
    execution, view : str
        The setting shown.
    models : sequence of str
        Rows, in order; a model without scores is left out.
    costs_bps : sequence of float
        The Sharpe columns.
    headline_cost_bps : float
        Cost of the seed-average columns.
    """
    s = summary[(summary["execution"] == execution) & (summary["view"] == view)]
    a = average_scores[
        (average_scores["execution"] == execution)
        & (average_scores["view"] == view)
        & np.isclose(average_scores["cost_bps"], headline_cost_bps)
    ].set_index("model")
    cost_label = f"{headline_cost_bps:g} bp"
    header = (
        ["model", *(f"Sharpe {c:g} bp" for c in costs_bps), "seeds"]
        + [f"Sharpe of seed avg ({cost_label})", f"CAGR ({cost_label})"]
        + [f"max DD ({cost_label})", f"turnover / yr ({cost_label})"]
    )
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for model in models:
        rows = s[s["model"] == model]
        if rows.empty or model not in a.index:
            continue
        cells = [model]
        for cost in costs_bps:
            row = rows[np.isclose(rows["cost_bps"], cost)]
            cells.append(
                format_mean_std(row["sharpe_mean"].iloc[0], row["sharpe_std"].iloc[0])
                if len(row)
                else "n/a"
            )
        cells.append(str(int(rows["n_seeds"].max())))
        avg = a.loc[model]
        cells += [
            format_number(avg["sharpe"]),
            format_number(avg["cagr"], percent=True),
            format_number(avg["max_drawdown"], percent=True),
            format_number(avg["turnover"], 1),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


class Claim(NamedTuple):
    """``better`` beats ``worse`` in ``source``."""

    source: str
    better: str
    worse: str


# The orderings the literature reports, by model names of this table (never their numbers).
PAPER_CLAIMS = (
    Claim("Lim et al. 2019", "lstm", "macd"),
    Claim("Lim et al. 2019", "lstm", "tsmom"),
    Claim("Lim et al. 2019", "lstm", "long_only"),
    Claim("Wood et al. 2021", "tft", "lstm"),
    Claim("Qlib benchmark (Alpha158)", "lightgbm", "ridge"),
    Claim("Qlib benchmark (Alpha158)", "xgboost", "ridge"),
    Claim("Qlib benchmark (Alpha158)", "lightgbm", "lstm"),
    Claim("Qlib benchmark (Alpha158)", "xgboost", "lstm"),
)


def check_claims(
    sharpes: Mapping[str, float],
    spreads: Mapping[str, float] | None = None,
    claims: Sequence[Claim] = PAPER_CLAIMS,
) -> pd.DataFrame:
    """Whether each claimed ordering holds in ``sharpes`` (model -> Sharpe).

    Returns one row per claim: ``source, better, worse, better_sharpe, worse_sharpe, holds``
    (True, False, or None when either model has no finite Sharpe) and ``within_noise`` (the gap
    is smaller than the larger of the two models' seed std in ``spreads``; False without them).
    """
    spreads = spreads or {}
    rows = []
    for claim in claims:
        hi, lo = sharpes.get(claim.better, np.nan), sharpes.get(claim.worse, np.nan)
        known = np.isfinite(hi) and np.isfinite(lo)
        noise = np.nanmax(
            [spreads.get(claim.better, np.nan), spreads.get(claim.worse, np.nan), 0.0]
        )
        rows.append(
            {
                "source": claim.source,
                "better": claim.better,
                "worse": claim.worse,
                "better_sharpe": hi,
                "worse_sharpe": lo,
                "holds": bool(hi > lo) if known else None,
                "within_noise": bool(known and abs(hi - lo) < noise),
            }
        )
    return pd.DataFrame(rows)


def ordering(sharpes: Mapping[str, float]) -> list[str]:
    """Model names by decreasing Sharpe (non-finite last, ties by name)."""
    return sorted(
        sharpes,
        key=lambda m: (not np.isfinite(sharpes[m]), -np.nan_to_num(sharpes[m], nan=0.0), m),
    )
