"""Print the requirements of the integrations PAI's tests load, as the installed HA pins them.

Reads the manifests of the Home Assistant in this environment (without importing it): PAI's
dependencies, the demo configuration's (`default_config`, `demo`) and the core `anthropic` and
`marketplace` integrations, with everything they depend on. scripts/setup installs the list
with that release's package constraints, so a real `hass` never pip-installs during a test.
Usage: python scripts/ha_requirements.py [DOMAIN ...]
       python scripts/ha_requirements.py --constraints  (the path of HA's package constraints)
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
import sys

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("default_config", "demo", "anthropic", "marketplace", "logbook", "mobile_app")


def components_dir() -> Path:
    """Return the `homeassistant/components` folder of the installed Home Assistant."""
    spec = importlib.util.find_spec("homeassistant")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("ha_requirements: Home Assistant is not installed here")
    return Path(next(iter(spec.submodule_search_locations))) / "components"


def requirements(roots: list[str]) -> list[str]:
    """Every requirement of `roots` and of what they depend on, sorted, without duplicates."""
    components = components_dir()
    pai = json.loads((REPO / "custom_components/pai/manifest.json").read_text())
    todo = [*roots, *pai.get("dependencies", []), *pai.get("after_dependencies", [])]
    seen: set[str] = set()
    found: set[str] = set()
    while todo:
        domain = todo.pop()
        manifest_file = components / domain / "manifest.json"
        if domain in seen or not manifest_file.is_file():
            continue  # e.g. `marketplace` before 2026.11
        seen.add(domain)
        manifest = json.loads(manifest_file.read_text())
        found.update(manifest.get("requirements", []))
        todo += manifest.get("dependencies", []) + manifest.get(
            "after_dependencies", []
        )
    return sorted(found)


if __name__ == "__main__":
    if sys.argv[1:] == ["--constraints"]:
        print(components_dir().parent / "package_constraints.txt")  # noqa: T201
    else:
        print("\n".join(requirements(sys.argv[1:] or list(ROOTS))))  # noqa: T201
