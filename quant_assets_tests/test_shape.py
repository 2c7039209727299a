"""The shape the house rules ask of the code, checked statically (issue 13).

* no function in ``assets/`` or ``automation/`` longer than 60 lines (thin Dagster layer);
* no SQL text outside ``warehouse/``;
* every field of every Dagster ``Config`` / ``ConfigurableResource`` of the package described;
* the environment read only in ``quant_assets/settings.py``;
* ``dagster_mlflow`` (a declared dependency) imported somewhere.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from quant_assets_tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "quant_assets"
THIN_LAYERS = ("assets", "automation")
MAX_FUNCTION_LINES = 60
SQL_START = re.compile(r"^\s*(SELECT|INSERT|DELETE|UPDATE|CREATE|WITH)\b", re.IGNORECASE)
# A keyword in lower case counts when a clause follows: " with different " is prose.
SQL_CLAUSE = re.compile(r"\b(FROM|INTO|TABLE|SET|VALUES|VIEW|WHERE|AS)\b", re.IGNORECASE)
ENV_ATTRIBUTES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
SETTINGS_MODULE = PACKAGE / "settings.py"


def modules(root: Path = PACKAGE) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(root.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def looks_like_sql(text: str) -> bool:
    match = SQL_START.match(text)
    return bool(match) and (match.group(1).isupper() or bool(SQL_CLAUSE.search(text)))


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(REPO_ROOT)}:{node.lineno}"


def docstring_nodes(tree: ast.Module) -> set[int]:
    """ids of the string constants that are docstrings (module, class, function)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def string_starts(tree: ast.Module) -> Iterator[tuple[ast.AST, str]]:
    """Every string literal (the literal start of an f-string) that is not a docstring."""
    docstrings = docstring_nodes(tree)
    inside_fstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            inside_fstrings |= {id(v) for v in node.values}
            first = node.values[0] if node.values else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield node, first.value
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings | inside_fstrings
        ):
            yield node, node.value


@pytest.mark.parametrize("layer", THIN_LAYERS)
def test_no_function_in_the_dagster_layer_is_longer_than_60_lines(layer):
    long = [
        f"{where(path, node)} {node.name}: {node.end_lineno - node.lineno + 1} lines"
        for path, tree in modules(PACKAGE / layer)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, "functions over 60 lines:\n" + "\n".join(long)


def test_sql_text_lives_only_in_the_warehouse_package():
    warehouse = PACKAGE / "warehouse"
    found = [
        f"{where(path, node)}: {text.strip()[:60]!r}"
        for path, tree in modules()
        if not path.is_relative_to(warehouse)
        for node, text in string_starts(tree)
        if looks_like_sql(text)
    ]
    assert not found, "SQL outside quant_assets/warehouse/:\n" + "\n".join(found)


def test_the_environment_is_read_only_in_settings():
    found = []
    for path, tree in modules():
        if path == SETTINGS_MODULE:
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ENV_ATTRIBUTES
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
            ):
                found.append(f"{where(path, node)}: os.{node.attr}")
            elif isinstance(node, ast.ImportFrom) and node.module == "os":
                found += [
                    f"{where(path, node)}: from os import {a.name}"
                    for a in node.names
                    if a.name in ENV_ATTRIBUTES
                ]
    assert not found, "environment access outside settings.py:\n" + "\n".join(found)


def test_the_static_checks_see_what_they_look_for():
    """The walkers above do find a SQL literal, an f-string query and an env read."""
    tree = ast.parse(
        '"""SELECT in a docstring is prose."""\nimport os\nQ = "  select 1 as one"\n'
        'R = f"DELETE FROM {t}"\nS = " with care"\nT = "WITH x AS (SELECT 1) FROM x"\n'
        'V = os.environ.get("X")\n'
    )
    texts = [text for _, text in string_starts(tree) if looks_like_sql(text)]
    assert texts == ["DELETE FROM ", "  select 1 as one", "WITH x AS (SELECT 1) FROM x"]
    assert any(isinstance(n, ast.Attribute) and n.attr == "environ" for n in ast.walk(tree))


def config_classes() -> list[type]:
    from dagster import Config

    import quant_assets.definitions  # noqa: F401  (imports every Config of the code location)

    seen, pending = [], [Config]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.append(sub)
                pending.append(sub)
    return [c for c in seen if c.__module__.startswith("quant_assets")]


def test_every_config_field_has_a_description():
    classes = config_classes()
    names = {c.__name__ for c in classes}
    assert {"Warehouse", "RawFileStore", "FMPClient", "ComputeResource"} <= names
    missing = [
        f"{cls.__module__}.{cls.__name__}.{name}"
        for cls in classes
        for name, field in cls.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert not missing, "Config fields without a description:\n" + "\n".join(missing)


def test_dagster_mlflow_is_imported_by_the_package():
    importers = [
        str(path.relative_to(REPO_ROOT))
        for path, tree in modules()
        for node in ast.walk(tree)
        if (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dagster_mlflow"))
        or (
            isinstance(node, ast.Import)
            and any(a.name.split(".")[0] == "dagster_mlflow" for a in node.names)
        )
    ]
    assert importers, "dagster-mlflow is a declared dependency that nothing imports"
