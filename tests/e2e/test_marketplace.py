"""Home Assistant 2026.11's Marketplace installs PAI, from a stand-in for GitHub on loopback.

The Marketplace (`homeassistant.components.marketplace`, the core successor of HACS) is the
real code of the installed release: it reads the HACS catalogue, reads hacs.json and downloads
the release's archive. Only GitHub is a stand-in
(tests/e2e/github_standin.py, serving this checkout as release v<version>), reached through the
Marketplace's own download profile, re-pointed before `hass` starts. The user's steps go
through the websocket commands its panel sends: accept the first-run warning, find PAI in the
list, install it. Skipped on releases without a Marketplace (2026.10).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import importlib.util
import json
from pathlib import Path
import time
from typing import Any

import pytest

from .github_standin import FULL_NAME, REPO_ID, GitHubStandIn, write_sitecustomize
from .hass_process import REPO, HassInstance, run_hass
from .ws import allow_sockets, connect, finish_onboarding

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.usefixtures("socket_enabled"),
    pytest.mark.skipif(
        importlib.util.find_spec("homeassistant.components.marketplace") is None,
        reason="this Home Assistant has no Marketplace (it came with 2026.11)",
    ),
]


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    server = GitHubStandIn()
    server.start()
    yield server
    server.stop()


async def marketplace_repository(hass: HassInstance) -> dict[str, Any]:
    """Wait until the Marketplace lists PAI from the catalogue; return its summary."""
    deadline = time.monotonic() + 60
    async with connect(hass) as ws:
        while True:
            listed = await ws.command(
                "marketplace/repositories/list", categories=["integration"]
            )
            found = [item for item in listed if item.get("full_name") == FULL_NAME]
            if found:
                return dict(found[0])
            assert time.monotonic() < deadline, f"PAI never listed: {listed}"
            await asyncio.sleep(0.5)


async def install(hass: HassInstance, repository: str) -> None:
    async with connect(hass) as ws:
        await ws.command("marketplace/warning/accept")
        await ws.command("marketplace/repository/install", repository=repository)


def test_the_marketplace_installs_pai_from_its_catalogue(
    tmp_path: Path, github: GitHubStandIn
) -> None:
    allow_sockets()
    site = write_sitecustomize(tmp_path / "site")
    with run_hass(
        tmp_path,
        env={"PYTHONPATH": str(site), "PAI_GITHUB_STANDIN": github.url},
        extra_config="marketplace:\n",
    ) as hass:
        hass.onboard()
        finish_onboarding(hass)
        summary = asyncio.run(marketplace_repository(hass))
        assert str(summary["id"]) == REPO_ID
        asyncio.run(install(hass, str(summary["id"])))

        installed = hass.config_dir / "custom_components" / "pai"
        ours = REPO / "custom_components" / "pai"
        assert json.loads((installed / "manifest.json").read_text()) == json.loads(
            (ours / "manifest.json").read_text()
        )
        assert sorted(
            p.relative_to(installed).as_posix()
            for p in installed.rglob("*")
            if p.is_file()
        ) == sorted(
            p.relative_to(ours).as_posix()
            for p in ours.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        )
        # The catalogue, hacs.json, the release's archive: what the real code asked for.
        assert github.unknown == [], github.unknown
        assert f"/raw/{FULL_NAME}/{github.version}/hacs.json" in github.requests
        assert (
            f"/github/{FULL_NAME}/archive/refs/tags/{github.version}.zip"
            in github.requests
        )
