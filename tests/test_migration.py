"""Config entries stored by the previous release (1.1) load, migrated, into this one (1.2)."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pai.const import DOMAIN
from custom_components.pai.migration import MINOR_VERSION, VERSION, model_to_options

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


def stored_v1_entry(base_url: str, **brain_extra: Any) -> dict[str, Any]:
    """Return one entry as `core.config_entries` kept it under release 1.1."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Porch watch",
        unique_id="porch_watch",
        version=1,
        minor_version=1,
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


async def test_a_stored_v1_entry_loads_with_its_model_moved_to_the_options(
    hass: HomeAssistant, hass_storage: dict[str, Any], closed_port: str
) -> None:
    stored = stored_v1_entry(closed_port, brain_model="gemma")
    await load(hass, hass_storage, stored)
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert (entry.version, entry.minor_version) == (1, 1)

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.LOADED
    assert (entry.version, entry.minor_version) == (VERSION, MINOR_VERSION) == (1, 2)
    # The model moved; everything else is as the previous release stored it.
    assert entry.data["brain"] == {"engine": "openai", "base_url": closed_port}
    assert entry.options == {**stored["options"], "brain_model": "gemma"}
    assert {k: v for k, v in entry.data.items() if k != "brain"} == {
        k: v for k, v in stored["data"].items() if k != "brain"
    }
    runtime = entry.runtime_data.runtime
    assert runtime.router.has_llm is True
    assert int(runtime.ceiling) == 2  # "ask", from the stored options
    assert int(runtime.policy.action_max_levels["light_on"]) == 2
    # Saved as 1.2: the next start needs no migration.
    await hass.async_block_till_done()
    assert entry.as_dict()["minor_version"] == 2


async def test_an_entry_from_a_newer_major_version_is_refused(
    hass: HomeAssistant, hass_storage: dict[str, Any], closed_port: str
) -> None:
    stored = {**stored_v1_entry(closed_port), "version": 2}
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
