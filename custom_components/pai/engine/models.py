"""The engine's vocabulary: events, intents, autonomy levels, policies and decisions.

Everything here is plain data (frozen dataclasses, no clocks, no globals) so that a decision
can be replayed from what was recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
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


# Actions that can let someone into the home or take it down: never above ASK unless the user
# lifts that for the action by name (SurvivalPolicy.lifted_actions).
SECURITY_SENSITIVE_ACTIONS: frozenset[str] = frozenset(
    {
        "lock.unlock",
        "lock.open",
        "alarm_control_panel.alarm_disarm",
        "cover.open_cover",  # only for garage doors and gates; the host narrows by device class
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
    """

    ceiling: AutonomyLevel = AutonomyLevel.ACT
    allowed_actions: frozenset[str] | None = None
    sensitive_actions: frozenset[str] = SECURITY_SENSITIVE_ACTIONS
    sensitive_max_level: AutonomyLevel = AutonomyLevel.ASK
    lifted_actions: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class GateInputs:
    """Everything outside the intent that a decision depends on, passed in explicitly.

    `now` is timezone-aware; quiet hours are read in its timezone. The host persists the
    interruption times and declines (they are data, not hidden state).
    """

    now: datetime
    interruption_cost: float = 0.3
    recent_interruptions: tuple[datetime, ...] = ()
    recent_declines: Mapping[str, int] = field(default_factory=dict)


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
