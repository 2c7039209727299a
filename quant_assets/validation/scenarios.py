"""The validation scenarios: one target-weight frame, prices and costs each, from real bars.

:func:`standard_scenarios` cuts them from long bars (``ticker, date, open, close, volume``, raw
and unadjusted, e.g. :func:`quant_assets.ingest.read_prices` of a vendor file) for the tickers
and window given. Common rules, so that every engine can run every scenario:

* every price is rounded to 1/1000 (zipline stores prices as thousandths);
* no targets on the first bar (a zipline order fills one bar later at the earliest) nor the last
  (backtrader never fills a cheat-on-close order placed there);
* NaN target where a ticker has no price (no order).

The signal is a plain 20-day momentum sign: it only has to trade often, in both directions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from quant_assets.ingest.corporate_actions import detect_corporate_actions
from quant_assets.validation.common import CostConfig, Market

__all__ = ["Scenario", "market_from_bars", "scenarios_from_closes", "standard_scenarios"]

PRICE_DECIMALS = 3
MOMENTUM_BARS = 20
# Bars on either side of the split in the split scenario.
SPLIT_MARGIN_BARS = 40


@dataclass(frozen=True)
class Scenario:
    """One validation case: what runs, and what the engines must assume to agree (``notes``)."""

    name: str
    market: Market
    weights: pd.DataFrame
    costs: CostConfig
    notes: str


def market_from_bars(
    bars: pd.DataFrame, tickers: Sequence[str], start, end, known_splits: pd.DataFrame | None = None
) -> Market:
    """Wide raw opens, closes and volumes of ``tickers`` between ``start`` and ``end``, with the
    splits found in their closes (over the whole of ``bars``, so that a split on the window's
    first day is seen) plus ``known_splits`` (``ticker, date, factor``, e.g. from the vendor's
    split calendar) the detector does not see."""
    chosen = bars[bars["ticker"].astype(str).isin(list(tickers))].copy()
    chosen["ticker"] = chosen["ticker"].astype(str)
    window = chosen[(chosen["date"] >= pd.Timestamp(start)) & (chosen["date"] <= pd.Timestamp(end))]
    if window.empty:
        raise ValueError(f"no bars for {list(tickers)} between {start} and {end}")

    def wide(column: str) -> pd.DataFrame | None:
        if column not in window or window[column].isna().all():
            return None
        frame = window.pivot(index="date", columns="ticker", values=column).astype(np.float64)
        frame = frame.reindex(columns=list(tickers))
        frame.index = pd.DatetimeIndex(frame.index).astype("datetime64[ns]")
        frame.columns.name = None
        return frame.round(PRICE_DECIMALS) if column != "volume" else frame

    closes = wide("close")
    splits = detect_corporate_actions(chosen)
    splits = splits[splits["kind"] == "split"][["ticker", "date", "factor"]]
    if known_splits is not None and len(known_splits):
        given = known_splits[known_splits["ticker"].isin(list(tickers))]
        splits = pd.concat([splits, given[["ticker", "date", "factor"]]], ignore_index=True)
        splits["date"] = pd.to_datetime(splits["date"]).astype("datetime64[ns]")
        splits = splits.drop_duplicates(["ticker", "date"])
    splits = splits[splits["date"].isin(closes.index)].sort_values("date")
    return Market(
        closes=closes,
        opens=wide("open"),
        volumes=wide("volume"),
        splits=splits.reset_index(drop=True),
    )


def momentum_weights(closes: pd.DataFrame, gross: float, long_only: bool) -> pd.DataFrame:
    """Equal weights of ``gross / n`` signed by the 20-day return (0 for losers if long only)."""
    sign = np.sign(closes.pct_change(MOMENTUM_BARS, fill_method=None))
    if long_only:
        sign = sign.clip(lower=0.0)
    weights = sign.fillna(0.0) * gross / closes.shape[1]
    return _tradable(weights, closes)


def _tradable(weights: pd.DataFrame, closes: pd.DataFrame) -> pd.DataFrame:
    weights = weights.where(closes.notna())
    weights.iloc[[0, -1]] = np.nan
    return weights


def _cut(market: Market, ticker: str) -> Market:
    """``ticker``'s bars end at the window's middle: a delisting."""
    middle = market.closes.index[len(market.closes) // 2]

    def cut(frame: pd.DataFrame | None) -> pd.DataFrame | None:
        if frame is None:
            return None
        frame = frame.copy()
        frame.loc[frame.index > middle, ticker] = np.nan
        return frame

    return replace(
        market, closes=cut(market.closes), opens=cut(market.opens), volumes=cut(market.volumes)
    )


def standard_scenarios(
    bars: pd.DataFrame,
    tickers: Sequence[str],
    start,
    end,
    *,
    initial_cash: float = 100_000.0,
    split_tickers: Sequence[str] = (),
    known_splits: pd.DataFrame | None = None,
) -> list[Scenario]:
    """The validation scenarios on ``tickers`` (at least 3) from ``start`` to ``end``.

    A split scenario is added for the first split of ``split_tickers`` (detected in their raw
    closes, or in ``known_splits``), on ``SPLIT_MARGIN_BARS`` bars either side of it; none when
    there is no split.
    """
    if len(tickers) < 3:
        raise ValueError("the scenarios need at least 3 tickers")
    market = market_from_bars(bars, tickers, start, end)
    closes = market.closes
    single = replace(
        market,
        closes=closes[[tickers[0]]],
        opens=None if market.opens is None else market.opens[[tickers[0]]],
        volumes=None if market.volumes is None else market.volumes[[tickers[0]]],
    )
    long_short = momentum_weights(closes[list(tickers[:3])], gross=0.9, long_only=False)
    multi = momentum_weights(closes, gross=0.95, long_only=True)
    fractional = CostConfig(fee_bps=10.0, initial_cash=initial_cash)
    whole = replace(fractional, whole_shares=True)
    all_in = _tradable(
        pd.DataFrame(1.0, index=single.closes.index, columns=single.closes.columns), single.closes
    )
    delisted = _cut(market, tickers[1])
    scenarios = [
        Scenario(
            "long_only_single",
            single,
            momentum_weights(single.closes, gross=0.95, long_only=True),
            fractional,
            "Fill at the close, 10 bps fee, fractional shares.",
        ),
        Scenario(
            "long_short",
            market,
            long_short.reindex(columns=closes.columns),
            fractional,
            "Shorts credit their proceeds to cash (backtrader: shortcash).",
        ),
        Scenario(
            "multi_asset_daily",
            market,
            multi,
            replace(fractional, fee_bps=5.0),
            "Daily rebalancing of every ticker; sells before buys.",
        ),
        Scenario(
            "whole_shares",
            market,
            multi,
            replace(whole, fee_bps=5.0),
            "Orders truncated toward zero (vectorbt size_granularity=1).",
        ),
        Scenario(
            "per_share_fee",
            market,
            multi,
            replace(whole, fee_bps=0.0, fee_per_share=0.005),
            "0.005 per share; vectorbt gets it as fee_per_share / price (no slippage).",
        ),
        Scenario(
            "slippage_next_open",
            market,
            multi,
            replace(fractional, fee_bps=5.0, slippage_bps=10.0, execution="next_open"),
            "Fill at the next open with 10 bps slippage, fractional shares.",
        ),
        Scenario(
            "slippage_next_open_whole",
            market,
            multi,
            replace(whole, fee_bps=5.0, slippage_bps=10.0, execution="next_open"),
            "Fill at the next open with 10 bps slippage, whole shares.",
        ),
        Scenario(
            "cash_binding",
            single,
            all_in,
            fractional,
            "Target 100 % with a fee: the buy needs more than the cash. Ours and vectorbt "
            "buy what the cash pays; backtrader rejects the order; zipline borrows.",
        ),
        Scenario(
            "cash_binding_whole",
            single,
            all_in,
            whole,
            "As cash_binding with whole shares: vectorbt floors the affordable size, "
            "backtrader rejects, zipline borrows (negative cash).",
        ),
        Scenario(
            "delisted",
            delisted,
            momentum_weights(delisted.closes, 0.95, long_only=True),
            whole,
            f"{tickers[1]}'s prices end mid-sample: no orders after, its position is valued at "
            "its last close (zipline: auto_close_date the day after its end date).",
        ),
    ]
    split = _split_scenario(bars, split_tickers, whole, known_splits)
    return scenarios + ([split] if split is not None else [])


def _split_scenario(bars, tickers, costs, known_splits):
    if not len(tickers):
        return None
    full = market_from_bars(bars, tickers, bars["date"].min(), bars["date"].max(), known_splits)
    if full.splits.empty:
        return None
    split = full.splits.iloc[0]
    dates = full.closes.index
    at = dates.get_loc(split["date"])
    start = dates[max(at - SPLIT_MARGIN_BARS, 0)]
    end = dates[min(at + SPLIT_MARGIN_BARS, len(dates) - 1)]
    market = market_from_bars(bars, [split["ticker"]], start, end, known_splits)
    weights = pd.DataFrame(np.nan, index=market.closes.index, columns=market.closes.columns)
    weights.iloc[1] = 0.9  # buy and hold across the split
    return Scenario(
        "split",
        market,
        weights,
        costs,
        f"Raw prices across {split['ticker']}'s {split['factor']:g}:1 split on "
        f"{split['date'].date()}, bought and held. Only zipline applies the split (bundle "
        "adjustment): the others see a false loss and need split-adjusted prices.",
    )


def scenarios_from_closes(
    closes: pd.DataFrame, *, n_tickers: int = 4, window_bars: int = 252
) -> list[Scenario]:
    """:func:`standard_scenarios` on wide closes (the warehouse's): the last ``window_bars`` bars
    and the first ``n_tickers`` tickers (sorted) with a close on every one of them.

    Closes only: the next-open scenarios report that the engines need opens.
    """
    window = closes.iloc[-window_bars:]
    complete = sorted(str(t) for t in window.columns[window.notna().all()])
    if len(complete) < max(n_tickers, 3):
        raise ValueError(
            f"need {max(n_tickers, 3)} tickers with a close on each of the last {window_bars} "
            f"bars, found {len(complete)}"
        )
    tickers = complete[:n_tickers]
    bars = window[tickers].rename_axis(index="date", columns="ticker").stack().rename("close")
    return standard_scenarios(bars.reset_index(), tickers, window.index[0], window.index[-1])
