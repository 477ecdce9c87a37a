"""The engine stays pure Python: no module under engine/ imports Home Assistant.

That keeps it testable in isolation and usable from the authors' command line. Importing
the integration package (`custom_components.pai`) counts too, since it imports Home
Assistant; the check reads the source, so it also covers code that tests never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[2] / "custom_components" / "pai" / "engine"
FORBIDDEN = ("homeassistant", "custom_components.pai")
ALLOWED = "custom_components.pai.engine"


def forbidden_imports(source: str, filename: str = "<engine>") -> list[str]:
    """`line: module` for each import that reaches Home Assistant or the integration."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level > 1:  # `from .. import x` climbs out of engine/
                found.append(f"{node.lineno}: {'.' * node.level}{node.module or ''}")
                continue
            if node.level == 1:
                continue
            modules = [node.module or ""]
        else:
            continue
        found.extend(
            f"{node.lineno}: {module}" for module in modules if _is_forbidden(module)
        )
    return found


def _is_forbidden(module: str) -> bool:
    if module == ALLOWED or module.startswith(f"{ALLOWED}."):
        return False
    return any(module == name or module.startswith(f"{name}.") for name in FORBIDDEN)


ENGINE_MODULES = sorted(ENGINE.rglob("*.py"))


def test_the_engine_has_modules() -> None:
    assert {path.name for path in ENGINE_MODULES} >= {"__init__.py", "models.py"}


@pytest.mark.parametrize("path", ENGINE_MODULES, ids=lambda p: p.name)
def test_no_engine_module_imports_home_assistant(path: Path) -> None:
    assert forbidden_imports(path.read_text(encoding="utf-8"), str(path)) == []


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import homeassistant", ["1: homeassistant"]),
        ("import json, homeassistant.core as core", ["1: homeassistant.core"]),
        ("from homeassistant.core import HomeAssistant", ["1: homeassistant.core"]),
        ("from homeassistant import core", ["1: homeassistant"]),
        ("def f():\n    import homeassistant.helpers", ["2: homeassistant.helpers"]),
        ("from custom_components.pai import const", ["1: custom_components.pai"]),
        ("from .. import const", ["1: .."]),
        ("from ..const import DOMAIN", ["1: ..const"]),
        ("from .models import Event", []),
        ("from custom_components.pai.engine import models", []),
        ("import homeassistant_like", []),
        ("import json", []),
    ],
)
def test_the_check_finds_every_way_in(source: str, found: list[str]) -> None:
    assert forbidden_imports(source) == found
