"""The import direction of DESIGN.md, checked on the source: ``dags``, ``yujing`` →
``alerting`` → ``hazard_models`` → ``ingest``; neither ``ingest`` nor ``hazard_models``
imports Airflow.

Every ``import`` and ``from … import`` of every module counts, including those inside
functions (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# package -> top-level packages it must never import
FORBIDDEN = {
    "ingest": {"hazard_models", "alerting", "yujing", "dags", "airflow"},
    "hazard_models": {"alerting", "yujing", "dags", "airflow"},
    "alerting": {"yujing", "dags", "airflow"},
}


def _imported_packages(path: Path) -> dict[str, int]:
    """Top-level packages imported by the module at ``path``, with a line of each."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            found.setdefault(name.split(".")[0], node.lineno)
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_go_one_way(package: str) -> None:
    modules = sorted((REPO / package).rglob("*.py"))
    assert len(modules) > 5
    wrong = [
        f"{path.relative_to(REPO)}:{line} imports {name}"
        for path in modules
        for name, line in _imported_packages(path).items()
        if name in FORBIDDEN[package]
    ]
    assert wrong == []


def test_the_checker_sees_a_lazy_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text("def f():\n    from yujing import settings\n    import airflow.sdk\n")
    assert _imported_packages(module) == {"yujing": 2, "airflow": 3}
