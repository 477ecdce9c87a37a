"""What a bound action will really do, in words taken from the binding, never from a model.

An approval request, an undo offer or an ACT notice names the Home Assistant action and its
target as Home Assistant will run them ("Unlock: Front door (lock.unlock)"): the service
names come from the validated binding, templates are rendered with the intent's params as
the run will render them, and entities are shown by their names with their ids. What the
model said (its rationale) only ever follows, quoted, below.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from homeassistant.const import ATTR_AREA_ID, ATTR_DEVICE_ID, ATTR_ENTITY_ID, CONF_SCENE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import TemplateError
from homeassistant.helpers import (
    area_registry as ar,
    config_validation as cv,
    device_registry as dr,
)
from homeassistant.helpers.template import Template
import probatio as vol

from .engine.bounds import short
from .sensitivity import nested_sequences, validate

MAX_TEXT = 240
"""A notification title is a line; longer descriptions are cut (with an ellipsis)."""
MAX_QUOTE = 400


def describe_sequence(
    hass: HomeAssistant, sequence: Any, variables: Mapping[str, Any]
) -> str:
    """One line naming every action of a bound sequence and what it acts on."""
    try:
        steps = validate(sequence)
    except vol.Invalid:
        return "an action sequence Home Assistant cannot run"
    parts = list(_steps(hass, steps, variables))
    return short("; ".join(dict.fromkeys(parts)) or "nothing", MAX_TEXT)


def with_quote(what: str, agent: str, rationale: str | None) -> str:
    """Return the message under a request: what runs, then the agent's words quoted."""
    if rationale and rationale.strip():
        quote = short(" ".join(rationale.split()), MAX_QUOTE)
        return f"{what}\n{agent} says: “{quote}”"
    return f"{what}\nAsked by {agent}"


def _steps(
    hass: HomeAssistant, steps: list[dict[str, Any]], variables: Mapping[str, Any]
) -> Iterator[str]:
    for step in steps:
        try:
            kind = cv.determine_script_action(step)
        except ValueError:
            yield "an unknown step"
            continue
        if kind == cv.SCRIPT_ACTION_CALL_SERVICE:
            yield _call(hass, step, variables)
        elif kind == cv.SCRIPT_ACTION_ACTIVATE_SCENE:
            scene = _render(step[CONF_SCENE], variables)
            yield f"Activate: {_names(hass, {ATTR_ENTITY_ID: [scene]})} (scene.turn_on)"
        elif kind == cv.SCRIPT_ACTION_DEVICE_AUTOMATION:
            device = _device_name(hass, str(step.get(ATTR_DEVICE_ID, "")))
            yield f"{_verb(str(step.get('type', 'act')))}: {device} ({step.get('domain')} device action)"
        else:
            nested = [
                part
                for sequence in nested_sequences(step)
                for part in _steps(hass, sequence, variables)
            ]
            if nested:
                yield from nested
            elif kind not in (
                cv.SCRIPT_ACTION_DELAY,
                cv.SCRIPT_ACTION_CHECK_CONDITION,
                cv.SCRIPT_ACTION_VARIABLES,
                cv.SCRIPT_ACTION_STOP,
                cv.SCRIPT_ACTION_WAIT_TEMPLATE,
                cv.SCRIPT_ACTION_WAIT_FOR_TRIGGER,
            ):
                yield kind.replace("_", " ")


def _call(
    hass: HomeAssistant, step: Mapping[str, Any], variables: Mapping[str, Any]
) -> str:
    service = _render(step.get("action", step.get("service_template", "")), variables)
    service = service.strip().lower()
    target: dict[str, list[str]] = {}
    for container in (step, step.get("target"), step.get("data")):
        found = (
            _rendered_mapping(container, variables)
            if isinstance(container, Template)
            else container
        )
        if not isinstance(found, Mapping):
            continue
        for key in (ATTR_ENTITY_ID, ATTR_DEVICE_ID, ATTR_AREA_ID):
            if key in found:
                target.setdefault(key, []).extend(
                    _ids(_render_any(found[key], variables))
                )
    verb = _verb(service.partition(".")[2] or service)
    names = _names(hass, target)
    return f"{verb}: {names} ({service})" if names else f"{verb} ({service})"


def _verb(name: str) -> str:
    return name.replace("_", " ").strip().capitalize() or "Run"


def _render(value: Any, variables: Mapping[str, Any]) -> str:
    return str(_render_any(value, variables))


def _render_any(value: Any, variables: Mapping[str, Any]) -> Any:
    if isinstance(value, Template):
        try:
            return value.async_render(dict(variables), parse_result=False)
        except TemplateError:
            return f"(a template: {value.template})"
    if isinstance(value, list | tuple):
        return [_render_any(v, variables) for v in value]
    return value


def _rendered_mapping(value: Template, variables: Mapping[str, Any]) -> Any:
    try:
        return value.async_render(dict(variables))
    except TemplateError:
        return None


def _ids(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value]
    return [str(value)]


def _names(hass: HomeAssistant, target: Mapping[str, list[str]]) -> str:
    names = []
    for entity_id in target.get(ATTR_ENTITY_ID, []):
        state = hass.states.get(entity_id)
        names.append(state.name if state is not None else entity_id)
    names += [_device_name(hass, d) for d in target.get(ATTR_DEVICE_ID, [])]
    areas = ar.async_get(hass)
    for area_id in target.get(ATTR_AREA_ID, []):
        area = areas.async_get_area(area_id)
        names.append(f"area {area.name if area else area_id}")
    return ", ".join(dict.fromkeys(names))


def _device_name(hass: HomeAssistant, device_id: str) -> str:
    device = dr.async_get(hass).async_get(device_id)
    if device is None:
        return f"device {device_id}"
    return device.name_by_user or device.name or f"device {device_id}"
