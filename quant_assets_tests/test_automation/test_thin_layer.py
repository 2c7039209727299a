"""The shape of the Dagster layer: short functions, no SQL text (SQL lives in warehouse/).

Covers the modules of the ingest assets and of the automation layer.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "quant_assets"
MODULES = [PACKAGE / "assets" / "ingest.py", *sorted((PACKAGE / "automation").glob("*.py"))]
MAX_FUNCTION_LINES = 60
SQL = re.compile(r"^\s*(SELECT|INSERT|DELETE|UPDATE|CREATE|WITH)\b", re.IGNORECASE)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_function_is_longer_than_the_limit(path):
    long = [
        (node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_sql_text_outside_the_warehouse_package(path):
    sql = [
        node.lineno
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.match(node.value)
    ]
    assert sql == []


def test_the_rule_catches_what_it_is_meant_to():
    assert SQL.match("  select ticker FROM instruments")
    assert SQL.match("WITH x AS (SELECT 1) SELECT * FROM x")
    assert not SQL.match("Selected tickers: AAPL")
