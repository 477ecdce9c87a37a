"""Seed `<config>/.storage/http` so scripts/develop's Home Assistant listens on loopback only.

Since 2026.10 Home Assistant keeps its HTTP settings in storage: YAML settings are migrated
once as a *pending* trial that reverts (and restarts Home Assistant) after five minutes unless
someone confirms them in the UI. A stable stored config needs no confirmation. Usage:

    python scripts/http_store.py CONFIG_DIR HOST PORT
"""

from __future__ import annotations

import json
from pathlib import Path
import sys

from homeassistant.components.http.config import (
    HTTP_STORAGE_SCHEMA,
    KEY_PENDING,
    KEY_STABLE,
    KEY_YAML_MIGRATION_DONE,
    STORAGE_KEY,
    STORAGE_MINOR_VERSION,
    STORAGE_VERSION,
)
from homeassistant.util import dt as dt_util


def main(config_dir: str, host: str, port: str) -> None:
    """Write the stable HTTP config unless the instance already has one."""
    path = Path(config_dir, ".storage", STORAGE_KEY)
    if path.exists():
        return
    stable = {
        **HTTP_STORAGE_SCHEMA({"server_host": [host], "server_port": int(port)}),
        "created_at": dt_util.utcnow().isoformat(),
        "error": None,
        "error_message": None,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "version": STORAGE_VERSION,
                "minor_version": STORAGE_MINOR_VERSION,
                "key": STORAGE_KEY,
                "data": {
                    KEY_STABLE: stable,
                    KEY_PENDING: None,
                    KEY_YAML_MIGRATION_DONE: True,
                },
            },
            indent=2,
        ),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
