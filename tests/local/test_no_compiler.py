"""The local model on an installation without a compiler (Home Assistant OS, Container).

llama-cpp-python has no Linux wheels on PyPI: without a compiler its source build can only
fail, after minutes. PAI finds that out in seconds and starts no build; a Repairs issue says so
and its fix points the agent at an OpenAI-compatible server on another machine. What is not
here is made so for real: `PATH` without a compiler, and a package index on 127.0.0.1 (the
installer's `PIP_INDEX_URL`) listing the files a real index would. Only "llama_cpp is not
installed" is pretended, by asking for a module name that does not exist (it is installed in
this test environment).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import os
from pathlib import Path
import shutil
import time
from typing import Any

from aiohttp import web
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from packaging.tags import sys_tags
import pytest

from custom_components.pai import llama_runtime
from custom_components.pai.const import DOMAIN
from custom_components.pai.llama_runtime import LLAMA_REQUIREMENT, LlamaUnavailableError
from custom_components.pai.local_build import INDEX_TIMEOUT, async_build_problem
from tests.loopback import serving, start_serving

from ..helpers import start
from .conftest import local_entry
from .helpers import local_brain, rules_decide

VERSION = LLAMA_REQUIREMENT.partition("==")[2]
TAG = next(iter(sys_tags()))
FITTING = f"llama_cpp_python-{VERSION}-{TAG.interpreter}-{TAG.abi}-{TAG.platform}.whl"
SDIST = f"llama_cpp_python-{VERSION}.tar.gz"
OTHER_PLATFORM = f"llama_cpp_python-{VERSION}-cp314-cp314-win_amd64.whl"
OLDER_FITTING = FITTING.replace(VERSION, "0.3.2")
WEIGHTS = {"weights.gguf": {"sha256": "0" * 64, "size": 1}}


class PackageIndex:
    """A package index speaking the JSON simple API (PEP 691), as PyPI does."""

    def __init__(self) -> None:
        self.files: list[str] = [SDIST, OTHER_PLATFORM]
        self.requests: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/simple/{project}/", self._project)
        self._runner, base = await start_serving(app)
        self.url = f"{base}/simple"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _project(self, request: web.Request) -> web.Response:
        self.requests.append(request.match_info["project"])
        if request.match_info["project"] != "llama-cpp-python":
            raise web.HTTPNotFound
        return web.json_response(
            {
                "meta": {"api-version": "1.1"},
                "name": "llama-cpp-python",
                "files": [
                    {"filename": name, "url": name, "hashes": {}} for name in self.files
                ],
            },
            content_type="application/vnd.pypi.simple.v1+json",
        )


@pytest.fixture
async def index(socket_enabled: None) -> AsyncIterator[PackageIndex]:
    server = PackageIndex()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def no_compiler(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, index: PackageIndex
) -> Path:
    """An installation like Home Assistant OS: no compiler on PATH; the local index."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    for variable in ("CC", "CXX", "PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("UV_INDEX_URL", raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", index.url)
    return bin_dir


async def problem(hass: HomeAssistant) -> str | None:
    return await async_build_problem(hass, LLAMA_REQUIREMENT, "llama_cpp_not_here")


# --- the check ------------------------------------------------------------------------------


async def test_installed_needs_nothing(
    hass: HomeAssistant, index: PackageIndex
) -> None:
    assert await async_build_problem(hass, LLAMA_REQUIREMENT, "llama_cpp") is None
    assert index.requests == []


@pytest.mark.usefixtures("no_compiler")
async def test_no_wheel_and_no_compiler_is_said_in_seconds(
    hass: HomeAssistant, index: PackageIndex
) -> None:
    started = time.monotonic()
    said = await problem(hass)
    assert said is not None
    assert "no wheel for this system" in said
    assert "needs a C and C++ compiler" in said
    assert index.requests == ["llama-cpp-python"]
    assert time.monotonic() - started < 5  # seconds, not the minutes of a build


@pytest.mark.usefixtures("no_compiler")
async def test_a_wheel_for_this_platform_is_enough(
    hass: HomeAssistant, index: PackageIndex
) -> None:
    index.files.append(OLDER_FITTING)  # another version's wheel does not count
    assert await problem(hass) is not None
    index.files.append(FITTING)
    assert await problem(hass) is None


async def test_only_the_missing_compiler_is_named(
    hass: HomeAssistant, no_compiler: Path
) -> None:
    c_compiler = shutil.which("cc", path=os.defpath) or shutil.which(
        "gcc", path=os.defpath
    )
    assert c_compiler is not None  # the test environment has build-essential
    (no_compiler / "cc").symlink_to(c_compiler)
    said = await problem(hass)
    assert said is not None
    assert "needs a C++ compiler" in said


async def test_with_compilers_no_index_is_asked(
    hass: HomeAssistant, index: PackageIndex
) -> None:
    assert shutil.which("cc")
    assert shutil.which("c++")
    assert await problem(hass) is None
    assert index.requests == []


@pytest.mark.usefixtures("no_compiler")
async def test_an_index_that_does_not_answer_counts_as_no_wheel(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens
    started = time.monotonic()
    assert await problem(hass) is not None
    assert time.monotonic() - started < INDEX_TIMEOUT + 1


# --- the agent, its issue and the fix -------------------------------------------------------


@pytest.fixture
async def llm_server(socket_enabled: None) -> AsyncIterator[str]:
    """An OpenAI-compatible server on "another machine" (llama-server's /v1/models)."""

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "porch"}]})

    app = web.Application()
    app.router.add_get("/v1/models", models)
    async with serving(app) as base:
        yield f"{base}/v1"


@pytest.mark.usefixtures("house", "no_compiler")
async def test_no_build_a_repair_and_the_fix_moves_the_model_to_a_server(
    hass: HomeAssistant,
    monkeypatch: pytest.MonkeyPatch,
    index: PackageIndex,
    llm_server: str,
) -> None:
    monkeypatch.setattr(llama_runtime, "LLAMA_MODULE", "llama_cpp_not_here")
    entry = await start(hass, local_entry(None, weights=WEIGHTS))
    with pytest.raises(LlamaUnavailableError, match="compiler"):
        await local_brain(entry).async_ready()

    issue_id = f"local_brain_unavailable_{entry.entry_id}"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_key == "local_brain_cannot_build"
    weights = Path(issue.translation_placeholders["weights"])
    assert weights.name == "0" * 64 + ".gguf"
    assert weights.parent == Path(hass.config.path("pai", "weights"))
    assert "compiler" in issue.translation_placeholders["error"]
    assert index.requests == ["llama-cpp-python"]
    # Nothing was installed or built, and the agent runs on its rules.
    assert entry.state is ConfigEntryState.LOADED
    await rules_decide(hass)

    assert await async_setup_component(hass, "repairs", {})
    manager = hass.data["repairs"]["flow_manager"]
    flow: Any = await manager.async_init(DOMAIN, context={"issue_id": issue_id})
    assert flow["type"] is FlowResultType.FORM
    assert flow["description_placeholders"]["weights"] == str(weights)

    flow = await manager.async_configure(
        flow["flow_id"],
        {"base_url": "http://127.0.0.1:9/v1", "brain_model": "porch"},
    )
    assert flow["type"] is FlowResultType.FORM
    assert flow["errors"] == {"base": "cannot_connect"}
    assert "127.0.0.1:9" in flow["description_placeholders"]["detail"]

    flow = await manager.async_configure(
        flow["flow_id"],
        {"base_url": f" {llm_server} ", "brain_model": "porch", "api_key": "sk-1"},
    )
    assert flow["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.data["brain"] == {
        "kind": "openai",
        "base_url": llm_server,
        "api_key": "sk-1",
    }
    assert entry.options["brain_model"] == "porch"
    assert entry.state is ConfigEntryState.LOADED
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    brains = entry.runtime_data.runtime.router.brains
    assert [brain.name for brain in brains] == ["openai"]
