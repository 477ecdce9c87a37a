"""Whether an action binding can do something security-sensitive, judged on what will run.

A name is not enough: Home Assistant lower-cases `Lock.Unlock`, `service_template` and a
templated `action:` choose the service at run time, `homeassistant.toggle` on a cover calls
`cover.toggle`, a scene can unlock a door, and a script or automation can hide any of these.
So a binding is first validated and normalised as Home Assistant itself does
(`cv.SCRIPT_SCHEMA`), then every step is walked, nested ones and the scenes, scripts and
automations it starts too, and the analysis fails closed: a step it cannot see through (a
template choosing the service or the target, a scene whose states it cannot read, a script
that does not exist yet, a binding that is not valid) counts as security-sensitive. What the
step does is named in one short line, which becomes part of the gate's reason.

Garage and gate openers are often not covers: a relay exposed as a `switch`, a `button`
that pulses the motor. Such an entity counts as a way in when Home Assistant says so: its
device class (the registry's, the integration's or the state's), its device also having a
lock, cover or alarm (failing closed: any cover, not only a garage one), or, as a last
resort, its entity id, name or device name saying garage, gate, door or opener
(`engine.openers`). Only turning it off (or refreshing it) is safe.

The scenes, scripts and automations are read when asked (at each decision), so a script
edited after the agent started is judged as it is now.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
import copy
import logging
from typing import Any

from homeassistant.const import (
    ATTR_AREA_ID,
    ATTR_DEVICE_ID,
    ATTR_ENTITY_ID,
    ATTR_FLOOR_ID,
    ATTR_LABEL_ID,
    CONF_CHOOSE,
    CONF_DEFAULT,
    CONF_ELSE,
    CONF_PARALLEL,
    CONF_REPEAT,
    CONF_SCENE,
    CONF_SEQUENCE,
    CONF_THEN,
    ENTITY_MATCH_ALL,
)
from homeassistant.core import HomeAssistant, split_entity_id, valid_entity_id
from homeassistant.helpers import (
    area_registry as ar,
    config_validation as cv,
    device_registry as dr,
    entity_registry as er,
)
from homeassistant.helpers.entity_platform import async_get_platforms
from homeassistant.helpers.template import Template
import probatio as vol

from .engine.models import SECURITY_SENSITIVE_ACTIONS
from .engine.openers import opener_class, opener_word

_LOGGER = logging.getLogger(__name__)

MAX_DEPTH = 8
"""Scripts calling scripts deeper than this are not followed (and count as sensitive)."""

SENSITIVE_DOMAINS = frozenset({"lock", "cover", "alarm_control_panel"})
"""Entities whose state decides who can get in."""

SAFE_SERVICES = frozenset(
    {
        "lock.lock",
        "cover.close_cover",
        "cover.close_cover_tilt",
        "cover.stop_cover",
        "cover.stop_cover_tilt",
        "alarm_control_panel.alarm_arm_away",
        "alarm_control_panel.alarm_arm_custom_bypass",
        "alarm_control_panel.alarm_arm_home",
        "alarm_control_panel.alarm_arm_night",
        "alarm_control_panel.alarm_arm_vacation",
        "alarm_control_panel.alarm_trigger",
        "homeassistant.update_entity",
    }
)
"""Services that only close, lock or arm: safe even on a lock, a cover or an alarm.

Every other service aimed at such an entity (`homeassistant.toggle`, an integration's own
entity service) is treated as able to open it.
"""

SAFE_STATES: Mapping[str, frozenset[str]] = {
    "lock": frozenset({"locked", "locking"}),
    "cover": frozenset({"closed", "closing"}),
    "alarm_control_panel": frozenset(
        {
            "armed_away",
            "armed_custom_bypass",
            "armed_home",
            "armed_night",
            "armed_vacation",
            "arming",
            "triggered",
        }
    ),
}
"""States a scene may set on such an entity without opening anything."""

OPENER_DOMAINS = frozenset({"switch", "button"})
"""Domains whose entities may be garage or gate openers (see `opener`)."""

OPENER_SAFE_SERVICES = frozenset(
    {"switch.turn_off", "homeassistant.turn_off", "homeassistant.update_entity"}
)
"""The only services that cannot make an opener open (a button is always pressed)."""

OPENER_SAFE_STATES = frozenset({"off"})
"""The only state a scene or an undo may set on an opener without opening anything."""

_SCRIPT_SERVICES = frozenset({"turn_on", "toggle"})
_TARGET_KEYS = (
    ATTR_ENTITY_ID,
    ATTR_DEVICE_ID,
    ATTR_AREA_ID,
    ATTR_FLOOR_ID,
    ATTR_LABEL_ID,
)


def validate(sequence: Any) -> list[dict[str, Any]]:
    """Return the sequence as Home Assistant normalises it; raises `vol.Invalid`.

    The schema renames keys in place, so it is given a copy.
    """
    return list(cv.SCRIPT_SCHEMA(copy.deepcopy(sequence)))


class BindingSensitivity:
    """The security-sensitive actions among one agent's bindings, and why each is.

    The bindings are validated once; the scenes, scripts and automations they start are
    read at each question, so the answer follows edits made since.
    """

    def __init__(self, hass: HomeAssistant, bindings: Mapping[str, Any]) -> None:
        """Validate every bound sequence (an invalid one is sensitive: it fails closed)."""
        self._hass = hass
        self._steps: dict[str, list[dict[str, Any]] | str] = {}
        for name, sequence in bindings.items():
            try:
                self._steps[name] = validate(sequence)
            except vol.Invalid as err:
                self._steps[name] = f"it is not a valid action sequence ({err})"

    def findings(self, name: str) -> list[str]:
        """Say, one line each, what in `name`'s binding is (or may be) sensitive."""
        steps = self._steps.get(name)
        if steps is None:
            return []
        if isinstance(steps, str):
            return [steps]
        return list(_Walk(self._hass).sequence(steps, 0, frozenset()))

    def sensitive(self) -> dict[str, str]:
        """Map each security-sensitive action name to why (its first finding)."""
        found: dict[str, str] = {}
        for name in self._steps:
            if findings := self.findings(name):
                found[name] = findings[0]
        return found


def _templated(value: Any) -> bool:
    """Whether a validated value is, or holds, a template that is not a constant."""
    if isinstance(value, Template):
        return not value.is_static
    if isinstance(value, Mapping):
        return any(_templated(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_templated(v) for v in value)
    return False


def _text(value: Any) -> str:
    return value.template if isinstance(value, Template) else str(value)


def _entity_list(value: Any) -> list[str]:
    if isinstance(value, Template):
        value = value.template
    if isinstance(value, str):
        return [part.strip().lower() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return [_text(v).strip().lower() for v in value]
    return []


class _Walk:
    """One pass over a sequence and everything it starts."""

    def __init__(self, hass: HomeAssistant) -> None:
        self._hass = hass

    def sequence(
        self, steps: list[dict[str, Any]], depth: int, seen: frozenset[str]
    ) -> Iterator[str]:
        for step in steps:
            yield from self.step(step, depth, seen)

    def step(
        self, step: dict[str, Any], depth: int, seen: frozenset[str]
    ) -> Iterator[str]:
        kind = cv.determine_script_action(step)  # the step was validated
        if kind == cv.SCRIPT_ACTION_CALL_SERVICE:
            yield from self.call(step, depth, seen)
        elif kind == cv.SCRIPT_ACTION_ACTIVATE_SCENE:
            yield from self.scene(_text(step[CONF_SCENE]))
        elif kind == cv.SCRIPT_ACTION_DEVICE_AUTOMATION:
            yield from self.device(step)
        else:
            for nested in nested_sequences(step):
                yield from self.sequence(nested, depth, seen)

    def call(
        self, step: dict[str, Any], depth: int, seen: frozenset[str]
    ) -> Iterator[str]:
        service = step.get("action", step.get("service_template"))
        if service is None or _templated(service):
            yield f"a template chooses the action ({_text(service)})"
            return
        service = _text(service).strip().lower()  # validated: `<domain>.<name>`
        target: dict[str, Any] = {}
        for container in (step, step.get("target"), step.get("data")):
            if isinstance(container, Template) and not container.is_static:
                yield f"a template chooses what {service} acts on"
                return
            if isinstance(container, Mapping):
                for key in _TARGET_KEYS:
                    if key in container:
                        if _templated(container[key]):
                            yield f"a template chooses what {service} acts on"
                            return
                        target.setdefault(key, []).extend(_entity_list(container[key]))
        for key in ("data_template",):
            if _templated(step.get(key)):
                yield f"a template chooses what {service} acts on"
                return
        if service in SECURITY_SENSITIVE_ACTIONS:
            yield f"calls {service}"
            return
        domain, name = service.split(".", 1)
        if domain in SENSITIVE_DOMAINS and service not in SAFE_SERVICES:
            yield f"calls {service}"
            return
        entities = self.entities(target)
        if service not in SAFE_SERVICES:
            if ENTITY_MATCH_ALL in entities:
                yield f"{service} on all entities"
                return
            if opened := sorted(
                e for e in entities if split_entity_id(e)[0] in SENSITIVE_DOMAINS
            ):
                yield f"{service} on {', '.join(opened)}"
                return
        if service not in OPENER_SAFE_SERVICES:
            for entity_id in sorted(entities):
                if (why := opener(self._hass, entity_id)) is not None:
                    yield f"{service} on {entity_id}, an opener ({why})"
                    return
        if domain == "scene" and name == "apply":
            yield from self.scene_states("scene.apply", step.get("data") or {})
        elif domain == "scene" and name == "turn_on":
            for entity_id in sorted(entities):
                yield from self.scene(entity_id)
        elif domain == "script":
            scripts = (
                sorted(entities) if name in _SCRIPT_SERVICES else [f"script.{name}"]
            )
            for entity_id in scripts:
                yield from self.runner(entity_id, "script", "script", depth, seen)
        elif domain == "automation" and name == "trigger":
            for entity_id in sorted(entities):
                yield from self.runner(
                    entity_id, "automation", "action_script", depth, seen
                )

    def entities(self, target: Mapping[str, list[str]]) -> set[str]:
        """Return the entity ids a target means (devices, areas, floors, labels expanded)."""
        entities = set(target.get(ATTR_ENTITY_ID, []))
        ent_reg = er.async_get(self._hass)
        dev_reg = dr.async_get(self._hass)
        devices = set(target.get(ATTR_DEVICE_ID, []))
        areas = set(target.get(ATTR_AREA_ID, []))
        for floor in target.get(ATTR_FLOOR_ID, []):
            areas |= {
                area.id
                for area in self._area_registry().async_list_areas()
                if area.floor_id == floor
            }
        for label in target.get(ATTR_LABEL_ID, []):
            entities |= {
                e.entity_id for e in er.async_entries_for_label(ent_reg, label)
            }
            devices |= {d.id for d in dr.async_entries_for_label(dev_reg, label)}
            areas |= {
                area.id
                for area in self._area_registry().async_list_areas()
                if label in area.labels
            }
        for area in areas:
            entities |= {e.entity_id for e in er.async_entries_for_area(ent_reg, area)}
            devices |= {d.id for d in dr.async_entries_for_area(dev_reg, area)}
        for device in devices:
            entities |= {
                e.entity_id for e in er.async_entries_for_device(ent_reg, device)
            }
        for entity_id in list(entities):
            if entity_id.startswith("group.") and (
                state := self._hass.states.get(entity_id)
            ):
                members = state.attributes.get(ATTR_ENTITY_ID) or []
                entities |= {str(member) for member in members}
        return entities

    def _area_registry(self) -> ar.AreaRegistry:
        return ar.async_get(self._hass)

    def device(self, step: Mapping[str, Any]) -> Iterator[str]:
        domain = str(step.get("domain", ""))
        if domain in SENSITIVE_DOMAINS:
            yield f"a {domain} device action ({step.get('type')})"
            return
        device_id = str(step.get(ATTR_DEVICE_ID, ""))
        ent_reg = er.async_get(self._hass)
        entries = er.async_entries_for_device(
            ent_reg, device_id, include_disabled_entities=True
        )
        for entry in entries:
            if entry.domain in SENSITIVE_DOMAINS:
                yield f"a device action on a device with {entry.entity_id}"
                return
        if domain in OPENER_DOMAINS and step.get("type") != "turn_off":
            for entry in entries:  # which one the step names may not resolve: all
                if entry.domain == domain and (
                    why := opener(self._hass, entry.entity_id)
                ):
                    yield f"a {domain} device action on {entry.entity_id}, an opener ({why})"
                    return

    def scene(self, entity_id: str) -> Iterator[str]:
        """Judge a scene: sensitive when it sets such an entity to an open state."""
        for platform in async_get_platforms(self._hass, "homeassistant"):
            if platform.domain != "scene":
                continue
            if (entity := platform.entities.get(entity_id)) is None:
                continue
            config = getattr(entity, "scene_config", None)
            states = getattr(config, "states", None)
            if isinstance(states, Mapping):
                for child, value in states.items():
                    state = getattr(value, "state", None)
                    if (why := opens(child, state, self._hass)) is not None:
                        yield f"{entity_id} {why}"
                        return
                return
        yield f"{entity_id} is a scene whose states cannot be read"

    def scene_states(self, label: str, data: Any) -> Iterator[str]:
        entities = data.get("entities") if isinstance(data, Mapping) else None
        if not isinstance(entities, Mapping):
            if _templated(data) or _templated(entities):
                yield f"a template chooses what {label} sets"
            return
        for child, value in entities.items():
            state = value.get("state") if isinstance(value, Mapping) else value
            if _templated(state):
                yield f"a template chooses what {label} sets {child} to"
                return
            if (why := opens(_text(child), _text(state), self._hass)) is not None:
                yield f"{label} {why}"
                return

    def runner(
        self,
        entity_id: str,
        integration: str,
        attribute: str,
        depth: int,
        seen: frozenset[str],
    ) -> Iterator[str]:
        """Follow a script or automation into its own actions."""
        if entity_id in seen:
            return
        if depth >= MAX_DEPTH:
            yield f"{entity_id} starts more than {MAX_DEPTH} scripts deep"
            return
        for platform in async_get_platforms(self._hass, integration):
            if (entity := platform.entities.get(entity_id)) is None:
                continue
            steps = getattr(getattr(entity, attribute, None), "sequence", None)
            if not isinstance(steps, list):
                break
            for why in self.sequence(steps, depth + 1, seen | {entity_id}):
                yield f"{entity_id}: {why}"
                return
            return
        yield f"{entity_id} cannot be read (it may not exist yet)"


def opens(entity_id: str, state: Any, hass: HomeAssistant | None = None) -> str | None:
    """Why setting `entity_id` to `state` can open something, else None.

    With `hass`, a switch or button that is an opener (`opener`) counts too.
    """
    if not valid_entity_id(entity_id):
        return f"sets {entity_id!r}, which is not an entity id"
    domain = split_entity_id(entity_id)[0]
    if domain in OPENER_DOMAINS and hass is not None:
        if isinstance(state, str) and state.strip().lower() in OPENER_SAFE_STATES:
            return None
        if (why := opener(hass, entity_id)) is not None:
            return f"sets {entity_id} to {state}, an opener ({why})"
        return None
    if domain not in SENSITIVE_DOMAINS:
        return None
    if isinstance(state, str) and state.strip().lower() in SAFE_STATES[domain]:
        return None
    return f"sets {entity_id} to {state}"


def may_change_openers(entity_id: str, old: Any, new: Any) -> bool:
    """Whether a state change can change which switches and buttons are openers.

    A switch or button appearing or going, or its device class or name changing (an entity
    with no registry entry is known only by its state). For the survival layer, which
    judges again only when something it reads may have changed.
    """
    if split_entity_id(entity_id)[0] not in OPENER_DOMAINS:
        return False
    if old is None or new is None:
        return True
    return any(
        old.attributes.get(key) != new.attributes.get(key)
        for key in ("device_class", "friendly_name")
    )


def opener(hass: HomeAssistant, entity_id: str) -> str | None:
    """Why a switch or button opens a garage, gate or door, else None.

    Asked in order of trust: a device class (the registry's own, the integration's, the
    state's), the entity's device having a lock, cover or alarm (disabled ones too), and
    last the words of its entity id, names and device's names.
    """
    if not valid_entity_id(entity_id):
        return None
    if split_entity_id(entity_id)[0] not in OPENER_DOMAINS:
        return None
    ent_reg = er.async_get(hass)
    entry = ent_reg.async_get(entity_id)
    state = hass.states.get(entity_id)
    classes = [state.attributes.get("device_class")] if state is not None else []
    names = [entity_id, state.name if state is not None else None]
    if entry is not None:
        classes[:0] = [entry.device_class, entry.original_device_class]
        names += [entry.name, entry.original_name]
    for device_class in classes:
        if opener_class(device_class):
            return f"device class {device_class}"
    if entry is not None and entry.device_id is not None:
        for other in er.async_entries_for_device(
            ent_reg, entry.device_id, include_disabled_entities=True
        ):
            if other.domain in SENSITIVE_DOMAINS:
                return f"its device also has {other.entity_id}"
        if device := dr.async_get(hass).async_get(entry.device_id):
            names += [device.name_by_user, device.name]
    for name in names:
        if (word := opener_word(name)) is not None:
            return f"its name says {word!r}"
    return None


def nested_sequences(step: Mapping[str, Any]) -> Iterator[list[dict[str, Any]]]:
    """Yield the sequences a control step (choose, if, parallel, repeat...) may run."""
    for option in step.get(CONF_CHOOSE, []) or []:
        if isinstance(option, Mapping):
            yield list(option.get(CONF_SEQUENCE, []))
    for key in (CONF_DEFAULT, CONF_THEN, CONF_ELSE, CONF_SEQUENCE):
        if isinstance(step.get(key), list):
            yield list(step[key])
    if isinstance(repeat := step.get(CONF_REPEAT), Mapping):
        yield list(repeat.get(CONF_SEQUENCE, []))
    for branch in step.get(CONF_PARALLEL, []) or []:
        if isinstance(branch, Mapping):
            yield [dict(branch)]
