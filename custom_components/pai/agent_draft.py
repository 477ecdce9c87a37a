"""The agent a config flow is putting together (its draft) and the pure helpers that shape it.

The flow's steps (config_flow.py) fill an `AgentDraft` form by form; what the entry will hold
is decided here, without Home Assistant's flow machinery, so it reads (and tests) on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from awesomeversion import AwesomeVersion, AwesomeVersionException
from homeassistant.helpers import config_validation as cv

from .agent_files import AgentFile
from .const import (
    BRAIN_AI_TASK,
    BRAIN_ANTHROPIC,
    BRAIN_LOCAL,
    BRAIN_OPENAI,
    BRAIN_RULES,
    CONF_AGENT,
    LEVEL_NAMES,
)
from .engine.agent import (
    NOTIFY_ACTION,
    AgentDefinition,
    BrainConfig,
    CallbackAction,
    ThresholdTrigger,
    UnknownAction,
)

CONF_SOURCE = "source"
CONF_ACTION = "action"
CONF_LEVEL = "level"
CONF_CONFIDENCE = "confidence"

CREATED_ACTION_PREFIX = "action_"
"""An agent made here names its actions action_1, action_2... in the order they were given."""

CONSOLE_BINDING: list[dict[str, Any]] = [
    {
        "action": "persistent_notification.create",
        "data": {"title": "{{ record_id }}", "message": "{{ params }}"},
    }
]
"""A file's `console` action in Home Assistant: a notification in the panel."""


@dataclass(frozen=True, slots=True)
class CreatedAction:
    """An action given on the create forms: its HA sequence, cap (level) and confidence."""

    sequence: list[dict[str, Any]]
    level: int
    confidence: float

    @classmethod
    def from_form(cls, user_input: Mapping[str, Any]) -> CreatedAction:
        """Read one action's fields (the sequence already checked)."""
        return cls(
            sequence=cv.ensure_list(user_input.get(CONF_ACTION) or []),
            level=LEVEL_NAMES.index(user_input[CONF_LEVEL]),
            confidence=float(user_input[CONF_CONFIDENCE]),
        )


def file_brain_kind(brain: BrainConfig, has_weights: bool) -> str:
    """Return the brain to suggest for an agent file's brain.json (rules unless it asks)."""
    if brain.type != "llm":
        return BRAIN_RULES
    engine = (brain.engine or "").lower()
    if "anthropic" in engine or "claude" in engine:
        return BRAIN_ANTHROPIC
    if "ai_task" in engine:
        return BRAIN_AI_TASK
    # Weights in the file: the author ships the model; anything else speaks OpenAI's API.
    return BRAIN_LOCAL if has_weights else BRAIN_OPENAI


def installed_version(data: Mapping[str, Any]) -> str | None:
    """Return the version an entry runs (None: made before versions were kept)."""
    source = data.get(CONF_SOURCE) or {}
    manifest = (data.get(CONF_AGENT) or {}).get("manifest.json") or {}
    version = source.get("version") or manifest.get("version")
    return str(version) if version else None


def is_newer(version: str, than: str) -> bool:
    """Whether `version` is newer than `than`; versions that do not compare differ only."""
    if version == than:
        return False
    try:
        return bool(AwesomeVersion(version) > AwesomeVersion(than))
    except AwesomeVersionException:
        return True


def threshold_metrics(definition: AgentDefinition) -> list[str]:
    """List the metrics the file's threshold triggers watch (each needs an entity)."""
    return sorted(
        {t.metric for t in definition.triggers if isinstance(t, ThresholdTrigger)}
    )


def actions_to_bind(definition: AgentDefinition) -> dict[str, str]:
    """Map each action HA must be told how to do to what the file says it is."""
    wanted: dict[str, str] = {}
    for name, spec in definition.actions.items():
        if isinstance(spec, CallbackAction):
            wanted[name] = f"handler {spec.handler!r}"
        elif isinstance(spec, UnknownAction):
            wanted[name] = f"type {spec.type!r}"
    for rule in definition.rules:
        if rule.action not in definition.actions and rule.action != NOTIFY_ACTION:
            wanted.setdefault(rule.action, "not declared in actions.json")
    return wanted


def created_name(number: int) -> str:
    """Return the name of the `number`th action given on the create forms."""
    return f"{CREATED_ACTION_PREFIX}{number}"


def describe(action: CreatedAction) -> str:
    """Say in a line what an action given on the forms does, and how far it may go."""
    called = ", ".join(
        str(step.get("action") or next(iter(step), "?")) for step in action.sequence
    )
    return f"{called} (up to {LEVEL_NAMES[action.level]})"


def created_agent(name: str, actions: list[CreatedAction]) -> AgentDefinition:
    """Make an agent with a rule per action: propose it, at its level, on every event."""
    names = [created_name(number) for number in range(1, len(actions) + 1)]
    sections = minimal_sections(name)
    # Each action's cap is the level given for it; anything else is only recorded.
    sections["policy.json"] = {
        "default_max_level": 0,
        "action_max_levels": {
            action_name: action.level
            for action_name, action in zip(names, actions, strict=True)
        },
    }
    sections["rules.json"] = [
        {
            "name": f"propose_{action_name}",
            "when": {},
            "intent": {
                "action": action_name,
                "params": {},
                "confidence": action.confidence,
                "urgency": 0.5,
                "rationale": f"Something {name} watches changed",
                "level": action.level,
            },
        }
        for action_name, action in zip(names, actions, strict=True)
    ]
    sections["actions.json"] = {
        action_name: {"type": "callback", "handler": action_name}
        for action_name in names
    }
    return AgentDefinition.from_sections(sections)


def created_triggers(
    entities: list[str], minutes: float | None
) -> list[dict[str, Any]]:
    """Return the Home Assistant triggers of an agent made here: the entities, a period."""
    triggers: list[dict[str, Any]] = []
    if entities:
        # `to: null`: state changes only, not every attribute update.
        triggers.append(
            {"trigger": "state", "entity_id": entities, "to": None, "id": "watched"}
        )
    if minutes:
        triggers.append(
            {
                "trigger": "time_pattern",
                "minutes": f"/{int(minutes)}",
                "id": f"every_{int(minutes)}_minutes",
            }
        )
    return triggers


def minimal_sections(name: str) -> dict[str, Any]:
    """Return an agent with no rules and no triggers (until it is given some)."""
    return {
        "manifest.json": {
            "name": name,
            "version": "1.0.0",
            "author": "Home Assistant",
            "description": "An agent created in Home Assistant",
            "pai_format": 1,
            "kind": "proactive-agent",
        },
        "policy.json": {},
        "triggers.json": [],
        "rules.json": [],
        "actions.json": {},
    }


@dataclass(slots=True)
class AgentDraft:
    """The flow's state: what the user has chosen so far, for the entry it will make."""

    name: str = ""
    agent: AgentFile | None = None
    definition: AgentDefinition | None = None
    sections: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, str] = field(default_factory=dict)
    actions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ha_triggers: list[dict[str, Any]] = field(default_factory=list)
    previous: Mapping[str, Any] = field(default_factory=dict)
    """Bindings suggested on the forms."""
    suggested_targets: list[str] = field(default_factory=list)
    created: list[CreatedAction] = field(default_factory=list)
    """The actions given on the create forms."""
    weights_from: Path | None = None
    """The file to extract weights from."""
    staged: bool = False
    """Whether that file is this flow's to delete."""
    release_weights: Callable[[], None] | None = None
    targets: list[str] = field(default_factory=list)
    brain_kind: str | None = None
    """Chosen on the create form."""
    brain: dict[str, Any] | None = None
    """What `entry.data["brain"]` will hold; None: rules alone."""
    brain_model: str | None = None
    brain_only: bool = False
    """Reconfigure without a file: only the brain changes."""
    shadow: bool = False
    """Reconfigure: keep the new version as a shadow beside the live one (versions.py)."""
    file_triggers: list[dict[str, Any]] = field(default_factory=list)
    """The triggers of the file's ha_bindings.json, to review."""
    consent: dict[str, Any] | None = None
    """What the review allowed."""
