"""The agent definition: an agent file's JSON sections as typed, checked, frozen data.

An agent file (.pai) carries names, numbers and rules, never code; the host binds action
handlers and metrics to real things. This module reads the sections paigent's `pack_agent`
writes (manifest, policy, triggers, rules, actions and the optional brain) and refuses
what cannot work with an error that names the section and the field. What this engine does
not run yet but need not refuse (a trigger or action type from a newer host, a policy key
it does not know) is kept or dropped and listed in `AgentDefinition.problems`, so that a
user can be told without the whole agent being turned away.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
import math
import re
from typing import Any, ClassVar, Literal, Protocol

from .models import AutonomyLevel, Policy, QuietHours
from .rules import Rule, RuleError, parse_rules

MANIFEST = "manifest.json"
POLICY = "policy.json"
TRIGGERS = "triggers.json"
RULES = "rules.json"
ACTIONS = "actions.json"
BRAIN = "brain.json"
REQUIRED_SECTIONS = (MANIFEST, POLICY, TRIGGERS, RULES, ACTIONS)
JSON_SECTIONS = (*REQUIRED_SECTIONS, BRAIN)

AGENT_KIND = "proactive-agent"
SUPPORTED_PAI_FORMAT = 1
NOTIFY_ACTION = "__notify__"
"""paigent's conventional action for SUGGEST notifications; rules need not define it."""

MAX_TRIGGERS = 64
"""How many triggers one file may declare."""
MIN_INTERVAL_SEC = 1.0
"""The shortest interval an interval trigger may fire at."""

_HH_MM = re.compile(r"(\d{1,2}):(\d{2})")


class AgentDefinitionError(ValueError):
    """An agent definition that cannot be used; str() is `<section>: <what is wrong>`."""

    def __init__(self, section: str, message: str) -> None:
        """Name the section in the message and keep it for callers."""
        super().__init__(f"{section}: {message}")
        self.section = section


class MissingAgentSectionError(AgentDefinitionError):
    """A required section is absent."""


class InvalidManifestError(AgentDefinitionError):
    """manifest.json is wrong."""


class InvalidPolicyError(AgentDefinitionError):
    """policy.json is wrong."""


class InvalidTriggersError(AgentDefinitionError):
    """triggers.json is wrong."""


class InvalidRulesError(AgentDefinitionError):
    """rules.json is wrong."""


class InvalidActionsError(AgentDefinitionError):
    """actions.json is wrong."""


class InvalidBrainError(AgentDefinitionError):
    """brain.json is wrong."""


class SectionReader(Protocol):
    """What `load_agent_definition` needs of a .pai reader (the container's PaiReader)."""

    def __contains__(self, name: str) -> bool:
        """Whether the file has a section of that name."""
        ...

    def read_json(self, name: str) -> Any:
        """Return the section decoded from JSON."""
        ...


class _Section:
    """Checks values of one section and collects its warnings."""

    def __init__(
        self, name: str, error: type[AgentDefinitionError], problems: list[str]
    ):
        self.name = name
        self.error = error
        self.problems = problems

    def fail(self, message: str) -> AgentDefinitionError:
        return self.error(self.name, message)

    def warn(self, message: str) -> None:
        self.problems.append(f"{self.name}: {message}")

    def obj(self, value: Any, what: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(f"{what} must be an object, not {_type_name(value)}")
        return value

    def text(
        self, obj: Mapping[str, Any], key: str, what: str, *, empty: bool = False
    ) -> str:
        if key not in obj:
            raise self.fail(f"{what}{key} is required")
        value = obj[key]
        if not isinstance(value, str) or (not empty and not value.strip()):
            raise self.fail(
                f"{what}{key} must be a{'' if empty else ' non-empty'} string"
            )
        return value

    def number(
        self,
        obj: Mapping[str, Any],
        key: str,
        what: str,
        *,
        default: float | None = None,
    ) -> float:
        value = obj.get(key, default)
        if not _is_number(value):
            raise self.fail(f"{what}{key} must be a number")
        return float(value)

    def positive(
        self,
        obj: Mapping[str, Any],
        key: str,
        what: str,
        *,
        default: float | None = None,
    ) -> float:
        value = self.number(obj, key, what, default=default)
        if value <= 0:
            raise self.fail(f"{what}{key} must be a number above 0")
        return value

    def unit(self, obj: Mapping[str, Any], key: str, default: float) -> float:
        value = obj.get(key, default)
        if not _is_number(value) or not 0 <= value <= 1:
            raise self.fail(f"{key} must be a number between 0 and 1")
        return float(value)

    def integer(
        self, obj: Mapping[str, Any], key: str, default: int, minimum: int
    ) -> int:
        value = obj.get(key, default)
        if not _is_int(value) or value < minimum:
            raise self.fail(f"{key} must be a whole number of at least {minimum}")
        return int(value)

    def level(self, value: Any, what: str) -> AutonomyLevel:
        if not _is_int(value) or value not in AutonomyLevel:
            raise self.fail(f"{what} must be a level 0, 1, 2 or 3, not {value!r}")
        return AutonomyLevel(value)

    def unknown_keys(
        self, obj: Mapping[str, Any], known: frozenset[str], what: str
    ) -> None:
        for key in sorted(str(key) for key in obj if key not in known):
            self.warn(f"{what}unknown key {key!r} ignored")


# --- manifest.json ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Manifest:
    """Who made the agent and what it is; `extra` keeps the other keys (e.g. base_model)."""

    name: str
    version: str
    author: str
    description: str
    pai_format: int = SUPPORTED_PAI_FORMAT
    kind: str = AGENT_KIND
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the manifest.json form."""
        return {
            **self.extra,
            "name": self.name,
            "version": self.version,
            "author": self.author,
            "description": self.description,
            "pai_format": self.pai_format,
            "kind": self.kind,
        }


_MANIFEST_KEYS = frozenset(
    {"name", "version", "author", "description", "pai_format", "kind"}
)


def _parse_manifest(raw: Any, problems: list[str]) -> Manifest:
    sec = _Section(MANIFEST, InvalidManifestError, problems)
    obj = sec.obj(raw, "the manifest")
    # Only name and version are required (paigent writes no more); the rest, when
    # present, must be right.
    pai_format = obj.get("pai_format", SUPPORTED_PAI_FORMAT)
    if not _is_int(pai_format):
        raise sec.fail("pai_format must be a whole number")
    if pai_format != SUPPORTED_PAI_FORMAT:
        raise sec.fail(
            f"pai_format {pai_format} is not supported (this engine reads 1)"
        )
    if obj.get("kind", AGENT_KIND) != AGENT_KIND:
        raise sec.fail(f"kind must be {AGENT_KIND!r}, not {obj.get('kind')!r}")
    return Manifest(
        name=sec.text(obj, "name", ""),
        version=sec.text(obj, "version", ""),
        author=_optional_manifest_text(sec, obj, "author"),
        description=_optional_manifest_text(sec, obj, "description"),
        pai_format=pai_format,
        kind=AGENT_KIND,
        extra={key: value for key, value in obj.items() if key not in _MANIFEST_KEYS},
    )


def _optional_manifest_text(sec: _Section, obj: Mapping[str, Any], key: str) -> str:
    """Read an optional text field: absent or null is "", a non-string is refused."""
    if obj.get(key) is None:
        return ""
    return sec.text(obj, key, "", empty=True)


# --- policy.json -------------------------------------------------------------------------

_POLICY_KEYS = frozenset(
    {
        "min_confidence",
        "act_confidence",
        "default_max_level",
        "action_max_levels",
        "quiet_hours",
        "max_interruptions_per_hour",
        "urgency_override",
        "decline_penalty_threshold",
        "decline_window_hours",
    }
)


def _parse_policy(raw: Any, problems: list[str]) -> Policy:
    sec = _Section(POLICY, InvalidPolicyError, problems)
    obj = sec.obj(raw, "the policy")
    sec.unknown_keys(obj, _POLICY_KEYS, "")
    defaults = Policy()
    caps = sec.obj(obj.get("action_max_levels", {}), "action_max_levels")
    return Policy(
        min_confidence=sec.unit(obj, "min_confidence", defaults.min_confidence),
        act_confidence=sec.unit(obj, "act_confidence", defaults.act_confidence),
        default_max_level=sec.level(
            obj.get("default_max_level", int(defaults.default_max_level)),
            "default_max_level",
        ),
        action_max_levels={
            str(action): sec.level(level, f"action_max_levels[{action!r}]")
            for action, level in caps.items()
        },
        quiet_hours=_parse_quiet_hours(sec, obj.get("quiet_hours")),
        max_interruptions_per_hour=sec.integer(
            obj, "max_interruptions_per_hour", defaults.max_interruptions_per_hour, 0
        ),
        urgency_override=sec.unit(obj, "urgency_override", defaults.urgency_override),
        decline_penalty_threshold=sec.integer(
            obj, "decline_penalty_threshold", defaults.decline_penalty_threshold, 1
        ),
        decline_window_hours=sec.integer(
            obj, "decline_window_hours", defaults.decline_window_hours, 1
        ),
    )


def _parse_quiet_hours(sec: _Section, raw: Any) -> QuietHours | None:
    if raw is None or raw == []:
        return None
    if not isinstance(raw, list) or len(raw) != 2:
        raise sec.fail(
            'quiet_hours must be [start, end]: hours (22, 7) or "HH:MM" strings'
        )
    start, end = (_quiet_bound(sec, value) for value in raw)
    return QuietHours(start=start, end=end)


def _quiet_bound(sec: _Section, value: Any) -> time:
    if _is_int(value) and 0 <= value <= 23:
        return time(value)
    if isinstance(value, str) and (parsed := _parse_hh_mm(value)) is not None:
        return parsed
    raise sec.fail(f'quiet_hours: {value!r} is neither an hour 0-23 nor "HH:MM"')


def _policy_to_dict(policy: Policy) -> dict[str, Any]:
    quiet: list[int | str] | None = None
    if policy.quiet_hours is not None:
        bounds = (policy.quiet_hours.start, policy.quiet_hours.end)
        # Whole hours as ints, as paigent writes and reads them.
        whole = all(bound.minute == 0 for bound in bounds)
        quiet = [bound.hour if whole else f"{bound:%H:%M}" for bound in bounds]
    return {
        "min_confidence": policy.min_confidence,
        "act_confidence": policy.act_confidence,
        "default_max_level": int(policy.default_max_level),
        "action_max_levels": {
            key: int(value) for key, value in policy.action_max_levels.items()
        },
        "quiet_hours": quiet,
        "max_interruptions_per_hour": policy.max_interruptions_per_hour,
        "urgency_override": policy.urgency_override,
        "decline_penalty_threshold": policy.decline_penalty_threshold,
        "decline_window_hours": policy.decline_window_hours,
    }


# --- triggers.json -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IntervalTrigger:
    """Fires every `interval_sec` seconds (event kind `schedule.tick`)."""

    type: ClassVar[str] = "interval"
    name: str
    interval_sec: float

    def to_dict(self) -> dict[str, Any]:
        """Return the triggers.json form."""
        return _trigger_dict(self, {"interval_sec": self.interval_sec})


@dataclass(frozen=True, slots=True)
class ScheduleTrigger:
    """Fires once a day at a local time (event kind `schedule.daily`)."""

    type: ClassVar[str] = "schedule"
    name: str
    at: time
    payload: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the triggers.json form."""
        params: dict[str, Any] = {"at": f"{self.at:%H:%M}"}
        if self.payload:
            params["payload"] = dict(self.payload)
        return _trigger_dict(self, params)


@dataclass(frozen=True, slots=True)
class FileWatchTrigger:
    """Fires when files under `path` appear, change or go."""

    type: ClassVar[str] = "filewatch"
    name: str
    path: str

    def to_dict(self) -> dict[str, Any]:
        """Return the triggers.json form."""
        return _trigger_dict(self, {"path": self.path})


@dataclass(frozen=True, slots=True)
class ThresholdTrigger:
    """Fires when the named metric crosses `threshold` (`metric.breach`, `metric.recovered`)."""

    type: ClassVar[str] = "threshold"
    name: str
    metric: str
    threshold: float
    direction: Literal["above", "below"] = "above"
    check_interval: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """Return the triggers.json form."""
        return _trigger_dict(
            self,
            {
                "metric": self.metric,
                "threshold": self.threshold,
                "direction": self.direction,
                "check_interval": self.check_interval,
            },
        )


@dataclass(frozen=True, slots=True)
class UnknownTrigger:
    """A trigger type this engine does not run; kept as written and listed in problems."""

    type: str
    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the triggers.json form, unchanged."""
        return {"type": self.type, "name": self.name, "params": dict(self.params)}


type Trigger = (
    IntervalTrigger
    | ScheduleTrigger
    | FileWatchTrigger
    | ThresholdTrigger
    | UnknownTrigger
)


def _trigger_dict(trigger: Trigger, params: dict[str, Any]) -> dict[str, Any]:
    return {"type": trigger.type, "name": trigger.name, "params": params}


_TRIGGER_KEYS = frozenset({"type", "name", "params"})
_TRIGGER_PARAMS: Mapping[str, frozenset[str]] = {
    "interval": frozenset({"interval_sec"}),
    "schedule": frozenset({"at", "payload"}),
    "filewatch": frozenset({"path"}),
    "threshold": frozenset({"metric", "threshold", "direction", "check_interval"}),
}


def _parse_triggers(raw: Any, problems: list[str]) -> tuple[Trigger, ...]:
    sec = _Section(TRIGGERS, InvalidTriggersError, problems)
    if not isinstance(raw, list):
        raise sec.fail(f"triggers must be a list, not {_type_name(raw)}")
    if len(raw) > MAX_TRIGGERS:
        raise sec.fail(
            f"the file declares {len(raw)} triggers; the limit is {MAX_TRIGGERS}"
        )
    return tuple(
        _parse_trigger(sec, item, number) for number, item in enumerate(raw, 1)
    )


def _parse_trigger(sec: _Section, raw: Any, number: int) -> Trigger:
    obj = sec.obj(raw, f"trigger #{number}")
    kind = sec.text(obj, "type", f"trigger #{number}: ")
    name = obj.get("name", kind)
    if not isinstance(name, str) or not name.strip():
        raise sec.fail(f"trigger #{number}: name must be a non-empty string")
    where = f"trigger {name!r}: "
    params = sec.obj(obj.get("params", {}), f"trigger {name!r}: params")
    sec.unknown_keys(obj, _TRIGGER_KEYS, where)
    known = _TRIGGER_PARAMS.get(kind)
    if known is None:
        sec.warn(f"trigger {name!r} has unknown type {kind!r} (kept, not run)")
        return UnknownTrigger(type=kind, name=name, params=dict(params))
    sec.unknown_keys(params, known, where + "params: ")
    what = where + "params."
    match kind:
        case "interval":
            seconds = sec.positive(params, "interval_sec", what)
            if seconds < MIN_INTERVAL_SEC:
                raise sec.fail(
                    f"{what}interval_sec is {seconds:g}; the shortest interval is "
                    f"{MIN_INTERVAL_SEC:g} s"
                )
            return IntervalTrigger(name, seconds)
        case "schedule":
            at = params.get("at")
            parsed = _parse_hh_mm(at) if isinstance(at, str) else None
            if parsed is None:
                raise sec.fail(f'{what}at must be a time "HH:MM"')
            payload = sec.obj(params.get("payload") or {}, f"{what}payload")
            return ScheduleTrigger(name, parsed, dict(payload))
        case "filewatch":
            return FileWatchTrigger(name, sec.text(params, "path", what))
        case _:
            direction = params.get("direction", "above")
            if direction not in ("above", "below"):
                raise sec.fail(f"{what}direction must be 'above' or 'below'")
            return ThresholdTrigger(
                name,
                metric=sec.text(params, "metric", what),
                threshold=sec.number(params, "threshold", what),
                direction=direction,
                check_interval=sec.positive(
                    params, "check_interval", what, default=1.0
                ),
            )


# --- actions.json ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsoleAction:
    """Prints a notification (in Home Assistant: a persistent notification)."""

    type: ClassVar[str] = "console"

    def to_dict(self) -> dict[str, Any]:
        """Return the actions.json form."""
        return {"type": self.type}


@dataclass(frozen=True, slots=True)
class WebhookAction:
    """POSTs the intent as JSON to `url`."""

    type: ClassVar[str] = "webhook"
    url: str

    def to_dict(self) -> dict[str, Any]:
        """Return the actions.json form."""
        return {"type": self.type, "url": self.url}


@dataclass(frozen=True, slots=True)
class CallbackAction:
    """Calls the host's handler registered under `handler` (in HA: a service or script)."""

    type: ClassVar[str] = "callback"
    handler: str

    def to_dict(self) -> dict[str, Any]:
        """Return the actions.json form."""
        return {"type": self.type, "handler": self.handler}


@dataclass(frozen=True, slots=True)
class UnknownAction:
    """An action type this engine does not run; kept as written and listed in problems."""

    type: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the actions.json form, unchanged."""
        return {**self.params, "type": self.type}


type ActionSpec = ConsoleAction | WebhookAction | CallbackAction | UnknownAction


def _parse_actions(raw: Any, problems: list[str]) -> dict[str, ActionSpec]:
    sec = _Section(ACTIONS, InvalidActionsError, problems)
    obj = sec.obj(raw, "actions")
    actions: dict[str, ActionSpec] = {}
    for name, decl in obj.items():
        if not isinstance(name, str) or not name.strip():
            raise sec.fail("action names must be non-empty strings")
        actions[name] = _parse_action(sec, name, sec.obj(decl, f"action {name!r}"))
    return actions


def _parse_action(sec: _Section, name: str, decl: Mapping[str, Any]) -> ActionSpec:
    where = f"action {name!r}: "
    kind = sec.text(decl, "type", where)
    match kind:
        case "console":
            sec.unknown_keys(decl, frozenset({"type"}), where)
            return ConsoleAction()
        case "webhook":
            sec.unknown_keys(decl, frozenset({"type", "url"}), where)
            url = sec.text(decl, "url", where)
            if not url.startswith(("http://", "https://")):
                raise sec.fail(f"{where}url must start with http:// or https://")
            return WebhookAction(url)
        case "callback":
            sec.unknown_keys(decl, frozenset({"type", "handler"}), where)
            return CallbackAction(sec.text(decl, "handler", where))
        case _:
            sec.warn(f"action {name!r} has unknown type {kind!r} (kept, not run)")
            return UnknownAction(kind, {k: v for k, v in decl.items() if k != "type"})


# --- brain.json --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BrainConfig:
    """Which brain decides: the rules alone, or an LLM with the rules as its fallback."""

    type: Literal["rule", "llm"] = "rule"
    engine: str | None = None
    model: str | None = None
    user_profile: str = ""
    n_ctx: int | None = None
    learning: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Engine-specific keys (base_url, port, device, ...), kept as written."""

    def to_dict(self) -> dict[str, Any]:
        """Return the brain.json form (unset optional keys left out)."""
        optional = {"engine": self.engine, "model": self.model, "n_ctx": self.n_ctx}
        out: dict[str, Any] = {**self.extra, "type": self.type}
        out.update({key: value for key, value in optional.items() if value is not None})
        if self.user_profile:
            out["user_profile"] = self.user_profile
        if self.learning:
            out["learning"] = True
        return out


_BRAIN_KEYS = frozenset(
    {"type", "engine", "model", "user_profile", "n_ctx", "learning"}
)


def _parse_brain(raw: Any, problems: list[str]) -> BrainConfig:
    sec = _Section(BRAIN, InvalidBrainError, problems)
    obj = sec.obj(raw, "the brain")
    kind = obj.get("type", "rule")
    if kind not in ("rule", "llm"):
        raise sec.fail(f"type must be 'rule' or 'llm', not {kind!r}")
    engine = _optional_text(sec, obj, "engine")
    model = _optional_text(sec, obj, "model")
    profile = obj.get("user_profile", "")
    if not isinstance(profile, str):
        raise sec.fail("user_profile must be a string")
    n_ctx = obj.get("n_ctx")
    if n_ctx is not None and (not _is_int(n_ctx) or n_ctx < 1):
        raise sec.fail("n_ctx must be a whole number above 0")
    learning = obj.get("learning", False)
    if not isinstance(learning, bool):
        raise sec.fail("learning must be true or false")
    return BrainConfig(
        type=kind,
        engine=engine,
        model=model,
        user_profile=profile,
        n_ctx=n_ctx,
        learning=learning,
        extra={key: value for key, value in obj.items() if key not in _BRAIN_KEYS},
    )


def _optional_text(sec: _Section, obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise sec.fail(f"{key} must be a non-empty string")
    return value


# --- the definition ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentDefinition:
    """Everything an agent file declares, checked; `problems` lists what was kept or ignored."""

    manifest: Manifest
    policy: Policy
    triggers: tuple[Trigger, ...]
    rules: tuple[Rule, ...]
    actions: Mapping[str, ActionSpec]
    brain: BrainConfig = BrainConfig()
    problems: tuple[str, ...] = ()

    @classmethod
    def from_sections(cls, sections: Mapping[str, Any]) -> AgentDefinition:
        """Parse already-decoded JSON sections, keyed by section name (`policy.json`, ...)."""
        for name in REQUIRED_SECTIONS:
            if name not in sections:
                raise MissingAgentSectionError(
                    name, "section is missing from the agent file"
                )
        problems: list[str] = []
        manifest = _parse_manifest(sections[MANIFEST], problems)
        policy = _parse_policy(sections[POLICY], problems)
        triggers = _parse_triggers(sections[TRIGGERS], problems)
        try:
            rules = parse_rules(sections[RULES])
        except RuleError as err:
            raise InvalidRulesError(RULES, str(err)) from None
        actions = _parse_actions(sections[ACTIONS], problems)
        brain = (
            _parse_brain(sections[BRAIN], problems)
            if BRAIN in sections
            else BrainConfig()
        )
        problems.extend(
            f"{RULES}: rule {rule.name!r} uses action {rule.action!r},"
            f" which {ACTIONS} does not define"
            for rule in rules
            if rule.action not in actions and rule.action != NOTIFY_ACTION
        )
        return cls(manifest, policy, triggers, rules, actions, brain, tuple(problems))

    def to_sections(self) -> dict[str, Any]:
        """Return the JSON sections, ready to encode (for export)."""
        return {
            MANIFEST: self.manifest.to_dict(),
            POLICY: _policy_to_dict(self.policy),
            TRIGGERS: [trigger.to_dict() for trigger in self.triggers],
            RULES: [rule.to_dict() for rule in self.rules],
            ACTIONS: {name: action.to_dict() for name, action in self.actions.items()},
            BRAIN: self.brain.to_dict(),
        }


def load_agent_definition(reader: SectionReader) -> AgentDefinition:
    """Read and parse the JSON sections of an open agent file.

    Container errors (bad checksum, invalid JSON) propagate as the reader raises them.
    """
    sections = {
        name: reader.read_json(name) for name in JSON_SECTIONS if name in reader
    }
    return AgentDefinition.from_sections(sections)


def _parse_hh_mm(text: str) -> time | None:
    match = _HH_MM.fullmatch(text)
    if match is None:
        return None
    hour, minute = int(match[1]), int(match[2])
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__
