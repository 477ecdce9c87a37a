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
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    MockPlatform,
    async_mock_service,
    mock_config_flow,
    mock_integration,
    mock_platform,
)
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker
from pytest_homeassistant_custom_component.typing import RecorderInstanceContextManager
from syrupy.assertion import SnapshotAssertion

from custom_components import pai
from custom_components.pai.const import DOMAIN
from tests.helpers import (
    DOOR,
    GARAGE,
    LLM_DOMAIN,
    TALK_DOMAIN,
    TALK_ENTITY,
    TASK_ENTITY,
    FakeBrain,
    HookServer,
    LLMFlow,
    ModelServer,
    ScriptedConversationEntity,
    ScriptedTaskEntity,
    Uploads,
)
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


@pytest.fixture
async def task_entity(hass: HomeAssistant) -> AsyncIterator[ScriptedTaskEntity]:
    """The scripted entity, set up through a config entry of a test LLM integration."""
    entity = ScriptedTaskEntity()
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "ai_task", {})

    async def setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        await hass.config_entries.async_forward_entry_setups(entry, [Platform.AI_TASK])
        return True

    async def setup_platform(
        hass: HomeAssistant,
        entry: ConfigEntry,
        async_add_entities: AddConfigEntryEntitiesCallback,
    ) -> None:
        async_add_entities([entity])

    mock_integration(hass, MockModule(LLM_DOMAIN, async_setup_entry=setup_entry))
    mock_platform(hass, f"{LLM_DOMAIN}.config_flow")
    mock_platform(
        hass, f"{LLM_DOMAIN}.ai_task", MockPlatform(async_setup_entry=setup_platform)
    )
    entry = MockConfigEntry(domain=LLM_DOMAIN)
    entry.add_to_hass(hass)
    with mock_config_flow(LLM_DOMAIN, LLMFlow):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert hass.states.get(TASK_ENTITY) is not None
        yield entity


@pytest.fixture
async def talk_agent(hass: HomeAssistant) -> AsyncIterator[ScriptedConversationEntity]:
    """A conversation agent of a test LLM integration, given the PAI API."""
    entity = ScriptedConversationEntity()
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "conversation", {})

    async def setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        await hass.config_entries.async_forward_entry_setups(
            entry, [Platform.CONVERSATION]
        )
        return True

    async def setup_platform(
        hass: HomeAssistant,
        entry: ConfigEntry,
        async_add_entities: AddConfigEntryEntitiesCallback,
    ) -> None:
        async_add_entities([entity])

    mock_integration(hass, MockModule(TALK_DOMAIN, async_setup_entry=setup_entry))
    mock_platform(hass, f"{TALK_DOMAIN}.config_flow")
    mock_platform(
        hass,
        f"{TALK_DOMAIN}.conversation",
        MockPlatform(async_setup_entry=setup_platform),
    )
    entry = MockConfigEntry(domain=TALK_DOMAIN)
    entry.add_to_hass(hass)
    with mock_config_flow(TALK_DOMAIN, LLMFlow):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert hass.states.get(TALK_ENTITY) is not None
        yield entity


PUSH_URL = "https://push.example.com/api/sendPush"
"""Where the fake phones' push gateway listens (the cloud the Companion app relies on)."""


class Phones:
    """Phones paired through the real `mobile_app` integration; their pushes are caught.

    Each phone's push goes to a fake gateway (`aioclient_mock`), so a test reads exactly
    what the phone would receive: `received(name)` is the list of pushed payloads.
    """

    def __init__(self, hass: HomeAssistant, gateway: AiohttpClientMocker) -> None:
        """Pair phones in `hass`; pushes go to `gateway`."""
        self._hass = hass
        self._gateway = gateway
        gateway.post(PUSH_URL, json={"message": "sent"}, status=201)

    async def pair(
        self, name: str, *, user_id: str | None = None, os_name: str = "iOS"
    ) -> str:
        """Pair a phone named `name`; return its notify target (notify.mobile_app_<name>)."""
        entry = MockConfigEntry(
            domain="mobile_app",
            title=name,
            data={
                "app_data": {"push_token": f"token-{name}", "push_url": PUSH_URL},
                "app_id": "io.homeassistant.companion",
                "app_name": "Home Assistant",
                "app_version": "2026.10",
                "device_id": f"device-{name}",
                "device_name": name,
                "manufacturer": "Apple" if os_name == "iOS" else "Google",
                "model": "phone",
                "os_name": os_name,
                "os_version": "18",
                "supports_encryption": False,
                "user_id": user_id,
                "webhook_id": f"webhook-{name}",
            },
        )
        entry.add_to_hass(self._hass)
        assert await self._hass.config_entries.async_setup(entry.entry_id)
        await self._hass.async_block_till_done()
        return f"notify.mobile_app_{name}"

    def received(self, name: str) -> list[dict[str, Any]]:
        """What phone `name` received, oldest first (message, title, data)."""
        return [
            {
                key: value
                for key, value in body.items()
                if key in ("message", "title", "data")
            }
            for _method, _url, body, _headers in self._gateway.mock_calls
            if isinstance(body, dict) and body.get("push_token") == f"token-{name}"
        ]

    def clear(self) -> None:
        """Forget what was received so far."""
        self._gateway.mock_calls.clear()


@pytest.fixture
async def phones(hass: HomeAssistant, aioclient_mock: AiohttpClientMocker) -> Phones:
    """The real `mobile_app` integration, ready to pair phones (see `Phones`)."""
    assert await async_setup_component(hass, "mobile_app", {})
    await hass.async_block_till_done()
    return Phones(hass, aioclient_mock)
