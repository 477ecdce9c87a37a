"""A loopback stand-in for what the Marketplace asks of GitHub, serving this repository.

Home Assistant 2026.11's Marketplace (the core successor of HACS) installs a catalogued
integration from three places: the HACS catalogue (data-v2), raw files (hacs.json, the
manifest) and the repository archive of the release. This serves them on 127.0.0.1, with this
checkout published as release `v<manifest version>` of `pai-ha/pai-homeassistant`: the files a
release carries (hacs.json, README.md, LICENSE, CHANGELOG.md and custom_components/pai), in
GitHub's formats. The GitHub REST API is not served: an anonymous install from the catalogue
does not call it. Every request is kept; one it does not know is answered 404, as GitHub does,
and listed in `unknown`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import io
import json
from pathlib import Path
import threading
import zipfile

from aiohttp import web

from .hass_process import REPO

OWNER, NAME = "pai-ha", "pai-homeassistant"
FULL_NAME = f"{OWNER}/{NAME}"
REPO_ID = "812345678"
TOP_LEVEL = ("hacs.json", "README.md", "LICENSE", "CHANGELOG.md")
STAMP = "2026-12-02T12:00:00Z"


def release_files() -> dict[str, bytes]:
    """The files of this repository that a release of it carries, by path."""
    files = {name: (REPO / name).read_bytes() for name in TOP_LEVEL}
    for path in sorted((REPO / "custom_components" / "pai").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[path.relative_to(REPO).as_posix()] = path.read_bytes()
    return files


@dataclass
class GitHubStandIn:
    """The server; `url` is its base, the Marketplace profile's endpoints lie below it."""

    files: dict[str, bytes] = field(default_factory=release_files)
    requests: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    url: str = ""
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None

    @property
    def version(self) -> str:
        manifest = json.loads(self.files["custom_components/pai/manifest.json"])
        return f"v{manifest['version']}"

    def start(self) -> None:
        """Serve from a thread of its own (the tests that use it are synchronous)."""
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._route)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- routing --------------------------------------------------------------------------

    async def _route(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.requests.append(request.path_qs)
        raw = f"/raw/{FULL_NAME}/"
        archive = f"/github/{FULL_NAME}/archive/refs/tags/{self.version}.zip"
        if path.startswith("/catalog/"):
            return self._catalog(path.removeprefix("/catalog/"))
        if path.startswith(raw):
            _, _, file = path.removeprefix(raw).partition("/")
            if file in self.files:
                return web.Response(body=self.files[file])
        if path == archive:
            return web.Response(body=self._zip(), content_type="application/zip")
        self.unknown.append(request.path_qs)
        return web.json_response({"message": "Not Found"}, status=404)

    def _catalog(self, section: str) -> web.Response:
        if section == "integration/data.json":
            return web.json_response(
                {
                    REPO_ID: {
                        "description": "Proactive agents for Home Assistant",
                        "domain": "pai",
                        "etag_repository": '"r1"',
                        "full_name": FULL_NAME,
                        "last_fetched": 1764676800,
                        "last_updated": STAMP,
                        "last_version": self.version,
                        "manifest": {
                            "name": json.loads(self.files["hacs.json"])["name"]
                        },
                        "manifest_name": "PAI Proactive Agents",
                        "stargazers_count": 1,
                        "topics": ["home-assistant", "hacs"],
                    }
                }
            )
        if section in ("removed/data.json", "critical/data.json"):
            return web.json_response([])
        if section.endswith("/data.json"):
            return web.json_response({})
        self.unknown.append(f"/catalog/{section}")
        return web.json_response({"message": "Not Found"}, status=404)

    def _zip(self) -> bytes:
        buffer = io.BytesIO()
        prefix = f"{NAME}-{self.version.removeprefix('v')}/"
        with zipfile.ZipFile(buffer, "w") as archive:
            for path, data in self.files.items():
                archive.writestr(prefix + path, data)
        return buffer.getvalue()


SITECUSTOMIZE = '''\
"""Test only: the Marketplace's default download profile, pointed at the loopback stand-in."""
import os

if url := os.environ.get("PAI_GITHUB_STANDIN"):
    from homeassistant.components.marketplace import profiles

    profiles.GITHUB = profiles.DownloadProfile(
        id=profiles.GITHUB.id,
        operator="PAI's tests",
        api=url + "/api",
        github=url + "/github",
        raw=url + "/raw",
        catalog=url + "/catalog",
    )
    profiles.PROFILES[profiles.GITHUB.id] = profiles.GITHUB
'''


def write_sitecustomize(folder: Path) -> Path:
    """A `sitecustomize` for the `hass` process: the profile that uses the stand-in."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return folder
