"""The rule brain: an agent file's declarative rules (rules.json) turned into intents.

Rules are data, never code, so an agent file can be shared without running anything its
author wrote. They follow paigent's convention and match what it matches:

    {"name": "cpu-cleanup",
     "when": {"kind": "metric.breach", "source": "cpu-monitor",
              "payload": [{"field": "value", "op": ">", "value": 75}]},
     "intent": {"action": "cleanup", "params": {}, "confidence": 0.9, "urgency": 0.95,
                "rationale": "CPU is high", "level": 2}}

`kind` and `source` compare exactly; every payload condition must hold (ops `==` (the
default), `!=`, `>`, `<`, `>=`, `<=`), and a missing or null field means no match. A field
names a payload key; when no key has that exact name, a dotted name walks into nested
objects (`attributes.temperature`). As in paigent, the intent's params carry the event's
payload under `event_payload`, so an action can see what triggered it.

Two optional keys look ahead: `condition` (an object the host judges, e.g. Home Assistant
state, through `extra_condition`) and `escalate` (ask an LLM brain to look closer).
Parsing is strict (a typo in a rule should not quietly match everything); matching is
forgiving: a rule that fails at run time is logged and skipped, and the others still run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
import logging
import math
import operator
from typing import Any

from .models import AutonomyLevel, Event, Intent

_LOGGER = logging.getLogger(__name__)

EVENT_PAYLOAD_PARAM = "event_payload"
"""The intent param that carries the triggering event's payload (as paigent names it)."""


def action_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Return an intent's params as its action gets them: without the event's payload."""
    return {key: value for key, value in params.items() if key != EVENT_PAYLOAD_PARAM}


DEFAULT_CONFIDENCE = 0.6
DEFAULT_URGENCY = 0.5
DEFAULT_LEVEL = AutonomyLevel.SUGGEST

OPERATORS: Mapping[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
}

_RULE_KEYS = frozenset({"name", "when", "intent", "condition", "escalate"})
_WHEN_KEYS = frozenset({"kind", "source", "payload"})
_CONDITION_KEYS = frozenset({"field", "op", "value"})
_INTENT_KEYS = frozenset(
    {"action", "params", "confidence", "urgency", "rationale", "level"}
)

type ExtraCondition = Callable[[Rule, Event], bool]
"""Judges a rule's `condition` object against the world outside the event."""


class RuleError(ValueError):
    """A rule that cannot be used; the message names the rule and the field."""


@dataclass(frozen=True, slots=True)
class Condition:
    """One payload test: `payload[field] <op> value`."""

    field: str
    op: str
    value: Any

    def holds(self, payload: Mapping[str, Any]) -> bool:
        """Whether the payload passes; a missing or null field does not."""
        actual = lookup(payload, self.field)
        return actual is not None and bool(OPERATORS[self.op](actual, self.value))

    def to_dict(self) -> dict[str, Any]:
        """Return the rules.json form."""
        return {"field": self.field, "op": self.op, "value": self.value}


@dataclass(frozen=True, slots=True)
class Rule:
    """One declarative rule: when an event matches, propose an intent."""

    name: str
    action: str
    kind: str | None = None
    source: str | None = None
    conditions: tuple[Condition, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    confidence: float = DEFAULT_CONFIDENCE
    urgency: float = DEFAULT_URGENCY
    rationale: str = ""
    level: AutonomyLevel = DEFAULT_LEVEL
    condition: Mapping[str, Any] | None = None
    escalate: bool = False

    def matches(self, event: Event) -> bool:
        """Whether the event passes `when` (not the host-judged `condition`)."""
        if self.kind is not None and event.kind != self.kind:
            return False
        if self.source is not None and event.source != self.source:
            return False
        return all(cond.holds(event.payload) for cond in self.conditions)

    def intent_for(self, event: Event) -> Intent:
        """Return the intent this rule proposes for a matching event."""
        return Intent(
            action=self.action,
            params={**self.params, EVENT_PAYLOAD_PARAM: dict(event.payload)},
            confidence=self.confidence,
            urgency=self.urgency,
            rationale=self.rationale,
            requested_level=self.level,
            event_id=event.id,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the rules.json form (defaults written out)."""
        when: dict[str, Any] = {}
        if self.kind is not None:
            when["kind"] = self.kind
        if self.source is not None:
            when["source"] = self.source
        if self.conditions:
            when["payload"] = [cond.to_dict() for cond in self.conditions]
        out: dict[str, Any] = {
            "name": self.name,
            "when": when,
            "intent": {
                "action": self.action,
                "params": dict(self.params),
                "confidence": self.confidence,
                "urgency": self.urgency,
                "rationale": self.rationale,
                "level": int(self.level),
            },
        }
        if self.condition is not None:
            out["condition"] = dict(self.condition)
        if self.escalate:
            out["escalate"] = True
        return out


def lookup(payload: Mapping[str, Any], path: str) -> Any:
    """`payload[path]`, or a walk along a dotted path; None when absent."""
    if path in payload:
        return payload[path]
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _always(rule: Rule, event: Event) -> bool:
    return True


class RuleBrain:
    """Proposes one intent per matching rule, in rule order; pure and synchronous."""

    def __init__(
        self, rules: Iterable[Rule], *, extra_condition: ExtraCondition = _always
    ) -> None:
        """Keep the rules; `extra_condition` judges rules that carry a `condition`."""
        self.rules: tuple[Rule, ...] = tuple(rules)
        self._extra_condition = extra_condition

    def think(
        self, event: Event, context: Mapping[str, Any] | None = None
    ) -> list[Intent]:
        """Return the intents for `event`; a rule that fails is logged and skipped."""
        return [intent for _, intent in self._matching(event)]

    def assess(self, event: Event) -> tuple[list[Intent], list[Intent]]:
        """Split the intents into those the rules settle and those to escalate to an LLM."""
        settled: list[Intent] = []
        escalated: list[Intent] = []
        for rule, intent in self._matching(event):
            (escalated if rule.escalate else settled).append(intent)
        return settled, escalated

    def _matching(self, event: Event) -> list[tuple[Rule, Intent]]:
        intents: list[tuple[Rule, Intent]] = []
        for rule in self.rules:
            try:
                if not rule.matches(event):
                    continue
                if rule.condition is not None and not self._extra_condition(
                    rule, event
                ):
                    continue
            except Exception:
                _LOGGER.exception(
                    "Rule %r failed on event %s and was skipped", rule.name, event.id
                )
                continue
            intents.append((rule, rule.intent_for(event)))
        return intents


def parse_rules(raw: Any) -> tuple[Rule, ...]:
    """Rules from decoded rules.json (a list of rule objects)."""
    if not isinstance(raw, list):
        raise RuleError(f"rules must be a list of rule objects, not {_type_name(raw)}")
    return tuple(parse_rule(item, index) for index, item in enumerate(raw))


def parse_rule(raw: Any, index: int = 0) -> Rule:
    """One rule from its decoded JSON object; `index` names it in errors until it has a name."""
    where = f"rule #{index + 1}"
    obj = _object(raw, where)
    _no_unknown_keys(obj, _RULE_KEYS, where)
    spec = _object(obj.get("intent"), f"{where}: intent")
    action = spec.get("action")
    if not isinstance(action, str) or not action.strip():
        raise RuleError(f"{where}: intent.action must be a non-empty string")
    name = obj.get("name", action)
    if not isinstance(name, str) or not name.strip():
        raise RuleError(f"{where}: name must be a non-empty string")
    where = f"rule {name!r}"
    _no_unknown_keys(spec, _INTENT_KEYS, f"{where}: intent")
    when = _object(obj.get("when", {}), f"{where}: when")
    _no_unknown_keys(when, _WHEN_KEYS, f"{where}: when")
    condition = obj.get("condition")
    if condition is not None and not isinstance(condition, Mapping):
        raise RuleError(f"{where}: condition must be an object")
    escalate = obj.get("escalate", False)
    if not isinstance(escalate, bool):
        raise RuleError(f"{where}: escalate must be true or false")
    rationale = spec.get("rationale", "")
    if not isinstance(rationale, str):
        raise RuleError(f"{where}: intent.rationale must be a string")
    return Rule(
        name=name,
        action=action,
        kind=_optional_str(when, "kind", where),
        source=_optional_str(when, "source", where),
        conditions=_conditions(when.get("payload", []), where),
        params=dict(_object(spec.get("params", {}), f"{where}: intent.params")),
        confidence=_unit(spec, "confidence", DEFAULT_CONFIDENCE, where),
        urgency=_unit(spec, "urgency", DEFAULT_URGENCY, where),
        rationale=rationale,
        level=_level(spec.get("level", int(DEFAULT_LEVEL)), where),
        condition=dict(condition) if condition is not None else None,
        escalate=escalate,
    )


def _conditions(raw: Any, where: str) -> tuple[Condition, ...]:
    if not isinstance(raw, list):
        raise RuleError(f"{where}: when.payload must be a list of conditions")
    conditions = []
    for number, item in enumerate(raw, start=1):
        at = f"{where}: when.payload #{number}"
        cond = _object(item, at)
        _no_unknown_keys(cond, _CONDITION_KEYS, at)
        path = cond.get("field")
        if not isinstance(path, str) or not path:
            raise RuleError(f"{at}: field must be a non-empty string")
        op = cond.get("op", "==")
        if not isinstance(op, str) or op not in OPERATORS:
            known = ", ".join(OPERATORS)
            raise RuleError(f"{at}: unknown op {op!r} (known: {known})")
        if "value" not in cond:
            raise RuleError(f"{at}: value is missing")
        conditions.append(Condition(path, op, cond["value"]))
    return tuple(conditions)


def _object(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise RuleError(f"{where} must be an object, not {_type_name(raw)}")
    return raw


def _no_unknown_keys(obj: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(str(key) for key in obj if key not in known)
    if unknown:
        raise RuleError(f"{where}: unknown key {', '.join(map(repr, unknown))}")


def _optional_str(when: Mapping[str, Any], key: str, where: str) -> str | None:
    value = when.get(key)
    if value is not None and not isinstance(value, str):
        raise RuleError(f"{where}: when.{key} must be a string")
    return value


def _unit(spec: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = spec.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise RuleError(f"{where}: intent.{key} must be a number between 0 and 1")
    return float(value)


def _level(value: Any, where: str) -> AutonomyLevel:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value not in AutonomyLevel
    ):
        raise RuleError(f"{where}: intent.level must be 0, 1, 2 or 3, not {value!r}")
    return AutonomyLevel(value)


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__
