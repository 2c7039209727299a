"""The backtest report on real S&P 500 bars: structure, images, escaping, atomic idempotent writes."""

from __future__ import annotations

import base64
import dataclasses
import io
import os
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from quant_assets.backtest import compute_metrics, run_backtest
from quant_assets.backtest.report import (
    KEY_METRICS,
    SECTIONS,
    ReportInputs,
    format_metric,
    metrics_markdown,
    render_report,
)
from quant_assets.ingest import read_prices
from quant_assets_tests.test_backtest.signals import momentum_sign_weights, month_end_only

OUT_OF_SAMPLE = "2014-01-02"
FEES_BPS = (0, 2, 5, 10, 20)
HOSTILE = "<script>alert('x')</script>"


def sample_inputs(data_dir: Path, n_tickers: int = 30) -> ReportInputs:
    """Three month-end strategies on the first ``n_tickers`` S&P 500 names, out of sample from 2014.

    The benchmark is the equal-weight average of all 505 names; Monte Carlo intervals come from
    an i.i.d. bootstrap of daily returns.
    """
    valid, _ = read_prices(data_dir / "sp500_5yr_2013_2018.csv.gz")
    all_closes = valid.assign(ticker=valid["ticker"].astype(str)).pivot(
        index="date", columns="ticker", values="close"
    )
    closes = all_closes.iloc[:, :n_tickers]
    equal = (closes.notna() * (1.0 / n_tickers)).where(closes.notna())
    targets = {
        "equal_weight": month_end_only(equal),
        "momentum_60d": month_end_only(momentum_sign_weights(closes, lookback=60, long_only=True)),
        "reversal_20d": month_end_only((-momentum_sign_weights(closes, lookback=20)).clip(lower=0)),
    }
    bench_returns = all_closes.pct_change(fill_method=None).mean(axis=1).fillna(0.0)
    benchmark = (1.0 + bench_returns).cumprod().rename("S&P 500 equal weight")

    equity, metrics, sharpe_by_fee, intervals = {}, {}, {}, []
    for name, weights in targets.items():
        runs = {
            fee: run_backtest(closes, weights, fee_bps=fee, initial_cash=1e6) for fee in FEES_BPS
        }
        sharpe_by_fee[name] = {
            fee: compute_metrics(r.returns.loc[OUT_OF_SAMPLE:])["sharpe"] for fee, r in runs.items()
        }
        result = runs[5]
        returns = result.returns.loc[OUT_OF_SAMPLE:]
        traded = result.trades.assign(gross=result.trades["notional"].abs())
        turnover = (
            traded.groupby("date")["gross"].sum().reindex(result.equity.index, fill_value=0.0)
        )
        metrics[name] = compute_metrics(
            returns,
            bench_returns.loc[OUT_OF_SAMPLE:],
            weights=result.weights.loc[OUT_OF_SAMPLE:],
            turnover=(turnover / result.equity).loc[OUT_OF_SAMPLE:],
        )
        equity[name] = result.equity.loc[OUT_OF_SAMPLE:]
        intervals.append(_bootstrap_intervals(name, returns.to_numpy()))
    return ReportInputs(
        title="S&P 500 sample: month-end baselines",
        equity=pd.DataFrame(equity),
        benchmark=benchmark,
        metrics=pd.DataFrame(metrics).T,
        cost_sensitivity=pd.DataFrame(sharpe_by_fee).rename_axis("fee_bps"),
        monte_carlo=pd.concat(intervals, ignore_index=True),
        lineage={
            "model_version": "baselines (no model)",
            "data_range": f"{closes.index[0]:%Y-%m-%d} .. {closes.index[-1]:%Y-%m-%d}",
            "out_of_sample_from": OUT_OF_SAMPLE,
            "tickers": f"{n_tickers} of {all_closes.shape[1]} (alphabetical)",
            "dagster_run_id": "test-run-0000",
        },
        notes=["Fees 5 bps for the curves and metrics; no slippage."],
    )


def _bootstrap_intervals(strategy: str, returns: np.ndarray, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    paths = returns[rng.integers(0, len(returns), size=(n, len(returns)))]
    wealth = np.cumprod(1.0 + paths, axis=1)
    stats = {
        "sharpe": paths.mean(axis=1) / paths.std(axis=1, ddof=1) * np.sqrt(252),
        "annual_return": wealth[:, -1] ** (252 / len(returns)) - 1.0,
        "max_drawdown": (wealth / np.maximum.accumulate(wealth, axis=1) - 1.0).min(axis=1),
    }
    point = compute_metrics(pd.Series(returns))
    return pd.DataFrame(
        {
            "strategy": strategy,
            "metric": list(stats),
            "point": [point[key] for key in stats],
            "lower": [np.quantile(v, 0.025) for v in stats.values()],
            "upper": [np.quantile(v, 0.975) for v in stats.values()],
            "level": 0.95,
        }
    )


class _Page(HTMLParser):
    """Collects tags, ids, image sources and text; records end tags that close the wrong element."""

    VOID = frozenset({"meta", "img", "br", "hr", "link", "input"})

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter[str] = Counter()
        self.ids: list[str] = []
        self.images: list[str] = []
        self.texts: list[str] = []
        self.open: list[str] = []
        self.mismatched: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags[tag] += 1
        if "id" in attributes:
            self.ids.append(attributes["id"])
        if tag == "img":
            self.images.append(attributes["src"])
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if not self.open or self.open.pop() != tag:
            self.mismatched.append(tag)

    def handle_data(self, data):
        if data.strip():
            self.texts.append(data.strip())


@pytest.fixture(scope="module")
def inputs(shared_data: Path) -> ReportInputs:
    return sample_inputs(shared_data)


@pytest.fixture(scope="module")
def rendered(inputs, tmp_path_factory):
    files = render_report(inputs, tmp_path_factory.mktemp("report"))
    return files, _Page(files.html.read_text(encoding="utf-8"))


def _png_image(data: bytes) -> Image.Image:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    Image.open(io.BytesIO(data)).verify()
    return Image.open(io.BytesIO(data))


def test_report_is_well_formed_html_with_every_section_and_strategy(inputs, rendered):
    _, page = rendered
    assert not page.open and not page.mismatched
    assert list(SECTIONS) + ["notes"] == [i for i in page.ids if i in {*SECTIONS, "notes"}]
    assert set(SECTIONS.values()) <= set(page.texts)
    for strategy in inputs.equity.columns:
        # key metrics, monthly heading, cost table, Monte Carlo rows, full table
        assert page.texts.count(strategy) >= 4 + 3
    assert inputs.lineage["data_range"] in page.texts
    assert "script" not in page.tags and "link" not in page.tags  # self-contained, no JS


def test_embedded_images_are_pngs(rendered):
    _, page = rendered
    assert len(page.images) == 4  # equity, drawdowns, rolling Sharpe, cost sensitivity
    for source in page.images:
        prefix, data = source.split(",", 1)
        assert prefix == "data:image/png;base64"
        image = _png_image(base64.b64decode(data, validate=True))
        assert image.width >= 600 and image.height >= 300


def test_equity_png_is_a_drawn_image_of_sensible_size_and_matches_the_report(rendered):
    files, page = rendered
    data = files.equity_png.read_bytes()
    image = _png_image(data)
    assert 600 <= image.width <= 2000 and 300 <= image.height <= 1200
    assert 10_000 < len(data) < 1_000_000
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 50  # lines, not a blank canvas
    assert page.images[0] == "data:image/png;base64," + base64.b64encode(data).decode()


def test_numbers_are_percent_for_returns_and_two_decimals_for_ratios(inputs, rendered):
    files, _ = rendered
    text = files.html.read_text(encoding="utf-8")
    row = inputs.metrics.loc["momentum_60d"]
    for name in KEY_METRICS:
        assert f">{format_metric(name, row[name])}<" in text
    assert format_metric("annual_return", 0.12345) == "12.35%"
    assert format_metric("max_drawdown", -0.2) == "-20.00%"
    assert format_metric("sharpe", 1.2345) == "1.23"
    assert format_metric("longest_drawdown", 153.0) == "153"
    assert format_metric("sortino", np.nan) == "–"


def test_metrics_markdown_has_one_row_per_strategy(inputs):
    markdown = metrics_markdown(inputs.metrics)
    lines = markdown.splitlines()
    assert len(lines) == 2 + len(inputs.metrics)
    assert lines[0].count("|") == len(KEY_METRICS) + 2
    for line, (strategy, row) in zip(lines[2:], inputs.metrics.iterrows(), strict=True):
        assert line.startswith(f"| {strategy} |")
        assert f"| {row['annual_return']:.2%} |" in line
    assert (
        metrics_markdown(inputs.metrics, columns=["sharpe"]).splitlines()[0]
        == "| Strategy | Sharpe |"
    )


def test_strings_from_data_are_escaped(inputs, tmp_path):
    renamed = {"momentum_60d": HOSTILE}
    hostile = dataclasses.replace(
        inputs,
        title=f"Report {HOSTILE}",
        equity=inputs.equity.rename(columns=renamed),
        metrics=inputs.metrics.rename(index=renamed),
        cost_sensitivity=inputs.cost_sensitivity.rename(columns=renamed),
        monte_carlo=inputs.monte_carlo.replace({"strategy": renamed}),
        lineage={**inputs.lineage, "mlflow_run_id": '<img src=x onerror="alert(1)">'},
        notes=["a & b < c"],
    )
    text = render_report(hostile, tmp_path).html.read_text(encoding="utf-8")
    page = _Page(text)
    assert "<script" not in text and 'onerror="' not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert "script" not in page.tags and page.tags["img"] == 4
    assert page.texts.count(HOSTILE) >= 7 and "a & b < c" in page.texts
    markdown = metrics_markdown(hostile.metrics)
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown


def _copy_report(files, folder: Path) -> dict[str, bytes]:
    contents = {path.name: path.read_bytes() for path in (files.html, files.equity_png)}
    for name, data in contents.items():
        (folder / name).write_bytes(data)
    return contents


def test_rerendering_overwrites_in_place_with_identical_bytes(inputs, rendered, tmp_path):
    before = _copy_report(rendered[0], tmp_path)
    (tmp_path / "report.html").write_text("a stale report from an earlier run")
    again = render_report(inputs, tmp_path)
    assert again.html.read_bytes() == before["report.html"]
    assert again.equity_png.read_bytes() == before["equity.png"]
    assert sorted(os.listdir(tmp_path)) == ["equity.png", "report.html"]


def test_failed_write_keeps_the_previous_report_and_leaves_no_temp_file(
    inputs, rendered, tmp_path, monkeypatch
):
    previous = _copy_report(rendered[0], tmp_path)["report.html"]

    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        render_report(dataclasses.replace(inputs, title="never written"), tmp_path)
    assert (tmp_path / "report.html").read_bytes() == previous
    assert sorted(os.listdir(tmp_path)) == ["equity.png", "report.html"]


def test_report_without_benchmark_or_robustness_runs_still_has_every_section(inputs, tmp_path):
    bare = dataclasses.replace(
        inputs,
        benchmark=None,
        cost_sensitivity=pd.DataFrame(),
        monte_carlo=pd.DataFrame(),
        lineage={},
        notes=[],
    )
    page = _Page(render_report(bare, tmp_path, log_scale=True).html.read_text(encoding="utf-8"))
    assert [i for i in page.ids if i in SECTIONS] == list(SECTIONS) and "notes" not in page.ids
    assert len(page.images) == 3
    assert {
        "No cost sensitivity runs.",
        "No Monte Carlo intervals.",
        "No lineage recorded.",
    } <= set(page.texts)


def test_inputs_are_checked(inputs):
    with pytest.raises(ValueError, match="DatetimeIndex"):
        dataclasses.replace(inputs, equity=inputs.equity.reset_index(drop=True))
    with pytest.raises(ValueError, match="lacks columns"):
        dataclasses.replace(inputs, monte_carlo=inputs.monte_carlo.drop(columns="level"))
