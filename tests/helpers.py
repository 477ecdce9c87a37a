"""Builders the tests share: an agent entry with rules, starting it, driving it, reading it.

Fixtures live in conftest.py; nothing here is a test, and no test module imports another.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
import shutil
from typing import Any
import uuid

from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER, ConfigEntry
from homeassistant.core import Event, HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
import pai
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from custom_components.pai.engine.brain import BrainResult, Usage
from custom_components.pai.engine.container import (
    SectionSource,
    json_section,
    write_pai,
)
from custom_components.pai.engine.models import AutonomyLevel, Intent
from tests.scripted_brain import ScriptedBrain

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


async def start_recording(
    hass: HomeAssistant, entry: MockConfigEntry
) -> list[Event[dict[str, Any]]]:
    """Start the agent of `entry`; return its `pai_record` events, as they come."""
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await start(hass, entry)
    return records


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


def light_agent(level: int, **kwargs: Any) -> MockConfigEntry:
    """The porch agent with one rule: motion turns the porch light on, up to `level`.

    `level` is ask (2) or act (3), and the rule is named after it; `kwargs` go to
    `agent_entry` (options, policy...).
    """
    name = "ask" if level == 2 else "act"
    return agent_entry(
        [rule(name, "light_on", level)],
        bindings={"actions": {"light_on": LIGHT_ON}},
        **kwargs,
    )


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


def with_brain(brain: dict[str, Any], **options: Any) -> MockConfigEntry:
    """A rules agent (test_runtime's) given an LLM brain, and `options`."""
    entry = agent_entry([rule("hint", "light_on", 1)], options=options)
    return MockConfigEntry(
        domain=DOMAIN,
        title=entry.title,
        unique_id=entry.unique_id,
        data={**entry.data, "brain": brain},
        options=dict(entry.options),
    )


FAN_ON = [
    {"action": "input_boolean.turn_on", "target": {"entity_id": "input_boolean.fan"}}
]


CPU_TRIGGER = {
    "type": "threshold",
    "name": "cpu-monitor",
    "params": {"metric": "cpu", "threshold": 75, "direction": "above"},
}


CLEANUP_RULE = {
    "name": "cpu-cleanup",
    "when": {"kind": "metric.breach", "source": "cpu-monitor"},
    "intent": {
        "action": "cleanup",
        "params": {},
        "confidence": 0.95,
        "urgency": 0.9,
        "rationale": "CPU is high",
        "level": 3,
    },
}


ACTIONS = {
    "cleanup": {"type": "callback", "handler": "free_memory"},
    "log": {"type": "console"},
    "hook": {"type": "webhook", "url": "https://example.com/hook"},
}


class Uploads:
    """Stands in for file_upload: an id per file, the copy deleted after the step."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: dict[str, Path] = {}

    def add(self, path: Path) -> str:
        file_id = uuid.uuid4().hex  # the FileSelector takes upload ids that are UUIDs
        self.files[file_id] = path
        return file_id

    @contextmanager
    def process(self, hass: HomeAssistant, file_id: str) -> Iterator[Path]:
        if file_id not in self.files:
            raise ValueError("File does not exist")
        temp = self.folder / file_id
        temp.mkdir(parents=True)
        copy = temp / self.files[file_id].name
        shutil.copyfile(self.files[file_id], copy)
        try:
            yield copy
        finally:
            shutil.rmtree(temp)


async def start_upload(hass: HomeAssistant) -> FlowResult:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["upload", "create"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "upload"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "upload"
    return result


async def configure(
    hass: HomeAssistant, result: FlowResult, user_input: dict[str, Any]
) -> FlowResult:
    return await hass.config_entries.flow.async_configure(result["flow_id"], user_input)


async def upload(
    hass: HomeAssistant, uploads: Uploads, path: Path, **review: Any
) -> FlowResult:
    """Upload a file and pass the review (ticking what `review` says: allow=[...])."""
    result = await start_upload(hass)
    result = await configure(hass, result, {"pai_file": uploads.add(path)})
    return await pass_review(hass, result, **review)


async def pass_review(
    hass: HomeAssistant, result: FlowResult, **review: Any
) -> FlowResult:
    """Answer the review step, if that is where the flow is; nothing ticked by default."""
    if result.get("step_id") != "review":
        return result
    return await configure(hass, result, review)


def _engine_file(folder: Path, sections: list[SectionSource]) -> bytes:
    folder.mkdir(parents=True, exist_ok=True)
    write_pai(folder / "x.pai", sections)
    return (folder / "x.pai").read_bytes()


def _sections(**replace: Any) -> list[SectionSource]:
    sections = {
        "manifest.json": {
            "name": "X",
            "version": "1",
            "author": "a",
            "description": "",
            "pai_format": 1,
            "kind": "proactive-agent",
        },
        "policy.json": {},
        "triggers.json": [],
        "rules.json": [],
        "actions.json": {},
    }
    sections.update(replace)
    return [
        value if isinstance(value, SectionSource) else json_section(name, value)
        for name, value in sections.items()
        if value is not None
    ]


async def start_reconfigure(hass: HomeAssistant, entry: ConfigEntry) -> FlowResult:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    assert result["step_id"] == "reconfigure"
    return result


async def import_file(hass: HomeAssistant, path: Path, **review: Any) -> FlowResult:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "import_file"}, data={"path": str(path)}
    )
    return await pass_review(hass, result, **review)


def _agent_sections() -> dict[str, Any]:
    return {
        "manifest.json": {
            "name": "Server watch",
            "version": "1.0.0",
            "author": "tests",
            "description": "",
            "pai_format": 1,
            "kind": "proactive-agent",
        },
        "policy.json": {"default_max_level": 3},
        "triggers.json": [CPU_TRIGGER],
        "rules.json": [CLEANUP_RULE],
        "actions.json": ACTIONS,
    }


@dataclass
class HookServer:
    """A real HTTP server on loopback that records what is POSTed to /hook."""

    url: str
    status: int = 200
    received: list[dict[str, Any]] = field(default_factory=list)


LLM_BRAIN: dict[str, Any] = {
    "type": "llm",
    "engine": "llama-server",
    "model": "gemma-3-270m-q4_k_m",
    "user_profile": "Runs a home server; prefers quiet fixes over alerts.",
    "base_url": "http://127.0.0.1:8080",  # engine-specific: kept as written
}


def pack_with_brain(
    path: Path,
    name: str,
    *,
    brain: dict[str, Any] | None = None,
    weights: Path | None = None,
) -> Path:
    """Pack the CPU-cleanup agent with paigent, as an author would publish it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pai.pack_agent(
        str(path),
        manifest={
            "name": name,
            "version": "1.0.0",
            "author": "tests",
            "description": "frees memory when the CPU runs hot",
        },
        policy={"default_max_level": 3, "max_interruptions_per_hour": 100},
        triggers=[CPU_TRIGGER],
        rules=[CLEANUP_RULE],
        actions=ACTIONS,
        brain=brain,
        weights_path=str(weights) if weights else None,
    )
    return path


def files_under(folder: Path) -> list[Path]:
    return (
        sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []
    )


def pai_files(hass: HomeAssistant) -> list[Path]:
    return files_under(Path(hass.config.path(DOMAIN)))


async def import_agent(
    hass: HomeAssistant, uploads: Uploads, path: Path
) -> ConfigEntry:
    """Import the default agent all the way: cpu -> sensor.cpu, cleanup -> fan on."""
    return await bind_all(hass, await upload(hass, uploads, path))


async def bind_all(hass: HomeAssistant, result: FlowResult) -> ConfigEntry:
    """Go through the binding steps: cpu -> sensor.cpu, cleanup -> fan on; the entry.

    A file that asks for an LLM keeps to its rules.
    """
    assert result["step_id"] == "bind_metrics"
    result = await configure(hass, result, {"cpu": "sensor.cpu"})
    assert result["step_id"] == "bind_actions"
    result = await configure(hass, result, {"cleanup": FAN_ON})
    assert result["step_id"] == "targets"
    result = await configure(
        hass, result, {"notify_targets": ["persistent_notification"]}
    )
    if result.get("step_id") == "brain":
        result = await configure(hass, result, {"kind": "rules"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry = result["result"]
    assert isinstance(entry, ConfigEntry)
    return entry


def suggested(result: FlowResult, field: str) -> Any:
    for key in result["data_schema"].schema:
        if key == field:
            return (key.description or {}).get("suggested_value")
    raise KeyError(field)


def _exported(folder: Path, ha_bindings: Any) -> Path:
    """The default agent, packed by the engine with an `ha_bindings.json` section."""
    sections = [json_section(name, value) for name, value in _agent_sections().items()]
    if isinstance(ha_bindings, SectionSource):
        sections.append(ha_bindings)
    else:
        sections.append(json_section("ha_bindings.json", ha_bindings))
    folder.mkdir(parents=True, exist_ok=True)
    write_pai(folder / "exported.pai", sections)
    return folder / "exported.pai"


STATE_TRIGGER = {"trigger": "state", "entity_id": "input_boolean.motion", "id": "m"}


def pack_llm(
    tmp_path: Path,
    *,
    brain: dict[str, Any] | None = None,
    weights: bytes | None = None,
) -> Path:
    """The CPU agent of test_config_flow, with a brain.json that asks for an LLM."""
    model = None
    if weights is not None:
        model = tmp_path / "model.gguf"
        model.write_bytes(weights)
    return pack_with_brain(
        tmp_path / "shelf" / "llm.pai",
        "Server brain",
        brain=brain or LLM_BRAIN,
        weights=model,
    )


def brain_suggested(result: FlowResult) -> dict[str, Any]:
    """Return every field's suggested value on a brain form."""
    return {
        str(key): (key.description or {}).get("suggested_value")
        for key in result["data_schema"].schema
    }


def pack(
    folder: Path,
    *,
    name: str = "Server watch",
    version: str = "1.0.0",
    triggers: list[dict[str, Any]] | None = None,
    rules: list[dict[str, Any]] | None = None,
    actions: dict[str, Any] | None = None,
    weights: bytes | None = None,
    description: str = "frees memory when the CPU runs hot",
) -> Path:
    """Pack an agent with paigent, as an author would publish it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}.pai".replace(" ", "_")
    weights_path = None
    if weights is not None:
        weights_path = folder / "model.gguf"
        weights_path.write_bytes(weights)
    pai.pack_agent(
        str(path),
        manifest={
            "name": name,
            "version": version,
            "author": "tests",
            "description": description,
        },
        policy={"default_max_level": 3, "max_interruptions_per_hour": 100},
        triggers=[CPU_TRIGGER] if triggers is None else triggers,
        rules=[CLEANUP_RULE] if rules is None else rules,
        actions=ACTIONS if actions is None else actions,
        weights_path=str(weights_path) if weights_path else None,
    )
    return path
