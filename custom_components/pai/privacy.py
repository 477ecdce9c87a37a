"""Privacy routing: events about labelled entities never reach a cloud brain or a webhook.

The user marks entities, their devices or their areas with a Home Assistant label (default
`pai_local_only`, chosen in the options). An event that names such an entity anywhere in
its payload is private: the router sends it only to local brains, or leaves it to the rules,
and its summary is kept out of the short memory other requests carry.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from homeassistant.core import HomeAssistant, split_entity_id, valid_entity_id
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
)

from .engine.models import Event

MAX_DEPTH = 4


class PrivacyGuard:
    """Says whether an event touches an entity, device or area carrying the label."""

    def __init__(self, hass: HomeAssistant, label: str) -> None:
        """Keep the label id (`pai_local_only` unless the options name another)."""
        self.hass = hass
        self.label = label

    def is_private(self, event: Event) -> bool:
        """Whether any entity named in the event is labelled, directly or by device/area."""
        return self.payload_is_private(event.payload)

    def payload_is_private(self, payload: Any) -> bool:
        """Whether any entity named in an event payload is labelled."""
        return any(self.entity_is_private(eid) for eid in _entity_ids(payload))

    def entity_is_private(self, entity_id: str) -> bool:
        """Whether the entity, its device or its area carries the label."""
        entry = er.async_get(self.hass).async_get(entity_id)
        if entry is None:
            return False
        if self.label in entry.labels:
            return True
        device = (
            dr.async_get(self.hass).async_get(entry.device_id)
            if entry.device_id
            else None
        )
        if device is not None and self.label in device.labels:
            return True
        area_id = entry.area_id or (device.area_id if device is not None else None)
        area = ar.async_get(self.hass).async_get_area(area_id) if area_id else None
        return area is not None and self.label in area.labels


def _entity_ids(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string in the payload that looks like an entity id (walks nested data)."""
    if depth > MAX_DEPTH:
        return
    if isinstance(value, str):
        if valid_entity_id(value) and split_entity_id(value)[0]:
            yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _entity_ids(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _entity_ids(item, depth + 1)
