"""Config entries stored by earlier releases (1.1, 1.2) load, migrated, into this one (1.3)."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pai.const import DOMAIN
from custom_components.pai.migration import (
    MINOR_VERSION,
    VERSION,
    brain_kind_renamed,
    model_to_options,
)

SHA = "ab" * 32

# What the first release wrote for an imported agent file with an LLM brain: the file's
# sections, the bindings the user chose, the Home Assistant triggers, the brain (whose model
# 1.1 could also keep here), the embedded weights and where the file came from.
AGENT: dict[str, Any] = {
    "manifest.json": {
        "name": "Porch watch",
        "version": "1.2.0",
        "author": "tests",
        "description": "watches the porch",
        "pai_format": 1,
        "kind": "proactive-agent",
    },
    "policy.json": {"default_max_level": 3, "max_interruptions_per_hour": 100},
    "triggers.json": [],
    "rules.json": [
        {
            "name": "porch_light",
            "when": {
                "kind": "ha.state",
                "payload": [{"field": "to_state", "op": "==", "value": "on"}],
            },
            "intent": {
                "action": "light_on",
                "params": {},
                "confidence": 0.95,
                "urgency": 0.8,
                "rationale": "motion on the porch",
                "level": 3,
            },
        }
    ],
    "actions.json": {},
}


def stored_v1_entry(
    base_url: str, minor_version: int = 1, **brain_extra: Any
) -> dict[str, Any]:
    """Return one entry as `core.config_entries` kept it under release 1.1 (or 1.2)."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Porch watch",
        unique_id="porch_watch",
        version=1,
        minor_version=minor_version,
        data={
            "name": "Porch watch",
            "agent": AGENT,
            "bindings": {
                "metrics": {"motion": "input_boolean.motion"},
                "actions": {
                    "light_on": [
                        {
                            "action": "input_boolean.turn_on",
                            "target": {"entity_id": "input_boolean.porch_light"},
                        }
                    ]
                },
            },
            "ha_triggers": [{"trigger": "state", "entity_id": "input_boolean.motion"}],
            "brain": {"engine": "openai", "base_url": base_url, **brain_extra},
            "weights": {"weights/model.gguf": {"sha256": SHA, "size": 1234}},
            "source": {"file_sha256": SHA, "version": "1.2.0"},
        },
        options={
            "notify_targets": [],
            "autonomy_ceiling": "ask",
            "llm_max_calls_per_hour": 5,
            "action_max_levels": {"light_on": 2},
        },
    )
    return entry.as_dict()


async def load(hass: HomeAssistant, hass_storage: dict[str, Any], stored: Any) -> None:
    """Load the stored entries as Home Assistant does when it starts."""
    hass_storage["core.config_entries"] = {
        "version": 1,
        "minor_version": 5,
        "key": "core.config_entries",
        "data": {"entries": [stored]},
    }
    await hass.config_entries.async_initialize()
    for name in ("input_boolean",):
        assert await async_setup_component(
            hass, name, {name: {"motion": None, "porch_light": None}}
        )


async def load_and_set_up(
    hass: HomeAssistant, hass_storage: dict[str, Any], stored: dict[str, Any]
) -> ConfigEntry:
    """Load the stored entry as it was kept, then set it up (migrating it) and check."""
    await load(hass, hass_storage, stored)
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert (entry.version, entry.minor_version) == (1, stored["minor_version"])

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.LOADED
    return entry


async def test_a_stored_v1_entry_loads_with_its_model_moved_to_the_options(
    hass: HomeAssistant, hass_storage: dict[str, Any], closed_port: str
) -> None:
    stored = stored_v1_entry(closed_port, brain_model="gemma")
    entry = await load_and_set_up(hass, hass_storage, stored)
    assert (entry.version, entry.minor_version) == (VERSION, MINOR_VERSION) == (2, 1)
    # The model moved and the brain's kind is named `kind`; the rest is as it was stored.
    assert entry.data["brain"] == {"kind": "openai", "base_url": closed_port}
    assert entry.options == {**stored["options"], "brain_model": "gemma"}
    assert {k: v for k, v in entry.data.items() if k != "brain"} == {
        k: v for k, v in stored["data"].items() if k != "brain"
    }
    runtime = entry.runtime_data.runtime
    assert runtime.router.has_llm is True
    assert int(runtime.ceiling) == 2  # "ask", from the stored options
    assert int(runtime.policy.action_max_levels["light_on"]) == 2
    # Saved as 2.1: the next start needs no migration.
    await hass.async_block_till_done()
    assert (entry.as_dict()["version"], entry.as_dict()["minor_version"]) == (2, 1)


async def test_a_stored_1_2_entry_keeps_its_llm_brain_under_the_new_name(
    hass: HomeAssistant, hass_storage: dict[str, Any], closed_port: str
) -> None:
    stored = stored_v1_entry(closed_port, minor_version=2)
    stored["options"]["brain_model"] = "gemma"  # 1.2 kept the model in the options
    entry = await load_and_set_up(hass, hass_storage, stored)
    assert (entry.version, entry.minor_version) == (2, 1)
    assert entry.data["brain"] == {"kind": "openai", "base_url": closed_port}
    assert entry.options == stored["options"]  # the options are as the user left them
    assert {k: v for k, v in entry.data.items() if k != "brain"} == {
        k: v for k, v in stored["data"].items() if k != "brain"
    }
    # The agent still thinks with its LLM brain, and the reconfigure form offers it.
    assert entry.runtime_data.runtime.router.has_llm is True
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "reconfigure", "entry_id": entry.entry_id}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "brain"
    [field] = [key for key in result["data_schema"].schema if key == "kind"]
    assert field.default() == "openai"


async def test_an_entry_from_a_newer_major_version_is_refused(
    hass: HomeAssistant, hass_storage: dict[str, Any], closed_port: str
) -> None:
    stored = {**stored_v1_entry(closed_port), "version": 3}
    await load(hass, hass_storage, stored)
    entry = hass.config_entries.async_entries(DOMAIN)[0]

    assert not await hass.config_entries.async_setup(entry.entry_id)

    assert entry.state is ConfigEntryState.MIGRATION_ERROR
    assert entry.data == stored["data"]  # nothing rewritten


def test_the_model_the_user_set_last_wins_and_a_blank_one_is_dropped() -> None:
    data = {"name": "x", "brain": {"engine": "openai", "brain_model": " old "}}
    assert model_to_options(data, {"brain_model": "new"}) == (
        {"name": "x", "brain": {"engine": "openai"}},
        {"brain_model": "new"},
    )
    assert model_to_options(data, {}) == (
        {"name": "x", "brain": {"engine": "openai"}},
        {"brain_model": "old"},
    )
    blank = {"brain": {"engine": "openai", "brain_model": "  "}}
    assert model_to_options(blank, {}) == ({"brain": {"engine": "openai"}}, {})
    rules = {"name": "x"}
    assert model_to_options(rules, {"a": 1}) == (rules, {"a": 1})


def test_the_brain_kind_is_renamed_and_nothing_else_changes() -> None:
    data = {"name": "x", "brain": {"engine": "anthropic", "api_key": "k"}}
    assert brain_kind_renamed(data) == {
        "name": "x",
        "brain": {"kind": "anthropic", "api_key": "k"},
    }
    assert data["brain"] == {"engine": "anthropic", "api_key": "k"}  # not changed
    both = {"brain": {"engine": "openai", "kind": "anthropic"}}
    assert brain_kind_renamed(both) == {"brain": {"kind": "anthropic"}}
    for untouched in ({"name": "x"}, {"brain": None}, {"brain": {"kind": "local"}}):
        assert brain_kind_renamed(untouched) == untouched
