"""What the agent last decided, how many approvals wait, and how often it interrupted.

The last decision's state is the level the gate granted; its attributes say what for and
why. The rationale and reasons can be long, so the recorder keeps only the state and the
short attributes (each decision is a PAID record in the recorder anyway, event `pai_record`).
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
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import LEVEL_NAMES
from .engine.records import EXTENSION_KEY
from .entity import PaiEntity
from .models import PaiConfigEntry

if TYPE_CHECKING:
    from .runtime import AgentRuntime

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class PaiCountSensorEntityDescription(SensorEntityDescription):
    """A count the runtime keeps, read with `value_fn`."""

    value_fn: Callable[[AgentRuntime], int]
    changes_with_time: bool = False


COUNT_SENSORS = (
    PaiCountSensorEntityDescription(
        key="pending_approvals",
        translation_key="pending_approvals",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda runtime: runtime.pending_approvals,
    ),
    PaiCountSensorEntityDescription(
        key="interruptions_last_hour",
        translation_key="interruptions_last_hour",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda runtime: runtime.interruptions_last_hour(),
        # A rolling hour: interruptions age out with no change in the runtime.
        changes_with_time=True,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PaiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the agent's sensors."""
    runtime = entry.runtime_data.runtime
    async_add_entities(
        [
            PaiLastDecisionSensor(runtime),
            *(PaiCountSensor(runtime, description) for description in COUNT_SENSORS),
        ]
    )


class PaiCountSensor(PaiEntity, SensorEntity):
    """A number the runtime counts."""

    entity_description: PaiCountSensorEntityDescription

    def __init__(
        self, runtime: AgentRuntime, description: PaiCountSensorEntityDescription
    ) -> None:
        """Show one of the runtime's counts."""
        super().__init__(runtime, description.key)
        self.entity_description = description
        self._changes_with_time = description.changes_with_time

    @property
    @override
    def native_value(self) -> int:
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
        if (record := self.runtime.last_record) is None:
            return None
        return LEVEL_NAMES[record["3_anticipation"]["granted_level"]]

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the action, rationale, record id, execution status and reasons."""
        if (record := self.runtime.last_record) is None:
            return None
        anticipation = record["3_anticipation"]
        reasons = record.get(EXTENSION_KEY, {}).get("reasons", [])
        return {
            "action": anticipation["action"],
            "rationale": anticipation["predicted_intent"],
            "record_id": record["record_id"],
            "status": record["4_execution"]["status"],
            "reasons": [reason["detail"] for reason in reasons],
        }
