"""Research evaluation: out-of-sample position frames scored as a trader would see them.

The pieces behind ``benchmarks/research.py`` (``docs/results.md``), pure functions on panels,
long position frames (``date, ticker, position``) and result tables:

* :mod:`~quant_assets.research.execution`: when a position dated ``t`` trades: at the close of
  ``t`` (the papers' convention, earning close ``t`` -> close ``t+1``) or at the next open
  (open ``t+1`` -> open ``t+2``), and how sane the opens are;
* :mod:`~quant_assets.research.scoring`: the market-neutral view, turnover, and Sharpe / CAGR /
  max drawdown / turnover of a position frame at several one-way costs;
* :mod:`~quant_assets.research.tables`: mean ± std over seeds, the markdown tables, and the
  orderings claimed by the papers checked against the numbers.
"""

from __future__ import annotations

from quant_assets.models.returns import wide_opens
from quant_assets.research.execution import (
    EXECUTIONS,
    execution_panel,
    holding_returns,
    open_quality,
)
from quant_assets.research.scoring import (
    VIEWS,
    daily_turnover,
    neutral_positions,
    score_positions,
)
from quant_assets.research.tables import (
    PAPER_CLAIMS,
    check_claims,
    format_mean_std,
    results_table,
    seed_summary,
)

__all__ = [
    "EXECUTIONS",
    "PAPER_CLAIMS",
    "VIEWS",
    "check_claims",
    "daily_turnover",
    "execution_panel",
    "format_mean_std",
    "holding_returns",
    "neutral_positions",
    "open_quality",
    "results_table",
    "score_positions",
    "seed_summary",
    "wide_opens",
]
