"""The engine's vocabulary: events, intents, autonomy levels, policies and decisions.

Everything here is plain data (frozen dataclasses, no clocks, no globals) so that a decision
can be replayed from what was recorded. Each model checks its values once, where it is
made, and raises `InvalidModelError` with a sentence naming the field: whatever holds one
(the gate, the records, the ledger) can trust it and check nothing again. Integers read from
JSON become `AutonomyLevel`s and whole-number scores become floats on the way in.
"""

from __future__ import annotations

from collections.abc import Mapping, Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from enum import IntEnum, StrEnum
from typing import Any
import uuid


class AutonomyLevel(IntEnum):
    """How far PAI may go with an intent (same integers as paigent and the .pai format)."""

    OBSERVE = 0
    SUGGEST = 1
    ASK = 2
    ACT = 3


class InvalidModelError(ValueError):
    """A model was given a value it cannot hold (wrong type, NaN, out of range, naive time)."""


def _new_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True, slots=True)
class Event:
    """Something perceived: a trigger fired (HA state change, time pattern, ...)."""

    source: str
    kind: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    id: str = field(default_factory=_new_id)
    cause: str | None = field(default=None, compare=False)
    """What made it happen, as the host knows it (a Home Assistant context id); the host
    runs what it decides under a context whose parent this is. Not part of the record."""

    def __post_init__(self) -> None:
        """Refuse a source or kind that is not a name, or a naive time."""
        _name(self.source, "event: source")
        _name(self.kind, "event: kind")
        _aware(self.time, "event: time")

    def to_dict(self) -> dict[str, Any]:
        """Serialise like paigent's `Event.to_dict`."""
        return {
            "id": self.id,
            "source": self.source,
            "kind": self.kind,
            "payload": dict(self.payload),
            "ts": self.time.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Intent:
    """What a brain proposes; the gate decides how far it may go."""

    action: str
    params: Mapping[str, Any] = field(default_factory=dict)
    confidence: float = 0.5
    urgency: float = 0.5
    rationale: str = ""
    requested_level: AutonomyLevel = AutonomyLevel.SUGGEST
    event_id: str | None = None

    def __post_init__(self) -> None:
        """Refuse a nameless action or a score outside 0..1; read an int as a level."""
        if not isinstance(self.action, str) or not self.action:
            raise InvalidModelError(
                f"intent: action must be a non-empty name, got {self.action!r}"
            )
        what = f"intent {self.action!r}"
        _set(self, "confidence", _unit(self.confidence, f"{what}: confidence"))
        _set(self, "urgency", _unit(self.urgency, f"{what}: urgency"))
        _set(
            self,
            "requested_level",
            _level(self.requested_level, f"{what}: requested_level"),
        )
        if not isinstance(self.params, Mapping):
            raise InvalidModelError(
                f"{what}: params must map names to values, got {self.params!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Serialise like paigent's `Intent.to_dict`."""
        return {
            "action": self.action,
            "params": dict(self.params),
            "confidence": self.confidence,
            "urgency": self.urgency,
            "rationale": self.rationale,
            "requested_level": int(self.requested_level),
            "event_id": self.event_id,
        }


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window, wrapping midnight when start > end (22:00-07:00)."""

    start: time
    end: time

    def __post_init__(self) -> None:
        """Refuse bounds that are not wall-clock times (a timezone would be ignored)."""
        for name in ("start", "end"):
            bound = getattr(self, name)
            if not isinstance(bound, time) or bound.tzinfo is not None:
                raise InvalidModelError(
                    f"quiet hours: {name} must be a wall-clock time (no timezone), "
                    f"got {bound!r}"
                )

    def contains(self, moment: time) -> bool:
        """Whether a local wall-clock time falls inside the window."""
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


@dataclass(frozen=True, slots=True)
class Policy:
    """The agent's governance parameters (paigent's `ProactivityPolicy`, same defaults).

    Comes from the agent file's `policy.json` and the entry's options; an agent may change it.
    `action_max_levels` is copied, so changing the mapping it was made from changes nothing.
    """

    min_confidence: float = 0.4
    act_confidence: float = 0.85
    default_max_level: AutonomyLevel = AutonomyLevel.SUGGEST
    action_max_levels: Mapping[str, AutonomyLevel] = field(default_factory=dict)
    quiet_hours: QuietHours | None = None
    max_interruptions_per_hour: int = 6
    urgency_override: float = 0.9
    decline_penalty_threshold: int = 3
    decline_window_hours: int = 24

    def __post_init__(self) -> None:
        """Refuse scores outside 0..1 and negative counts; read ints as levels."""
        for name in ("min_confidence", "act_confidence", "urgency_override"):
            _set(self, name, _unit(getattr(self, name), f"policy: {name}"))
        for name in (
            "max_interruptions_per_hour",
            "decline_penalty_threshold",
            "decline_window_hours",
        ):
            _count(getattr(self, name), f"policy: {name}")
        _set(
            self,
            "default_max_level",
            _level(self.default_max_level, "policy: default_max_level"),
        )
        caps = self.action_max_levels
        if not isinstance(caps, Mapping) or not all(
            isinstance(action, str) for action in caps
        ):
            raise InvalidModelError(
                f"policy: action_max_levels must map action names to levels, got {caps!r}"
            )
        _set(
            self,
            "action_max_levels",
            {
                action: _level(cap, f"policy: action_max_levels[{action!r}]")
                for action, cap in caps.items()
            },
        )
        if self.quiet_hours is not None and not isinstance(
            self.quiet_hours, QuietHours
        ):
            raise InvalidModelError(
                "policy: quiet_hours must be a start and an end wall-clock time "
                f"(no timezone), got {self.quiet_hours!r}"
            )


# Actions that can let someone into the home or take it down: never above ASK unless the user
# lifts that for the action by name (SurvivalPolicy.lifted_actions).
SECURITY_SENSITIVE_ACTIONS: frozenset[str] = frozenset(
    {
        "lock.unlock",
        "lock.open",
        "alarm_control_panel.alarm_disarm",
        # every cover for now: garage doors and gates are among them
        "cover.open_cover",
        "cover.toggle",
        "cover.set_cover_position",
        "homeassistant.restart",
        "homeassistant.stop",
        "hassio.host_reboot",
        "hassio.host_shutdown",
    }
)


@dataclass(frozen=True, slots=True)
class SurvivalPolicy:
    """The outermost layer: set by the user in Home Assistant, never by an agent file or a brain.

    `allowed_actions` None means "every action the agent binds"; an empty set allows nothing.
    Any set of names is taken and kept as a frozenset.
    """

    ceiling: AutonomyLevel = AutonomyLevel.ACT
    allowed_actions: frozenset[str] | None = None
    sensitive_actions: frozenset[str] = SECURITY_SENSITIVE_ACTIONS
    sensitive_max_level: AutonomyLevel = AutonomyLevel.ASK
    lifted_actions: frozenset[str] = frozenset()
    sensitive_reasons: Mapping[str, str] = field(default_factory=dict)
    """Why (a short phrase) a bound action is security-sensitive, for the gate's reason."""

    def __post_init__(self) -> None:
        """Read ints as levels and any set of action names as a frozenset."""
        for name in ("ceiling", "sensitive_max_level"):
            _set(self, name, _level(getattr(self, name), f"survival policy: {name}"))
        if self.allowed_actions is not None:
            _set(
                self,
                "allowed_actions",
                _names(self.allowed_actions, "survival policy: allowed_actions"),
            )
        for name in ("sensitive_actions", "lifted_actions"):
            _set(self, name, _names(getattr(self, name), f"survival policy: {name}"))


@dataclass(frozen=True, slots=True)
class GateInputs:
    """Everything outside the intent that a decision depends on, passed in explicitly.

    `now` is timezone-aware; quiet hours are read in its timezone. The host persists the
    interruption times and declines (they are data, not hidden state); a list of times is
    kept as a tuple and the declines are copied.
    """

    now: datetime
    interruption_cost: float = 0.3
    recent_interruptions: tuple[datetime, ...] = ()
    recent_declines: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse naive times, a cost outside 0..1 and negative decline counts."""
        _aware(self.now, "gate inputs: now")
        _set(
            self,
            "interruption_cost",
            _unit(self.interruption_cost, "gate inputs: interruption_cost"),
        )
        recent: object = self.recent_interruptions
        if not isinstance(recent, (tuple, list)):
            raise InvalidModelError(
                "gate inputs: recent_interruptions must be a sequence of datetimes, "
                f"got {recent!r}"
            )
        for moment in recent:
            if not _is_aware(moment):
                raise InvalidModelError(
                    "gate inputs: recent_interruptions must hold timezone-aware "
                    f"datetimes, got {moment!r}"
                )
        _set(self, "recent_interruptions", tuple(recent))
        declines = self.recent_declines
        if not isinstance(declines, Mapping) or not all(
            isinstance(action, str) for action in declines
        ):
            raise InvalidModelError(
                "gate inputs: recent_declines must map action names to counts, "
                f"got {declines!r}"
            )
        for action, count in declines.items():
            if not _is_count(count):
                raise InvalidModelError(
                    f"gate inputs: recent_declines[{action!r}] must be a whole number "
                    f">= 0, got {count!r}"
                )
        _set(self, "recent_declines", dict(declines))


class ReasonCode(StrEnum):
    """Why a layer lowered (or kept) the level; stable codes for records, UI and translations."""

    LOW_CONFIDENCE = "low_confidence"
    ACTION_CAP = "action_cap"
    ACT_CONFIDENCE = "act_confidence"
    DECLINE_PENALTY = "decline_penalty"
    QUIET_HOURS = "quiet_hours"
    QUIET_HOURS_URGENT = "quiet_hours_urgent"
    INTERRUPTION_COST = "interruption_cost"
    HOURLY_CAP = "hourly_cap"
    NOT_ALLOWED = "not_allowed"
    SECURITY_SENSITIVE = "security_sensitive"
    CEILING = "ceiling"


@dataclass(frozen=True, slots=True)
class Reason:
    """One layer's say: what it changed and why, in words a user can read."""

    layer: str
    code: ReasonCode
    before: AutonomyLevel
    after: AutonomyLevel
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """Serialise for the PAID record's extension keys."""
        return {
            "layer": self.layer,
            "code": str(self.code),
            "before": int(self.before),
            "after": int(self.after),
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """The gate's verdict on one intent."""

    intent: Intent
    requested: AutonomyLevel
    granted: AutonomyLevel
    reasons: tuple[Reason, ...] = ()
    interruption_cost: float = 0.3

    @property
    def interrupts(self) -> bool:
        """SUGGEST and ASK interrupt the user and count against the hourly cap."""
        return self.granted in (AutonomyLevel.SUGGEST, AutonomyLevel.ASK)


# The checks, each raising InvalidModelError with a sentence that names the field.


def _set(model: object, name: str, value: object) -> None:
    """Store a checked (and converted) value on a frozen model."""
    object.__setattr__(model, name, value)


_LEVEL_CHOICES = ", ".join(f"{int(lv)} ({lv.name.lower()})" for lv in AutonomyLevel)


def _level(value: object, what: str) -> AutonomyLevel:
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return AutonomyLevel(value)
        except ValueError:
            pass
    raise InvalidModelError(f"{what} must be one of {_LEVEL_CHOICES}, got {value!r}")


def _unit(value: object, what: str) -> float:
    # NaN and the infinities fail the range check too.
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and 0 <= value <= 1
    ):
        return float(value)
    raise InvalidModelError(f"{what} must be a number from 0 to 1, got {value!r}")


def _count(value: object, what: str) -> None:
    if not _is_count(value):
        raise InvalidModelError(f"{what} must be a whole number >= 0, got {value!r}")


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _name(value: object, what: str) -> None:
    if not isinstance(value, str):
        raise InvalidModelError(f"{what} must be a name, got {value!r}")


def _names(value: object, what: str) -> frozenset[str]:
    if isinstance(value, AbstractSet) and all(isinstance(name, str) for name in value):
        return frozenset(value)
    raise InvalidModelError(f"{what} must be a set of action names, got {value!r}")


def _aware(value: object, what: str) -> None:
    if not _is_aware(value):
        raise InvalidModelError(
            f"{what} must be a timezone-aware datetime, got {value!r}"
        )


def _is_aware(value: object) -> bool:
    return isinstance(value, datetime) and value.utcoffset() is not None
