"""Builders the tests share: an agent entry with rules, starting it, driving it, reading it.

Fixtures live in conftest.py; nothing here is a test, and no test module imports another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pai.const import DOMAIN
from custom_components.pai.engine.brain import BrainResult, Usage
from custom_components.pai.engine.models import AutonomyLevel, Intent
from tests.scripted_brain import ScriptedBrain

from .test_config_flow import configure

PHONE = "notify.mobile_app_pixel"


def rule(
    name: str,
    action: str,
    level: int,
    *,
    confidence: float = 0.95,
    urgency: float = 0.8,
    kind: str = "ha.state",
    payload: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "when": {
            "kind": kind,
            "payload": payload
            if payload is not None
            else [{"field": "to_state", "op": "==", "value": "on"}],
        },
        "intent": {
            "action": action,
            "params": {},
            "confidence": confidence,
            "urgency": urgency,
            "rationale": f"{name} fired",
            "level": level,
        },
    }


def agent_entry(
    rules: list[dict[str, Any]],
    *,
    bindings: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    ha_triggers: list[dict[str, Any]] | None = None,
    policy: dict[str, Any] | None = None,
    actions: dict[str, Any] | None = None,
) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="Porch watch",
        unique_id="porch_watch",
        data={
            "name": "Porch watch",
            "agent": {
                "manifest.json": {
                    "name": "Porch watch",
                    "version": "1.0.0",
                    "author": "tests",
                    "description": "watches the porch",
                    "pai_format": 1,
                    "kind": "proactive-agent",
                },
                "policy.json": policy
                or {"default_max_level": 3, "max_interruptions_per_hour": 100},
                "triggers.json": [],
                "rules.json": rules,
                "actions.json": actions
                or {r["intent"]["action"]: {"type": "console"} for r in rules},
            },
            "bindings": bindings or {"actions": {}},
            "ha_triggers": ha_triggers
            if ha_triggers is not None
            else [
                {
                    "trigger": "state",
                    "entity_id": "input_boolean.motion",
                    "id": "motion",
                }
            ],
        },
        options={"notify_targets": [PHONE], **(options or {})},
    )


async def start(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def motion(hass: HomeAssistant, state: str = "on") -> None:
    await hass.services.async_call(
        "input_boolean",
        "turn_on" if state == "on" else "turn_off",
        {"entity_id": "input_boolean.motion"},
        blocking=True,
    )
    await hass.async_block_till_done()


LIGHT_ON = [
    {
        "action": "input_boolean.turn_on",
        "target": {"entity_id": "input_boolean.porch_light"},
    }
]


def statuses(events: list[Any]) -> list[str]:
    return [e.data["record"]["4_execution"]["status"] for e in events]


DOOR = "lock.front_door"


GARAGE = "cover.garage"


SIREN = [
    {
        "action": "input_boolean.turn_on",
        "target": {"entity_id": "input_boolean.front_door_open"},
    }
]


class FakeBrain(ScriptedBrain):
    """Answers "light_on" at level 3 when its script has run out."""

    def default(self) -> BrainResult:
        return says(self.name)


def says(
    brain: str, action: str = "light_on", level: int = 3, rationale: str = "dark porch"
) -> BrainResult:
    return BrainResult(
        intents=(
            Intent(
                action,
                params={"event_payload": {}},
                confidence=0.95,
                urgency=0.9,
                rationale=rationale,
                requested_level=AutonomyLevel(level),
            ),
        ),
        usage=Usage(
            brain=brain,
            model="claude-haiku-4-5",
            latency_ms=812.34,
            input_tokens=1200,
            output_tokens=60,
            cached_tokens=1000,
            cost=0.0016,
        ),
    )


def escalating(name: str, action: str, level: int, **kwargs: Any) -> dict[str, Any]:
    return {**rule(name, action, level, **kwargs), "escalate": True}


def porch_agent(
    rules: list[dict[str, Any]], options: dict[str, Any] | None = None
) -> MockConfigEntry:
    return agent_entry(
        rules,
        bindings={"actions": {"light_on": LIGHT_ON, "siren": SIREN}},
        actions={"light_on": {"type": "console"}, "siren": {"type": "console"}},
        options={"llm_min_interval_seconds": 0, **(options or {})},
    )


def porch(**data: Any) -> MockConfigEntry:
    made = agent_entry(
        [rule("hint", "light_on", 1)],
        bindings={"actions": {"light_on": [{"action": "light.turn_on"}]}},
        options={"min_confidence": 0.5},
    )
    return MockConfigEntry(
        domain=DOMAIN,
        title=made.title,
        unique_id=made.unique_id,
        data={**made.data, **data},
        options=dict(made.options),
    )


async def export_to(
    hass: HomeAssistant, entry: MockConfigEntry, path: str, **fields: Any
) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN,
        "export_agent",
        {"agent": entry.entry_id, "path": path, **fields},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    return dict(response)


OPENAI_KEY = "sk-local-test"


@dataclass
class ModelServer:
    """An OpenAI-compatible server that checks its bearer key; `status` makes it fail.

    GET /v1/models is the brain's check; POST /v1/chat/completions proposes nothing.
    """

    url: str = ""
    key: str | None = OPENAI_KEY
    status: int = 200
    asked: int = 0


async def bind(hass: HomeAssistant, result: FlowResult) -> FlowResult:
    """Bind the CPU agent's metric and action; return the step after the targets."""
    assert result["step_id"] == "bind_metrics"
    result = await configure(hass, result, {"cpu": "sensor.cpu"})
    result = await configure(hass, result, {})
    assert result["step_id"] == "targets"
    return await configure(hass, result, {"notify_targets": []})


def with_brain(brain: dict[str, Any]) -> MockConfigEntry:
    """A rules agent (test_runtime's) given an LLM brain."""
    entry = agent_entry([rule("hint", "light_on", 1)])
    return MockConfigEntry(
        domain=DOMAIN,
        title=entry.title,
        unique_id=entry.unique_id,
        data={**entry.data, "brain": brain},
        options=dict(entry.options),
    )
