"""The report's "What drives each model" section, from a hand-made importance table."""

from __future__ import annotations

import pandas as pd

from quant_assets.backtest.report import IMPORTANCE_SECTION, ReportInputs, render_report


def _inputs(importance):
    dates = pd.bdate_range("2020-01-01", periods=30)
    equity = pd.DataFrame({"ridge": 1.0 + 0.001 * pd.RangeIndex(30)}, index=dates)
    return ReportInputs(
        title="t",
        equity=equity,
        metrics=pd.DataFrame({"sharpe": [1.0]}, index=["ridge"]),
        cost_sensitivity=pd.DataFrame(),
        monte_carlo=pd.DataFrame(),
        lineage={},
        importance=importance,
    )


def test_top_factors_per_model_and_method_in_importance_order(tmp_path):
    importance = pd.DataFrame(
        {
            "model": ["ridge", "ridge", "ridge", "xgboost"],
            "method": ["permutation", "permutation", "permutation", "shap"],
            "factor": ["a", "b", "c", "a"],
            "importance": [0.1, 0.5, -0.2, 0.03],
            "windows": [2, 2, 2, 2],
        }
    )
    html = render_report(_inputs(importance), tmp_path).html.read_text()
    key, title = IMPORTANCE_SECTION
    assert f'<section id="{key}">' in html and title in html
    section = html.split(f'<section id="{key}">')[1].split("</section>")[0]
    assert section.index("b (0.5)") < section.index("a (0.1)") < section.index("c (-0.2)")
    assert "xgboost" in section and "shap" in section


def test_no_importance_no_section(tmp_path):
    html = render_report(_inputs(None), tmp_path).html.read_text()
    assert f'id="{IMPORTANCE_SECTION[0]}"' not in html
