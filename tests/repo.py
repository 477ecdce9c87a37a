"""Where the integration's files are, and reading its JSON (no Home Assistant test plugin needed).

test_hassfest.py imports this in scripts/test's second environment too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).parent.parent

INTEGRATION = REPO / "custom_components" / "pai"


def _json(path: Path) -> Any:
    """Return a JSON file's content."""
    return json.loads(path.read_text(encoding="utf-8"))
