"""The domain stays pure: its modules import only the standard library, pydantic, anyascii and pycountry."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "onboarding"
ALLOWED_THIRD_PARTY = {"pydantic", "anyascii", "pycountry", "onboarding"}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_domain_module_imports_nothing_with_io(path: Path) -> None:
    foreign = imported_roots(path) - set(sys.stdlib_module_names) - ALLOWED_THIRD_PARTY
    assert not foreign, f"{path.name} imports {sorted(foreign)}"


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_domain_module_does_no_network_or_subprocess(path: Path) -> None:
    assert not imported_roots(path) & {"socket", "subprocess", "urllib", "http", "asyncio", "ssl", "logging"}
