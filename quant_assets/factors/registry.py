"""The factor registry: what each factor is, what it needs, and how far back it looks.

Adding a factor is one :func:`_register` call here plus its kernel in
:mod:`quant_assets.factors.indicators`.

``lookback`` is the number of a ticker's rows (the current one included) that its value depends on:
computing on the last ``lookback`` rows gives bit-for-bit the value computed on the full history,
and more rows never change it. Exponentially weighted factors keep a finite memory (see
:mod:`quant_assets.factors.windows`), which is why theirs are long. ``warmup`` is the number of
leading rows of a ticker's history on which the factor is NaN.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quant_assets.factors import indicators as ind
from quant_assets.factors.windows import ewma_memory, seeded_ewma_memory

GROUPS = (
    "returns",
    "momentum",
    "trend",
    "volatility",
    "volume",
    "oscillator",
    "calendar",
    "cross-sectional",
)
CROSS_SECTIONAL = "cross-sectional"
PRICE = ("close",)
RANGE = ("high", "low", "close")
VOLUME = ("close", "volume")


@dataclass(frozen=True)
class FactorDefinition:
    """One factor: its name, group, parameters, lookback in rows, required columns, and meaning.

    ``compute(panel, **params)`` returns the factor on a row x ticker panel. For the
    ``cross-sectional`` group it returns the raw signal, which is then ranked among tickers per
    date.
    """

    name: str
    group: str
    params: dict[str, Any]
    lookback: int
    requires: tuple[str, ...]
    description: str
    warmup: int
    compute: Callable[..., np.ndarray] = field(repr=False, compare=False)


FACTOR_REGISTRY: dict[str, FactorDefinition] = {}


def _register(
    name: str,
    group: str,
    compute: Callable[..., np.ndarray],
    params: dict[str, Any],
    *,
    lookback: int,
    warmup: int,
    requires: tuple[str, ...],
    description: str,
) -> None:
    if name in FACTOR_REGISTRY:
        raise ValueError(f"factor {name!r} registered twice")
    if group not in GROUPS:
        raise ValueError(f"factor {name!r} has unknown group {group!r}")
    FACTOR_REGISTRY[name] = FactorDefinition(
        name, group, params, lookback, requires, description, warmup, compute
    )


def _ema_lookback(period: int) -> int:
    return seeded_ewma_memory(2.0 / (period + 1), period)


def _wilder_lookback(period: int) -> int:
    return 1 + seeded_ewma_memory(1.0 / period, period)  # smooths changes, which start at row 1


_VOL_LOOKBACK = 1 + ewma_memory(2.0 / (ind.EWMA_VOL_SPAN + 1))
_VOL_SPAN = ind.EWMA_VOL_SPAN

for _h in (1, 5, 21, 63, 126, 252):
    _register(
        f"ret_{_h}",
        "returns",
        ind.simple_return,
        {"horizon": _h},
        lookback=_h + 1,
        warmup=_h,
        requires=PRICE,
        description=f"simple return over {_h} rows, price[t]/price[t-{_h}] - 1, dimensionless",
    )

for _h in (1, 21, 63, 126, 252):
    _register(
        f"vol_scaled_ret_{_h}",
        "momentum",
        ind.vol_scaled_return,
        {"horizon": _h, "span": _VOL_SPAN},
        lookback=max(_h + 1, _VOL_LOOKBACK),
        warmup=max(_h, _VOL_SPAN),
        requires=PRICE,
        description=f"{_h}-row simple return / (EWMA daily vol, span {_VOL_SPAN}, x sqrt({_h})); "
        "Lim et al. 2019, in daily-vol units",
    )

for _s, _l in ((8, 24), (16, 48), (32, 96)):
    _register(
        f"macd_{_s}_{_l}",
        "trend",
        ind.baz_macd,
        {"short": _s, "long": _l, "price_window": 63, "signal_window": 252},
        lookback=ewma_memory(1.0 / _l) + 251,
        warmup=62 + 251,
        requires=PRICE,
        description=f"Baz et al. MACD: (EWMA 1/{_s} - EWMA 1/{_l} of price) / 63-row std of price, "
        "/ 252-row std of that ratio; dimensionless",
    )

_register(
    "macd_line_12_26",
    "trend",
    ind.macd_line_ratio,
    {"fast": 12, "slow": 26},
    lookback=max(_ema_lookback(12), _ema_lookback(26)),
    warmup=25,
    requires=PRICE,
    description="MACD line (EMA(12) - EMA(26), TA-Lib seeding) / close, dimensionless",
)

for _n in (5, 20, 50, 200):
    _register(
        f"sma_{_n}",
        "trend",
        ind.sma_ratio,
        {"window": _n},
        lookback=_n,
        warmup=_n - 1,
        requires=PRICE,
        description=f"SMA({_n})/close - 1, dimensionless",
    )

for _n in (12, 26):
    _register(
        f"ema_{_n}",
        "trend",
        ind.ema_ratio,
        {"period": _n},
        lookback=_ema_lookback(_n),
        warmup=_n - 1,
        requires=PRICE,
        description=f"EMA({_n}) (alpha 2/{_n + 1}, seeded with SMA({_n}) as TA-Lib)/close - 1, "
        "dimensionless",
    )

_register(
    "rsi_14",
    "oscillator",
    ind.rsi,
    {"period": 14},
    lookback=_wilder_lookback(14),
    warmup=14,
    requires=PRICE,
    description="RSI(14), Wilder smoothing seeded as TA-Lib, 0-100",
)
_register(
    "bb_pctb_20",
    "oscillator",
    ind.bollinger_percent_b,
    {"window": 20, "width": 2.0},
    lookback=20,
    warmup=19,
    requires=PRICE,
    description="Bollinger %b (20, 2, population std): (close - lower)/(upper - lower), "
    "0-1 inside the bands",
)
_register(
    "bb_width_20",
    "volatility",
    ind.bollinger_bandwidth,
    {"window": 20, "width": 2.0},
    lookback=20,
    warmup=19,
    requires=PRICE,
    description="Bollinger bandwidth (20, 2, population std): (upper - lower)/middle, "
    "dimensionless",
)
_register(
    "atr_14",
    "volatility",
    ind.atr_ratio,
    {"period": 14},
    lookback=_wilder_lookback(14),
    warmup=14,
    requires=RANGE,
    description="ATR(14), Wilder smoothing seeded as TA-Lib, / close; fraction of price per day",
)

for _n in (21, 63):
    _register(
        f"rvol_{_n}",
        "volatility",
        ind.realised_volatility,
        {"window": _n},
        lookback=_n + 1,
        warmup=_n,
        requires=PRICE,
        description=f"realised volatility: std (ddof=1) of {_n} daily simple returns, "
        "annualised x sqrt(252)",
    )

_register(
    "ewma_vol_60",
    "volatility",
    ind.ewma_volatility,
    {"span": _VOL_SPAN},
    lookback=_VOL_LOOKBACK,
    warmup=_VOL_SPAN,
    requires=PRICE,
    description="EWMA std of daily simple returns (span 60, pandas adjust/unbiased), "
    "annualised x sqrt(252)",
)
_register(
    "roc_10",
    "momentum",
    ind.rate_of_change,
    {"window": 10},
    lookback=11,
    warmup=10,
    requires=PRICE,
    description="rate of change (TA-Lib ROC): (close/close[t-10] - 1) x 100, percent",
)
_register(
    "dist_52w_high",
    "momentum",
    ind.distance_to_high,
    {"window": 252},
    lookback=252,
    warmup=251,
    requires=PRICE,
    description="close / max(close over 252 rows) - 1, dimensionless, <= 0 "
    "(closes, not intraday highs)",
)
_register(
    "volume_z_21",
    "volume",
    ind.volume_zscore,
    {"window": 21},
    lookback=21,
    warmup=20,
    requires=VOLUME,
    description="(volume - 21-row mean) / 21-row std (ddof=1, today included), in std units",
)
_register(
    "dollar_volume",
    "volume",
    ind.dollar_volume,
    {},
    lookback=1,
    warmup=0,
    requires=VOLUME,
    description="traded close x volume, currency units (unadjusted close)",
)
_register(
    "xs_mom_12_1_rank",
    CROSS_SECTIONAL,
    ind.skip_month_momentum,
    {"long": 252, "skip": 21},
    lookback=253,
    warmup=252,
    requires=PRICE,
    description="cross-sectional percentile rank (0 lowest .. 1 highest) of 12-1 month momentum "
    "price[t-21]/price[t-252] - 1 among tickers on the date",
)
_register(
    "xs_rev_1m_rank",
    CROSS_SECTIONAL,
    ind.reversal,
    {"horizon": 21},
    lookback=22,
    warmup=21,
    requires=PRICE,
    description="cross-sectional percentile rank (0..1) of 1-month reversal "
    "-(price[t]/price[t-21] - 1) "
    "among tickers on the date; 1 = biggest loser",
)
_register(
    "day_of_week",
    "calendar",
    ind.day_of_week,
    {},
    lookback=1,
    warmup=0,
    requires=(),
    description="day of week, 0 = Monday .. 4 = Friday",
)
_register(
    "month",
    "calendar",
    ind.month_of_year,
    {},
    lookback=1,
    warmup=0,
    requires=(),
    description="calendar month, 1 = January .. 12 = December",
)
_register(
    "turn_of_month",
    "calendar",
    ind.turn_of_month,
    {"last_days": 1, "first_days": 3},
    lookback=1,
    warmup=0,
    requires=(),
    description="1 on the last weekday and first 3 weekdays of a month, else 0 "
    "(weekdays, not exchange sessions)",
)

del _h, _s, _l, _n


def resolve(names: Iterable[str] | None = None) -> list[FactorDefinition]:
    """Definitions for ``names`` (all if None) in registry order; unknown names raise KeyError."""
    if names is None:
        return list(FACTOR_REGISTRY.values())
    wanted = [names] if isinstance(names, str) else list(names)
    unknown = sorted(set(wanted) - set(FACTOR_REGISTRY))
    if unknown:
        raise KeyError(f"unknown factors {unknown}; known: {list(FACTOR_REGISTRY)}")
    return [d for d in FACTOR_REGISTRY.values() if d.name in set(wanted)]


def required_lookback(names: Iterable[str] | None = None) -> int:
    """Rows of history per ticker that make the newest row's values equal a full recomputation.

    Rows count where all of a factor's required columns are present; more rows never change a value.
    To emit the newest ``k`` rows exactly, supply ``required_lookback(names) + k - 1`` rows.
    """
    return max((d.lookback for d in resolve(names)), default=0)


def available_factors(
    columns_present: Iterable[str], names: Iterable[str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """Split ``names`` (all if None) into those computable from ``columns_present`` and the rest.

    Returns the computable names in registry order and ``{name: reason}`` for the skipped ones.
    """
    present = set(columns_present)
    computable, skipped = [], {}
    for definition in resolve(names):
        missing = [c for c in definition.requires if c not in present]
        if missing:
            skipped[definition.name] = f"needs {', '.join(missing)}: absent or all-NaN in the input"
        else:
            computable.append(definition.name)
    return computable, skipped


def factor_definitions_frame(
    definitions: Mapping[str, FactorDefinition] | None = None,
) -> pd.DataFrame:
    """The ``factor_definitions`` table: one row per factor, ``params`` as JSON text."""
    rows = [
        {
            "name": d.name,
            "group": d.group,
            "params": json.dumps(d.params, sort_keys=True),
            "lookback": d.lookback,
            "warmup": d.warmup,
            "requires": ",".join(d.requires),
            "description": d.description,
        }
        for d in (definitions or FACTOR_REGISTRY).values()
    ]
    return pd.DataFrame(rows).astype({"lookback": "int64", "warmup": "int64"})
