"""One logbook line per PAID record: which agent, what action, what became of it, and why.

Records arrive as `pai_record` events. The logbook shows whatever the recorder kept, which
may be old or not of our making, so nothing in the event is trusted to be well formed: a
line is always produced, with what could be read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from homeassistant.components.logbook.const import (
    LOGBOOK_ENTRY_CONTEXT_ID,
    LOGBOOK_ENTRY_ENTITY_ID,
    LOGBOOK_ENTRY_MESSAGE,
    LOGBOOK_ENTRY_NAME,
)
from homeassistant.components.logbook.models import LazyEventPartialState
from homeassistant.core import HomeAssistant, callback

from .const import DOMAIN, EVENT_PAI_RECORD
from .engine.models import AutonomyLevel
from .engine.records import RecordView

UNNAMED_AGENT = "PAI agent"


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[
        [str, str, Callable[[LazyEventPartialState], dict[str, Any]]], None
    ],
) -> None:
    """Describe `pai_record` events."""

    @callback
    def async_describe_record_event(event: LazyEventPartialState) -> dict[str, Any]:
        """Describe one record event."""
        name, message, entity_id = describe_record_event(event.data)
        return {
            LOGBOOK_ENTRY_NAME: name,
            LOGBOOK_ENTRY_MESSAGE: message,
            LOGBOOK_ENTRY_ENTITY_ID: entity_id,
            LOGBOOK_ENTRY_CONTEXT_ID: event.context_id,
        }

    async_describe_event(DOMAIN, EVENT_PAI_RECORD, async_describe_record_event)


def describe_record_event(data: Any) -> tuple[str, str, str | None]:
    """(agent name, message, perceived entity id) of a record event's data.

    The message reads `lights.turn_off → suggested (granted SUGGEST): <rationale>`; a shadow
    version's starts `shadow 1.1.0 would ask: `.
    """
    event_data = _mapping(data)
    agent = event_data.get("agent")
    name = agent if isinstance(agent, str) and agent else UNNAMED_AGENT
    record = RecordView.of(_mapping(event_data.get("record")))
    message = f"{record.action or 'an unnamed action'} → {record.status or 'unknown'}"
    if shadow := record.shadow:  # a shadow version's: it would have, nothing was done
        message = (
            f"shadow {_text(shadow.get('version')) or 'version'} would "
            f"{_text(shadow.get('delivery')) or 'decide'}: {message}"
        )
    if record.granted_level is not None:
        message += f" (granted {AutonomyLevel(record.granted_level).name})"
    if record.rationale:
        message += f": {record.rationale}"
    return name, message, _text(record.payload.get("entity_id"))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
