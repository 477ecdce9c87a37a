"""An agent's survival layer: the user's limits, and which bound actions are sensitive.

Which actions are security-sensitive is judged on what their bindings will run
(`sensitivity.py`): the scenes, scripts and automations they start, the devices, areas and
labels they target. That walk is not redone at every decision: it is redone when something
it reads may have changed (a registry, a group, scene, script or automation entity, a
switch or button appearing or renamed, a service), which Home Assistant announces on its
bus.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from homeassistant.const import (
    EVENT_SERVICE_REGISTERED,
    EVENT_SERVICE_REMOVED,
    EVENT_STATE_CHANGED,
)
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
    floor_registry as fr,
    label_registry as lr,
)
from homeassistant.util.hass_dict import HassKey

from .engine.models import SECURITY_SENSITIVE_ACTIONS, AutonomyLevel, SurvivalPolicy
from .sensitivity import BindingSensitivity, may_change_openers

_RUNNERS = ("scene.", "script.", "automation.")
"""Entities whose (re)configuration can change what a binding runs: Home Assistant
removes and adds them again when their configuration changes; their runs are not counted.
"""

_CHANGES = HassKey["_Changes"]("pai_sensitivity_changes")


class _Changes:
    """Counts what may change a sensitivity judgement, for all agents of one `hass`."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.count = 0
        for event_type in (
            er.EVENT_ENTITY_REGISTRY_UPDATED,
            dr.EVENT_DEVICE_REGISTRY_UPDATED,
            ar.EVENT_AREA_REGISTRY_UPDATED,
            fr.EVENT_FLOOR_REGISTRY_UPDATED,
            lr.EVENT_LABEL_REGISTRY_UPDATED,
            EVENT_SERVICE_REGISTERED,
            EVENT_SERVICE_REMOVED,
        ):
            hass.bus.async_listen(event_type, self._changed)
        hass.bus.async_listen(
            EVENT_STATE_CHANGED, self._changed, event_filter=self._runner
        )

    @callback
    def _changed(self, _event: Event[Any]) -> None:
        self.count += 1

    @staticmethod
    @callback
    def _runner(data: EventStateChangedData) -> bool:
        entity_id = data["entity_id"]
        if entity_id.startswith("group."):  # members can change in place
            return True
        old, new = data["old_state"], data["new_state"]
        if may_change_openers(entity_id, old, new):  # a switch or button renamed...
            return True
        return entity_id.startswith(_RUNNERS) and (old is None or new is None)


class SurvivalLayer:
    """The survival policy of one agent, with the sensitive actions judged now."""

    def __init__(
        self,
        hass: HomeAssistant,
        bindings: Mapping[str, Any],
        allowed_actions: frozenset[str] | None,
        lifted_actions: frozenset[str],
    ) -> None:
        """Validate the bindings once; the user's allowlist and lifted actions."""
        if (changes := hass.data.get(_CHANGES)) is None:
            changes = hass.data[_CHANGES] = _Changes(hass)
        self._changes = changes
        self.sensitivity = BindingSensitivity(hass, bindings)
        self._policy = SurvivalPolicy(
            allowed_actions=allowed_actions, lifted_actions=lifted_actions
        )
        self._judged_at: int | None = None

    def policy(self, ceiling: AutonomyLevel) -> SurvivalPolicy:
        """Return the survival policy under the user's `ceiling`, judged on what runs now."""
        policy = self._policy
        if self._judged_at != self._changes.count:
            self._judged_at = self._changes.count
            why = self.sensitivity.sensitive()
            if why != policy.sensitive_reasons:
                policy = replace(
                    policy,
                    sensitive_actions=SECURITY_SENSITIVE_ACTIONS | frozenset(why),
                    sensitive_reasons=why,
                )
        if policy.ceiling != ceiling:
            policy = replace(policy, ceiling=ceiling)
        self._policy = policy
        return policy
