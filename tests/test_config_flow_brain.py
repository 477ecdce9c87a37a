"""Choosing an agent's brain in the config flow, a refused key, and changing the brain later.

The brains are the real ones: Claude through the real `anthropic` SDK against a local
stand-in for Anthropic's API (tests/brains/fake_anthropic.py, pointed at with the SDK's own
ANTHROPIC_BASE_URL), the OpenAI-compatible brain against a small local server that checks its
bearer key, and a closed port for a server that is down. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import logging
from pathlib import Path
from typing import Any

from homeassistant.components.ai_task import (
    AITaskEntity,
    AITaskEntityFeature,
    GenDataTask,
    GenDataTaskResult,
)
from homeassistant.components.conversation import ChatLog
from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_USER,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
)
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    MockPlatform,
    mock_config_flow,
    mock_integration,
    mock_platform,
)

from custom_components.pai.agent_draft import file_brain_kind
from custom_components.pai.const import DOMAIN
from custom_components.pai.engine.agent import BrainConfig
from tests.helpers import (
    OPENAI_KEY,
    ModelServer,
    bind,
    pack_llm,
    start_reconfigure,
    with_brain,
)

from .brains.fake_anthropic import API_KEY, FakeAnthropic, error, key_of
from .helpers import LLM_BRAIN, Uploads, brain_suggested as suggested, configure, upload


async def start_create(hass: HomeAssistant, kind: str) -> FlowResult:
    """Create an agent that watches the motion sensor, with the brain of kind `kind`."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await configure(hass, result, {"next_step_id": "create"})
    result = await configure(
        hass,
        result,
        {
            "name": "Porch brain",
            "entities": ["input_boolean.motion"],
            "level": "suggest",
            "confidence": 0.9,
            "kind": kind,
        },
    )
    assert result["step_id"] == "targets"
    return await configure(
        hass, result, {"notify_targets": ["persistent_notification"]}
    )


async def create_with_claude(hass: HomeAssistant, model: str) -> ConfigEntry:
    """Create the agent of `start_create` with Claude (`model`) as its brain."""
    result = await start_create(hass, "anthropic")
    result = await configure(hass, result, {"api_key": API_KEY, "brain_model": model})
    await hass.async_block_till_done()
    entry: ConfigEntry = result["result"]
    return entry


def default(result: FlowResult, field: str) -> Any:
    [key] = [key for key in result["data_schema"].schema if key == field]
    return key.default()


def brain_kinds(result: FlowResult) -> list[str]:
    selector = result["data_schema"].schema["kind"]
    return list(selector.config["options"])


def llm_entities(hass: HomeAssistant, entry: ConfigEntry) -> set[str]:
    return {
        e.translation_key or ""
        for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if (e.translation_key or "").startswith(("llm_", "last_brain"))
    }


# --- choosing the brain -----------------------------------------------------------------------


@pytest.mark.usefixtures("house")
async def test_create_with_claude_checks_the_key_and_lets_the_user_correct_it(
    hass: HomeAssistant, anthropic_api: FakeAnthropic
) -> None:
    result = await start_create(hass, "anthropic")
    assert result["step_id"] == "brain_anthropic"
    assert suggested(result)["brain_model"] == "claude-haiku-4-5"

    result = await configure(
        hass, result, {"api_key": "sk-wrong", "brain_model": "claude-haiku-4-5"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    assert "refused" in result["description_placeholders"]["detail"]
    assert suggested(result)["api_key"] == "sk-wrong"  # still there to correct
    assert hass.config_entries.async_entries(DOMAIN) == []

    result = await configure(
        hass, result, {"api_key": f" {API_KEY} ", "brain_model": "claude-sonnet-4-5"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry = result["result"]
    assert entry.data["brain"] == {"kind": "anthropic", "api_key": API_KEY}
    assert entry.options["brain_model"] == "claude-sonnet-4-5"
    assert entry.state is ConfigEntryState.LOADED
    keys = [key_of(seen.headers) for seen in anthropic_api.requests]
    assert keys == ["sk-wrong", API_KEY, API_KEY]  # the flow twice, then setup's check
    assert llm_entities(hass, entry) == {
        "llm_calls_last_hour",
        "llm_cost_today",
        "last_brain",
        "llm_budget_exceeded",
    }


@pytest.mark.usefixtures("house")
async def test_create_with_rules_only_asks_nothing_more(hass: HomeAssistant) -> None:
    result = await start_create(hass, "rules")
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry = result["result"]
    assert "brain" not in entry.data
    assert "brain_model" not in entry.options
    assert llm_entities(hass, entry) == set()  # no LLM, no LLM sensors


@pytest.mark.usefixtures("house")
async def test_a_file_that_asks_for_an_llm_suggests_its_server(
    hass: HomeAssistant,
    uploads: Uploads,
    tmp_path: Path,
    openai_server: ModelServer,
    closed_port: str,
) -> None:
    path = pack_llm(tmp_path, brain={**LLM_BRAIN, "base_url": closed_port})
    result = await bind(hass, await upload(hass, uploads, path, allow=["brain_server"]))

    assert result["step_id"] == "brain"
    assert brain_kinds(result) == [
        "rules",
        "anthropic",
        "openai",
        "ai_task",
    ]  # no weights
    assert default(result, "kind") == "openai"  # llama-server speaks OpenAI's API
    result = await configure(hass, result, {"kind": "openai"})
    assert result["step_id"] == "brain_openai"
    assert suggested(result)["base_url"] == closed_port  # from brain.json
    assert suggested(result)["brain_model"] == "gemma-3-270m-q4_k_m"

    result = await configure(
        hass, result, {"base_url": closed_port, "brain_model": "gemma"}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    assert "cannot reach" in result["description_placeholders"]["detail"]

    result = await configure(
        hass, result, {"base_url": "192.168.1.20:8080", "brain_model": "gemma"}
    )
    assert result["errors"] == {"base_url": "invalid_url"}

    result = await configure(
        hass, result, {"base_url": openai_server.url, "brain_model": "gemma"}
    )
    assert result["errors"] == {"base": "invalid_auth"}  # the server wants a key

    result = await configure(
        hass,
        result,
        {"base_url": openai_server.url, "brain_model": "gemma", "api_key": OPENAI_KEY},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry = result["result"]
    assert entry.data["brain"] == {
        "kind": "openai",
        "base_url": openai_server.url,
        "api_key": OPENAI_KEY,
    }
    assert entry.options["brain_model"] == "gemma"
    assert entry.state is ConfigEntryState.LOADED


@pytest.mark.usefixtures("house")
async def test_the_local_model_is_offered_only_with_weights(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    path = pack_llm(tmp_path, weights=b"GGUF" + bytes(64))
    result = await bind(hass, await upload(hass, uploads, path))

    assert brain_kinds(result) == ["rules", "anthropic", "openai", "ai_task", "local"]
    assert default(result, "kind") == "local"  # the author shipped the model
    result = await configure(hass, result, {"kind": "rules"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert "brain" not in result["result"].data


@pytest.mark.usefixtures("house")
async def test_an_ai_task_entity_that_does_not_exist_is_refused(
    hass: HomeAssistant,
) -> None:
    result = await start_create(hass, "ai_task")
    assert result["step_id"] == "brain_ai_task"
    result = await configure(hass, result, {"entity_id": "ai_task.nowhere"})
    assert result["errors"] == {"base": "cannot_connect"}
    assert "ai_task.nowhere" in result["description_placeholders"]["detail"]
    assert hass.config_entries.async_entries(DOMAIN) == []


FILE_BRAINS: list[tuple[dict[str, Any], str, str | None]] = [
    # A file written for Claude names a model Claude knows: it is suggested.
    ({"engine": "Anthropic", "model": "claude-sonnet-4-5"}, "anthropic", None),
    # One written for another service may not: Claude's default is suggested.
    ({"engine": "claude", "model": "gpt-4o-mini"}, "anthropic", "claude-haiku-4-5"),
    ({"engine": "ha_ai_task"}, "ai_task", None),
]
"""brain.json, the brain offered first, the model suggested (None: the file's)."""


@pytest.mark.parametrize("case", FILE_BRAINS)
@pytest.mark.usefixtures("house")
async def test_a_file_that_asks_for_a_service_suggests_that_service(
    hass: HomeAssistant,
    uploads: Uploads,
    tmp_path: Path,
    case: tuple[dict[str, Any], str, str | None],
) -> None:
    brain, offered, model = case
    path = pack_llm(tmp_path, brain={"type": "llm", **brain})
    result = await bind(hass, await upload(hass, uploads, path))

    assert result["step_id"] == "brain"
    assert default(result, "kind") == offered
    result = await configure(hass, result, {"kind": offered})
    assert result["step_id"] == f"brain_{offered}"
    if offered == "anthropic":
        assert suggested(result)["brain_model"] == (model or brain["model"])
        assert suggested(result)["api_key"] is None  # a file never carries a key


@pytest.mark.parametrize(
    ("brain", "weights", "suggested_kind"),
    [
        ({"type": "rule"}, True, "rules"),  # asks for no LLM
        ({"type": "llm", "engine": "claude-code"}, False, "anthropic"),
        ({"type": "llm", "engine": "ai_task"}, False, "ai_task"),
        ({"type": "llm", "engine": "llama-server"}, True, "local"),
        ({"type": "llm", "engine": "llama-server"}, False, "openai"),
        ({"type": "llm"}, False, "openai"),  # no engine named: OpenAI's API
    ],
)
def test_the_brain_suggested_for_a_file_follows_its_brain_json(
    brain: dict[str, Any], weights: bool, suggested_kind: str
) -> None:
    assert file_brain_kind(BrainConfig(**brain), weights) == suggested_kind


@pytest.mark.usefixtures("house")
async def test_reconfiguring_the_same_brain_shows_its_key_and_model(
    hass: HomeAssistant, anthropic_api: FakeAnthropic
) -> None:
    entry = await create_with_claude(hass, "claude-sonnet-4-5")

    result = await configure(hass, await start_reconfigure(hass, entry), {})
    result = await configure(hass, result, {"kind": "anthropic"})
    assert result["step_id"] == "brain_anthropic"
    # What it has now, to keep or change (not Claude's default model).
    assert suggested(result) == {"api_key": API_KEY, "brain_model": "claude-sonnet-4-5"}
    result = await configure(hass, result, suggested(result))
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data["brain"] == {"kind": "anthropic", "api_key": API_KEY}
    assert entry.options["brain_model"] == "claude-sonnet-4-5"
    assert entry.state is ConfigEntryState.LOADED


# --- a refused key ----------------------------------------------------------------------------


async def test_a_key_refused_at_setup_starts_reauth_and_a_new_key_fixes_it(
    hass: HomeAssistant, anthropic_api: FakeAnthropic
) -> None:
    entry = with_brain({"kind": "anthropic", "api_key": "sk-revoked"})
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.SETUP_ERROR
    [flow] = entry.async_get_active_flows(hass, {SOURCE_REAUTH})
    result = await hass.config_entries.flow.async_configure(flow["flow_id"])
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"]["engine"] == "anthropic"

    result = await configure(hass, result, {"api_key": "sk-also-wrong"})
    assert result["errors"] == {"base": "invalid_auth"}
    assert entry.data["brain"]["api_key"] == "sk-revoked"  # nothing kept

    result = await configure(hass, result, {"api_key": API_KEY})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data["brain"] == {"kind": "anthropic", "api_key": API_KEY}
    assert entry.state is ConfigEntryState.LOADED


async def test_a_key_revoked_while_running_asks_for_a_new_one(
    hass: HomeAssistant, anthropic_api: FakeAnthropic
) -> None:
    entry = with_brain({"kind": "anthropic", "api_key": API_KEY})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert list(entry.async_get_active_flows(hass, {SOURCE_REAUTH})) == []

    anthropic_api.then(error(401))  # the key is revoked at Anthropic
    await entry.runtime_data.runtime.async_evaluate(
        "ha.state", {"to_state": "on"}, escalate=True
    )
    await hass.async_block_till_done()

    [flow] = entry.async_get_active_flows(hass, {SOURCE_REAUTH})
    result = await hass.config_entries.flow.async_configure(flow["flow_id"])
    assert result["step_id"] == "reauth_confirm"
    result = await configure(hass, result, {"api_key": API_KEY})
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


async def test_a_brain_that_is_down_at_setup_leaves_the_rules_running(
    hass: HomeAssistant,
    closed_port: str,
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = with_brain({"kind": "openai", "base_url": closed_port, "api_key": "k"})
    entry.add_to_hass(hass)
    with caplog.at_level(logging.WARNING):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.LOADED
    assert "cannot be reached" in caplog.text
    issue = issue_registry.async_get_issue(
        DOMAIN, f"brain_unreachable_{entry.entry_id}"
    )
    assert issue is not None
    assert issue.is_fixable
    assert "cannot reach" in issue.translation_placeholders["problem"]
    # The rules still decide.
    [record] = await entry.runtime_data.runtime.async_evaluate(
        "ha.state", {"to_state": "on"}
    )
    assert record["3_anticipation"]["action"] == "light_on"


# --- changing the brain later ------------------------------------------------------------------


@pytest.mark.usefixtures("house")
async def test_reconfigure_without_a_file_changes_only_the_brain(
    hass: HomeAssistant, anthropic_api: FakeAnthropic, openai_server: ModelServer
) -> None:
    entry = await create_with_claude(hass, "claude-haiku-4-5")
    agent, bindings = entry.data["agent"], entry.data["bindings"]

    result = await configure(
        hass, await start_reconfigure(hass, entry), {}
    )  # no file: the brain
    assert result["step_id"] == "brain"
    assert default(result, "kind") == "anthropic"  # what it has now
    assert "local" not in brain_kinds(result)

    result = await configure(hass, result, {"kind": "openai"})
    result = await configure(
        hass,
        result,
        {"base_url": openai_server.url, "brain_model": "gemma", "api_key": OPENAI_KEY},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data["brain"]["kind"] == "openai"
    assert entry.options["brain_model"] == "gemma"
    assert entry.data["agent"] == agent  # the rest is as it was
    assert entry.data["bindings"] == bindings
    assert entry.state is ConfigEntryState.LOADED

    # Back to the rules: the LLM's sensors go with the LLM.
    result = await configure(hass, await start_reconfigure(hass, entry), {})
    assert default(result, "kind") == "openai"
    result = await configure(hass, result, {"kind": "rules"})
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data["brain"] == {"kind": "rules"}
    assert "brain_model" not in entry.options
    assert entry.runtime_data.runtime.router.has_llm is False
    assert llm_entities(hass, entry) == set()  # removed, not left unavailable
    assert [s.entity_id for s in hass.states.async_all() if "llm" in s.entity_id] == []


class AnsweringTask(AITaskEntity):
    """An AI Task entity of another integration: it proposes nothing."""

    _attr_name = "Helper"
    _attr_unique_id = "helper"
    _attr_supported_features = AITaskEntityFeature.GENERATE_DATA

    async def _async_generate_data(
        self, task: GenDataTask, chat_log: ChatLog
    ) -> GenDataTaskResult:
        return GenDataTaskResult(conversation_id="c", data={"intents": []})


class ProviderFlow(ConfigFlow):
    """The stand-in provider's config flow (never shown: its entry is made directly)."""


@pytest.fixture
async def ai_task_entity(hass: HomeAssistant) -> AsyncIterator[str]:
    """Set up `ai_task.helper` from a stand-in integration, as any AI provider adds one."""
    assert await async_setup_component(hass, "homeassistant", {})

    async def setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        await hass.config_entries.async_forward_entry_setups(entry, [Platform.AI_TASK])
        return True

    async def setup_platform(
        hass: HomeAssistant, entry: ConfigEntry, add: AddConfigEntryEntitiesCallback
    ) -> None:
        add([AnsweringTask()])

    mock_integration(hass, MockModule("provider", async_setup_entry=setup_entry))
    mock_platform(hass, "provider.config_flow")
    mock_platform(
        hass, "provider.ai_task", MockPlatform(async_setup_entry=setup_platform)
    )
    with mock_config_flow("provider", ProviderFlow):
        provider = MockConfigEntry(domain="provider")
        provider.add_to_hass(hass)
        assert await hass.config_entries.async_setup(provider.entry_id)
        await hass.async_block_till_done()
        assert hass.states.get("ai_task.helper") is not None
        yield "ai_task.helper"


@pytest.mark.usefixtures("house")
async def test_an_ai_task_entity_thinks_for_the_agent(
    hass: HomeAssistant, ai_task_entity: str
) -> None:
    result = await start_create(hass, "ai_task")
    result = await configure(hass, result, {"entity_id": ai_task_entity})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry = result["result"]
    assert entry.data["brain"] == {"kind": "ai_task", "entity_id": ai_task_entity}
    runtime = entry.runtime_data.runtime
    await runtime.async_evaluate("ha.state", {"to_state": "on"}, escalate=True)
    assert runtime.llm.last_brain is not None
    assert runtime.llm.last_brain["name"] == "ai_task"  # it answered (nothing to do)

    # Reconfiguring it offers the entity it has now.
    result = await configure(hass, await start_reconfigure(hass, entry), {})
    assert default(result, "kind") == "ai_task"
    result = await configure(hass, result, {"kind": "ai_task"})
    assert suggested(result) == {"entity_id": ai_task_entity}
