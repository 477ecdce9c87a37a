"""What the agent last decided, how many approvals wait, and how often it interrupted.

The last decision's state is the level the gate granted; its attributes say what for and
why. The rationale and reasons can be long, so the recorder keeps only the state and the
short attributes (each decision is a PAID record in the recorder anyway, event `pai_record`).

Agents with an LLM brain also show what it costs: calls in the last hour and estimated
dollars in the last day (the two budgets the router enforces), and which brain answered
last, with why the others were passed over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, override

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .const import DOMAIN, LEVEL_NAMES
from .engine.records import RecordView
from .entity import PaiEntity
from .runtime_data import PaiConfigEntry

if TYPE_CHECKING:
    from .runtime import AgentRuntime
    from .shadow import VersionKeeper

PARALLEL_UPDATES = 0
LAST_BRAIN = "last_brain"
SHADOW = "shadow_version"
SHADOW_VERDICTS = ["no_evidence", "better", "even", "worse"]


@dataclass(frozen=True, kw_only=True)
class PaiFigureSensorEntityDescription(SensorEntityDescription):
    """A figure the runtime keeps (a count, or dollars), read with `value_fn`."""

    value_fn: Callable[[AgentRuntime], int | float]
    changes_with_time: bool = False


COUNT_SENSORS = (
    PaiFigureSensorEntityDescription(
        key="pending_approvals",
        translation_key="pending_approvals",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda runtime: runtime.pending.approvals_waiting,
    ),
    PaiFigureSensorEntityDescription(
        key="interruptions_last_hour",
        translation_key="interruptions_last_hour",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda runtime: runtime.situation.interruptions_last_hour(),
        # A rolling hour: interruptions age out with no change in the runtime.
        changes_with_time=True,
    ),
)


LLM_SENSORS = (
    PaiFigureSensorEntityDescription(
        key="llm_calls_last_hour",
        translation_key="llm_calls_last_hour",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda runtime: runtime.router.calls_last_hour(dt_util.utcnow()),
        changes_with_time=True,
    ),
    PaiFigureSensorEntityDescription(
        key="llm_cost_today",
        translation_key="llm_cost_today",
        # No state class: a rolling day falls as calls age out, which statistics misread.
        device_class=SensorDeviceClass.MONETARY,
        native_unit_of_measurement="USD",
        suggested_display_precision=4,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda runtime: round(runtime.router.cost_today(dt_util.utcnow()), 6),
        changes_with_time=True,
    ),
)
"""Only for agents with an LLM brain: what the router's budgets count."""


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PaiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the agent's sensors."""
    runtime = entry.runtime_data.runtime
    sensors: list[SensorEntity] = [
        PaiLastDecisionSensor(runtime),
        *(PaiFigureSensor(runtime, description) for description in COUNT_SENSORS),
    ]
    llm_keys = [d.key for d in LLM_SENSORS] + [LAST_BRAIN]
    if runtime.router.has_llm:
        sensors += [PaiFigureSensor(runtime, d) for d in LLM_SENSORS]
        sensors.append(PaiLastBrainSensor(runtime))
    else:  # the brain was switched to the rules: its sensors go with it
        remove_entities(hass, Platform.SENSOR, runtime.entry_id, llm_keys)
    if (keeper := entry.runtime_data.versions) is not None and keeper.runner:
        sensors.append(PaiShadowSensor(runtime, keeper))
    else:  # no shadow (promoted, rolled back or never started): its sensor goes
        remove_entities(hass, Platform.SENSOR, runtime.entry_id, [SHADOW])
    async_add_entities(sensors)


def remove_entities(
    hass: HomeAssistant, platform: str, entry_id: str, keys: list[str]
) -> None:
    """Remove registered entities of an agent that it no longer has (not unavailable)."""
    registry = er.async_get(hass)
    for key in keys:
        if entity_id := registry.async_get_entity_id(
            platform, DOMAIN, f"{entry_id}_{key}"
        ):
            registry.async_remove(entity_id)


class PaiFigureSensor(PaiEntity, SensorEntity):
    """A figure the runtime keeps: a count, or what the LLM cost today in dollars."""

    entity_description: PaiFigureSensorEntityDescription

    def __init__(
        self, runtime: AgentRuntime, description: PaiFigureSensorEntityDescription
    ) -> None:
        """Show one of the runtime's counts."""
        super().__init__(runtime, description.key)
        self.entity_description = description
        self._changes_with_time = description.changes_with_time

    @property
    @override
    def native_value(self) -> int | float:
        """Return the count."""
        return self.entity_description.value_fn(self.runtime)


class PaiLastDecisionSensor(PaiEntity, SensorEntity):
    """The level granted to the agent's latest intent, with what it was and why."""

    _attr_device_class = SensorDeviceClass.ENUM
    _unrecorded_attributes = frozenset({"rationale", "reasons"})

    def __init__(self, runtime: AgentRuntime) -> None:
        """Show the runtime's latest record."""
        super().__init__(runtime, "last_decision")
        self._attr_options = list(LEVEL_NAMES)

    @property
    @override
    def native_value(self) -> str | None:
        """Return the granted level, lowercase; unknown before the first decision."""
        if (record := self.runtime.book.last) is None:
            return None
        granted = RecordView.of(record).granted_level
        return None if granted is None else LEVEL_NAMES[granted]

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the action, rationale, record id, execution status and reasons."""
        if (record := self.runtime.book.last) is None:
            return None
        view = RecordView.of(record)
        return {
            "action": view.action,
            "rationale": view.rationale,
            "record_id": view.record_id,
            "status": view.status,
            "reasons": [reason.get("detail") for reason in view.reasons],
        }


class PaiLastBrainSensor(PaiEntity, SensorEntity):
    """Which brain answered the agent's latest escalated event, and what it cost."""

    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _unrecorded_attributes = frozenset({"fallback", "dropped"})

    def __init__(self, runtime: AgentRuntime) -> None:
        """Show the runtime's latest routing outcome."""
        super().__init__(runtime, LAST_BRAIN)

    @property
    @override
    def native_value(self) -> str | None:
        """Return `rules` or the LLM brain's name; unknown before the first escalation."""
        if (brain := self.runtime.llm.last_brain) is None:
            return None
        return str(brain.get("name"))

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return why other brains were passed over, and the model, latency and cost."""
        if (brain := self.runtime.llm.last_brain) is None:
            return None
        usage = brain.get("usage") or {}
        return {
            "fallback": list(brain.get("fallback", [])),
            "dropped": list(brain.get("dropped", [])),
            "model": usage.get("model"),
            "latency_ms": usage.get("latency_ms"),
            "cost": usage.get("cost"),
        }


class PaiShadowSensor(PaiEntity, SensorEntity):
    """How the shadow version compares with the live one (shadow.py), while one runs."""

    _attr_device_class = SensorDeviceClass.ENUM
    _attr_options = SHADOW_VERDICTS

    def __init__(self, runtime: AgentRuntime, keeper: VersionKeeper) -> None:
        """Show the keeper's report."""
        super().__init__(runtime, SHADOW)
        self.keeper = keeper

    @property
    @override
    def native_value(self) -> str:
        """Return the verdict: better, even or worse than the live version, or no evidence."""
        return str(self.keeper.report(full=False)["verdict"])

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return the versions, the counts of agreements and disagreements, and the score."""
        made = self.keeper.report(full=False)
        return {
            key: made[key]
            for key in (
                "shadow_version",
                "live_version",
                "events",
                "agreed",
                "disagreed",
                "spared",
                "missed",
                "asked_where_approved",
                "asked_where_declined",
                "score",
            )
        }
