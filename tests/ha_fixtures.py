"""Fixtures for the tests that run Home Assistant through pytest-homeassistant-custom-component.

conftest.py offers them where that plugin is installed (not in scripts/test's second
environment).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
import socket
from typing import Any
from unittest.mock import patch

from aiohttp import web
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import async_mock_service
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from pytest_homeassistant_custom_component.typing import RecorderInstanceContextManager
from syrupy.assertion import SnapshotAssertion

from custom_components import pai
from custom_components.pai.const import DOMAIN
from tests.helpers import DOOR, GARAGE, FakeBrain, HookServer, ModelServer, Uploads
from tests.loopback import serving

from .brains.fake_anthropic import FakeAnthropic


@pytest.fixture(name="mock_recorder_before_hass")
def recorder_before_hass(async_test_recorder: RecorderInstanceContextManager) -> None:
    """Prepare the recorder's database before `hass` starts (it must come first).

    Under the name pytest-homeassistant-custom-component gives that hook; a test module
    that needs the real recorder (SQLite) imports it: `from tests.ha_fixtures import
    recorder_before_hass`.
    """


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots as Home Assistant core takes them (registry ids and times left out)."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture
async def home(hass: HomeAssistant) -> None:
    """A locked front door, a closed garage, a motion sensor, scenes, scripts, a phone."""
    assert await async_setup_component(
        hass,
        "input_boolean",
        {
            "input_boolean": {
                "motion": {},
                "porch_light": {},
                "door_locked": {"initial": True},
                "garage_open": {"initial": False},
            }
        },
    )

    def switch(entity: str, on: bool) -> list[dict[str, Any]]:
        return [
            {
                "action": f"input_boolean.turn_{'on' if on else 'off'}",
                "target": {"entity_id": f"input_boolean.{entity}"},
            }
        ]

    assert await async_setup_component(
        hass,
        "template",
        {
            "template": [
                {
                    "lock": [
                        {
                            "name": "Front door",
                            "state": "{{ is_state('input_boolean.door_locked', 'on') }}",
                            "lock": switch("door_locked", True),
                            "unlock": switch("door_locked", False),
                        }
                    ],
                    "cover": [
                        {
                            "name": "Garage",
                            "state": "{{ is_state('input_boolean.garage_open', 'on') }}",
                            "open_cover": switch("garage_open", True),
                            "close_cover": switch("garage_open", False),
                        }
                    ],
                }
            ]
        },
    )
    assert await async_setup_component(
        hass,
        "scene",
        {
            "scene": [
                {"name": "Welcome", "entities": {DOOR: "unlocked"}},
                {"name": "Good night", "entities": {DOOR: "locked"}},
            ]
        },
    )
    assert await async_setup_component(
        hass,
        "script",
        {
            "script": {
                "let_in": {
                    "sequence": [
                        {"action": "lock.unlock", "target": {"entity_id": DOOR}}
                    ]
                },
                "via_other": {"sequence": [{"action": "script.let_in"}]},
                "porch": {"sequence": switch("porch_light", True)},
                # scripts calling scripts: too deep to follow, and a loop
                **{
                    f"deep_{n}": {"sequence": [{"action": f"script.deep_{n + 1}"}]}
                    for n in range(10)
                },
                "loop_a": {"sequence": [{"action": "script.loop_b"}]},
                "loop_b": {"sequence": [{"action": "script.loop_a"}]},
            }
        },
    )
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": [
                {
                    "id": "opener",
                    "alias": "Opener",
                    "triggers": [],
                    "actions": [
                        {"action": "cover.open_cover", "target": {"entity_id": GARAGE}}
                    ],
                }
            ]
        },
    )
    await hass.async_block_till_done()
    async_mock_service(hass, "notify", "mobile_app_pixel")
    assert hass.states.get(DOOR).state == "locked"
    assert hass.states.get(GARAGE).state == "closed"


@pytest.fixture
def brains(monkeypatch: pytest.MonkeyPatch) -> list[FakeBrain]:
    """The LLM chain every agent set up in the test gets (fill it before `start`)."""
    chain: list[FakeBrain] = []
    real = pai.AgentRuntime

    def runtime(*args: Any, **kwargs: Any) -> Any:
        return real(*args, **{**kwargs, "brains": list(chain)})

    monkeypatch.setattr(pai, "AgentRuntime", runtime)
    return chain


@pytest.fixture
async def shelf(hass: HomeAssistant, tmp_path: Path) -> Path:
    """PAI set up, a config directory of our own and an allowed `exports` directory."""
    hass.config.config_dir = str(tmp_path / "config")
    (tmp_path / "config").mkdir()
    allowed = tmp_path / "exports"
    allowed.mkdir()
    hass.config.allowlist_external_dirs = {str(allowed)}
    assert await async_setup_component(hass, DOMAIN, {})
    return allowed


@pytest.fixture
async def anthropic_api(
    socket_enabled: None, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FakeAnthropic]:
    """Anthropic's API on 127.0.0.1; the SDK finds it through ANTHROPIC_BASE_URL."""
    server = FakeAnthropic()
    monkeypatch.setenv("ANTHROPIC_BASE_URL", await server.start())
    yield server
    await server.stop()


@pytest.fixture
async def openai_server(socket_enabled: None) -> AsyncIterator[ModelServer]:
    server = ModelServer()

    def refusal(request: web.Request) -> web.Response | None:
        server.asked += 1
        if server.status != 200:
            return web.json_response(
                {"error": {"message": "down"}}, status=server.status
            )
        if (
            server.key
            and request.headers.get("Authorization") != f"Bearer {server.key}"
        ):
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        return None

    async def models(request: web.Request) -> web.Response:
        if (refused := refusal(request)) is not None:
            return refused
        return web.json_response({"object": "list", "data": [{"id": "gemma"}]})

    async def chat(request: web.Request) -> web.Response:
        if (refused := refusal(request)) is not None:
            return refused
        return web.json_response(
            {
                "model": "gemma",
                "choices": [{"message": {"content": '{"intents": []}'}}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 5},
            }
        )

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat)
    async with serving(app) as base:
        server.url = f"{base}/v1"
        yield server


@pytest.fixture
def closed_port(socket_enabled: None) -> str:
    """A loopback URL nothing listens on: a server that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def uploads(hass: HomeAssistant, tmp_path: Path) -> Iterator[Uploads]:
    hass.config.config_dir = str(tmp_path / "config")
    fake = Uploads(tmp_path / "file_upload")
    with patch("custom_components.pai.config_flow.process_uploaded_file", fake.process):
        yield fake


@pytest.fixture
async def flow_house(hass: HomeAssistant) -> None:
    """A fan, a motion sensor, a porch light, CPU and memory sensors: what files bind to."""
    assert await async_setup_component(
        hass,
        "input_boolean",
        {"input_boolean": {"fan": {}, "motion": {}, "porch_light": {}}},
    )
    hass.states.async_set("sensor.cpu", "50")
    hass.states.async_set("sensor.mem", "30")
    await hass.async_block_till_done()


@pytest.fixture
async def hook_server(socket_enabled: None) -> AsyncIterator[HookServer]:
    server = HookServer("")

    async def hook(request: web.Request) -> web.Response:
        server.received.append(await request.json())
        return web.Response(status=server.status)

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with serving(app) as base:
        server.url = f"{base}/hook"
        yield server
