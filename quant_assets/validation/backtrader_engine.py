"""Adapter: backtrader 1.9 (``Cerebro`` with one data feed per ticker and a target-weight strategy).

Settings that make it agree with the common rules:

* close fills: ``cheat_on_close`` (``broker.set_coc(True)``): a market order placed in ``next``
  fills at that bar's close. backtrader settles it in the next bar's cycle, so the equity after
  each bar is rebuilt from backtrader's own fills (:func:`~quant_assets.validation.common.ledger_equity`);
  orders placed on the last bar never fill;
* next-open fills: ``cheat_on_open`` with ``broker.set_coo(True)``: the strategy's ``next_open``
  sizes the previous bar's targets at this bar's opens and the orders fill at that open;
* sizing: the strategy computes ``w * E / p - held`` itself (``order_target_percent`` would
  size from ``broker.getvalue()`` at the close and round the *value* difference with
  ``int(value / price)``), truncated toward zero for whole shares; sells are submitted first;
* costs: a commission class charging ``|size| * price * fee_bps / 1e4 + |size| * fee_per_share``
  on the slipped price; slippage ``slip_perc`` with ``slip_open=True`` (market orders count as
  open fills) and ``slip_out=True`` (no capping at the bar's high/low);
* a clock feed carrying every date comes first, so that a ticker whose prices end early does
  not stop the strategy; each ticker's feed holds only its own bars.

backtrader checks cash when an order is submitted and rejects an unaffordable buy outright
(``Margin``): there is no partial fill of a cash-binding order.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from quant_assets.validation.common import (
    CostConfig,
    EngineRun,
    Market,
    ledger_equity,
    trades_frame,
)

NAME = "backtrader"

# An order smaller than this many shares is w * E / p rounding noise, not an order.
_MIN_ORDER = 1e-9


def run(market: Market, weights: pd.DataFrame, costs: CostConfig) -> EngineRun:
    """Run ``weights`` on backtrader."""
    import backtrader as bt

    closes = market.closes
    fill = market.fill_prices(costs.execution)
    targets = weights.reindex(index=closes.index, columns=closes.columns).to_numpy(np.float64)
    cerebro = bt.Cerebro(
        stdstats=False, cheat_on_open=costs.execution == "next_open", preload=True, runonce=False
    )
    cerebro.broker = bt.brokers.BackBroker(
        cash=costs.initial_cash,
        coc=costs.execution == "close",
        coo=costs.execution == "next_open",
        slip_perc=costs.slippage_bps / 1e4,
        slip_open=True,
        slip_match=True,
        slip_out=True,
    )
    cerebro.broker.addcommissioninfo(_commission_class(bt)(costs.fee_bps, costs.fee_per_share))
    cerebro.adddata(bt.feeds.PandasData(dataname=_clock_bars(closes.index)), name="__clock__")
    for ticker in closes.columns:
        cerebro.adddata(bt.feeds.PandasData(dataname=_bars(market, ticker)), name=str(ticker))
    cerebro.addstrategy(
        _strategy_class(bt),
        dates={d.date(): i for i, d in enumerate(closes.index)},
        targets=targets,
        fill=fill.to_numpy(np.float64),
        last_close=closes.ffill().to_numpy(np.float64),
        costs=costs,
    )
    start = time.perf_counter()
    strategy = cerebro.run()[0]
    seconds = time.perf_counter() - start
    trades = trades_frame(strategy.fills)
    return EngineRun(
        engine=NAME,
        equity=ledger_equity(trades, closes, costs.initial_cash),
        trades=trades,
        final_value=float(strategy.final_value),
        seconds=seconds,
    )


def _clock_bars(dates: pd.DatetimeIndex) -> pd.DataFrame:
    ones = np.ones(len(dates))
    return pd.DataFrame(
        {"open": ones, "high": ones, "low": ones, "close": ones, "volume": ones}, index=dates
    )


def _bars(market: Market, ticker: str) -> pd.DataFrame:
    close = market.closes[ticker]
    has_bar = close.notna()
    opens = market.opens[ticker] if market.opens is not None else close
    opens = opens.where(opens.notna(), close)
    volume = market.volumes[ticker] if market.volumes is not None else close * 0.0
    frame = pd.DataFrame(
        {
            "open": opens,
            "high": np.fmax(opens, close),
            "low": np.fmin(opens, close),
            "close": close,
            "volume": volume.fillna(0.0),
        }
    )
    return frame[has_bar]


def _commission_class(bt):
    class PercentAndPerShare(bt.CommInfoBase):
        """``|size| * price * pct + |size| * per_share`` on the fill price."""

        params = (("stocklike", True), ("commtype", bt.CommInfoBase.COMM_FIXED))

        def __init__(self, fee_bps: float, fee_per_share: float):
            super().__init__()
            self._pct = fee_bps / 1e4
            self._per_share = fee_per_share

        def _getcommission(self, size, price, pseudoexec):
            return abs(size) * (price * self._pct + self._per_share)

    return PercentAndPerShare


def _strategy_class(bt):
    class TargetWeights(bt.Strategy):
        params = (
            ("dates", None),
            ("targets", None),
            ("fill", None),
            ("last_close", None),
            ("costs", None),
        )

        def __init__(self):
            self.fills = []
            self.final_value = np.nan
            self.tickers = self.datas[1:]

        def notify_order(self, order):
            if order.status == order.Completed:
                self.fills.append(
                    {
                        "date": bt.num2date(order.executed.dt).date(),
                        "ticker": order.data._name,
                        "shares": order.executed.size,
                        "price": order.executed.price,
                        "fee": order.executed.comm,
                    }
                )

        def _bar(self):
            return self.p.dates[self.datas[0].datetime.date(0)]

        def next(self):
            if self.p.costs.execution == "close":
                i = self._bar()
                self._rebalance(i, i, self.broker.getvalue())

        def next_open(self):
            i = self._bar()
            if i == 0:
                return
            held = np.array([self.getposition(d).size for d in self.tickers])
            price = self.p.fill[i]
            mark = np.where(np.isnan(price), self.p.last_close[i - 1], price)
            equity = self.broker.getcash() + float(np.nansum(held * mark))
            self._rebalance(i - 1, i, equity)

        def _rebalance(self, signal_bar, fill_bar, equity):
            weights = self.p.targets[signal_bar]
            prices = self.p.fill[fill_bar]
            orders = []
            for j, data in enumerate(self.tickers):
                if np.isnan(weights[j]) or np.isnan(prices[j]):
                    continue
                size = weights[j] * equity / prices[j] - self.getposition(data).size
                if self.p.costs.whole_shares:
                    size = float(np.trunc(size))
                if abs(size) > _MIN_ORDER:
                    orders.append((size, data))
            for size, data in sorted(orders, key=lambda order: order[0] > 0):
                if size > 0:
                    self.buy(data=data, size=size)
                else:
                    self.sell(data=data, size=-size)

        def stop(self):
            self.final_value = self.broker.getvalue()

    return TargetWeights
