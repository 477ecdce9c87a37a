"""Perception: an agent's triggers as Home Assistant triggers, and fired triggers as events.

Agents use Home Assistant's own trigger machinery and syntax (state, numeric_state,
time_pattern, time, sun, event, template, ...). The portable trigger types of a .pai file map
onto them: interval -> time_pattern, schedule -> time, threshold -> numeric_state on the
entity bound to the metric, filewatch -> the events of Home Assistant's folder_watcher
integration (which must watch a folder holding the path) for files under the path, as
`file.created`, `file.changed` and `file.deleted` with the file's path, as paigent reports them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
import logging
import os
from typing import Any

from homeassistant.core import CALLBACK_TYPE, Context, HomeAssistant, State, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.trigger import (
    async_initialize_triggers,
    async_validate_trigger_config,
)
from homeassistant.helpers.typing import ConfigType
import probatio as vol

from .const import DOMAIN
from .engine.agent import (
    FileWatchTrigger,
    IntervalTrigger,
    ScheduleTrigger,
    ThresholdTrigger,
    Trigger,
)
from .engine.models import Event

_LOGGER = logging.getLogger(__name__)

# State attributes worth handing to a brain; the rest (pictures, long lists) stays out.
PAYLOAD_ATTRIBUTES = (
    "friendly_name",
    "device_class",
    "unit_of_measurement",
    "brightness",
    "temperature",
    "current_temperature",
    "battery_level",
)
MAX_EVENT_DATA_ITEMS = 20

FOLDER_WATCHER_EVENT = "folder_watcher"
# folder_watcher's event_type (watchdog's) -> paigent's kind; "moved" is handled apart.
FILE_KINDS = {
    "created": "file.created",
    "modified": "file.changed",
    "closed": "file.changed",
    "deleted": "file.deleted",
}


class InvalidTriggerError(Exception):
    """A trigger config that Home Assistant refuses; the message names the trigger."""


@dataclass(frozen=True, slots=True)
class TriggerSpec:
    """How one Home Assistant trigger config turns into PAI events."""

    config: dict[str, Any]
    source: str
    kind: str | None = None  # None: "ha.<trigger platform>"
    extra: Mapping[str, Any] | None = None
    watched_path: str | None = None  # filewatch: only files under this path count


@dataclass(frozen=True, slots=True)
class PerceivedEvent:
    """An event and the key that collapses a flood of its kind (the entity id)."""

    event: Event
    collapse_key: str | None


def trigger_specs(
    triggers: tuple[Trigger, ...],
    metrics: Mapping[str, str],
    ha_triggers: list[dict[str, Any]],
    *,
    folder_watcher: bool = True,
) -> tuple[list[TriggerSpec], list[str]]:
    """Map the agent's triggers onto Home Assistant trigger configs; list what cannot map.

    `folder_watcher`: whether the Folder Watcher integration (which filewatch triggers
    need) is set up.
    """
    specs: list[TriggerSpec] = []
    problems: list[str] = []
    if not folder_watcher and any(isinstance(t, FileWatchTrigger) for t in triggers):
        problems.append(
            "a filewatch trigger needs the Folder Watcher integration, "
            "which is not set up"
        )
    for trigger in triggers:
        match trigger:
            case IntervalTrigger():
                pattern = _time_pattern(trigger.interval_sec)
                if pattern is None:
                    problems.append(
                        f"trigger {trigger.name!r}: an interval of "
                        f"{trigger.interval_sec:g} s has no time pattern"
                    )
                    continue
                specs.append(
                    TriggerSpec(
                        {"trigger": "time_pattern", **pattern},
                        trigger.name,
                        "schedule.tick",
                    )
                )
            case ScheduleTrigger():
                specs.append(
                    TriggerSpec(
                        {"trigger": "time", "at": f"{trigger.at:%H:%M:%S}"},
                        trigger.name,
                        "schedule.daily",
                        {"at": f"{trigger.at:%H:%M}", **trigger.payload},
                    )
                )
            case ThresholdTrigger():
                entity_id = metrics.get(trigger.metric)
                if entity_id is None:
                    problems.append(
                        f"trigger {trigger.name!r}: metric {trigger.metric!r} "
                        "is not bound to an entity"
                    )
                    continue
                specs.extend(_threshold_specs(trigger, entity_id))
            case FileWatchTrigger():
                # folder_watcher watches recursively and its `folder` is the file's own
                # folder, so files under the path are picked in `perceive`, not here.
                specs.append(
                    TriggerSpec(
                        {"trigger": "event", "event_type": FOLDER_WATCHER_EVENT},
                        trigger.name,
                        extra={"watched_path": trigger.path},
                        watched_path=trigger.path,
                    )
                )
            case _:
                problems.append(
                    f"trigger {trigger.name!r}: type {trigger.type!r} is not supported"
                )
    for index, config in enumerate(ha_triggers):
        name = str(config.get("id") or config.get("alias") or f"trigger_{index}")
        specs.append(TriggerSpec(dict(config), name))
    return specs, problems


def _time_pattern(seconds: float) -> dict[str, str] | None:
    """Return the time_pattern that fires every `seconds`, if one does (it counts clock units)."""
    whole = int(seconds)
    if whole != seconds or whole <= 0:
        return None
    minutes, hours = whole // 60, whole // 3600
    if whole < 60 and 60 % whole == 0:
        return {"seconds": f"/{whole}"}
    if whole % 60 == 0 and minutes < 60 and 60 % minutes == 0:
        return {"minutes": f"/{minutes}"}
    if whole % 3600 == 0 and hours < 24 and 24 % hours == 0:
        return {"hours": f"/{hours}"}
    if whole == 24 * 3600:
        return {"hours": "0"}  # once a day, at midnight ("/24" is out of range)
    return None


def _threshold_specs(trigger: ThresholdTrigger, entity_id: str) -> list[TriggerSpec]:
    """Return a breach when the value crosses the threshold, a recovery when it crosses back."""
    crossed, back = (
        ("above", "below") if trigger.direction == "above" else ("below", "above")
    )
    extra = {
        "threshold": trigger.threshold,
        "direction": trigger.direction,
        "metric": trigger.metric,
    }
    return [
        TriggerSpec(
            {
                "trigger": "numeric_state",
                "entity_id": entity_id,
                crossed: trigger.threshold,
            },
            trigger.name,
            "metric.breach",
            extra,
        ),
        TriggerSpec(
            {
                "trigger": "numeric_state",
                "entity_id": entity_id,
                back: trigger.threshold,
            },
            trigger.name,
            "metric.recovered",
            extra,
        ),
    ]


def perceive(
    spec: TriggerSpec, trigger: Mapping[str, Any], cause: Context | None = None
) -> PerceivedEvent | None:
    """Turn the variables of a fired trigger into a compact PAI event (None: not ours).

    `cause`: the context the trigger fired in; the event keeps its id (`Event.cause`).
    """
    platform = str(trigger.get("platform") or spec.config.get("trigger") or "unknown")
    payload: dict[str, Any] = {}
    collapse_key: str | None = None
    kind = spec.kind or f"ha.{platform}"
    entity_id = trigger.get("entity_id")
    if isinstance(entity_id, str):
        collapse_key = entity_id
        payload["entity_id"] = entity_id
        payload.update(
            _state_payload(trigger.get("from_state"), trigger.get("to_state"))
        )
    if (event := trigger.get("event")) is not None:
        event_data = getattr(event, "data", {}) or {}
        payload["event_type"] = getattr(event, "event_type", None)
        payload["data"] = {
            key: value
            for key, value in list(event_data.items())[:MAX_EVENT_DATA_ITEMS]
            if isinstance(value, str | int | float | bool) or value is None
        }
        if spec.watched_path is not None:
            if (change := _file_change(spec.watched_path, event_data)) is None:
                return None
            kind, payload["path"] = change
            collapse_key = f"{kind} {payload['path']}"
    if "now" in trigger and isinstance(trigger["now"], datetime):
        payload["now"] = trigger["now"].isoformat()
    if spec.extra:
        payload.update(spec.extra)
    if "value" not in payload and isinstance(payload.get("to_state"), str):
        with contextlib.suppress(ValueError):
            payload["value"] = float(payload["to_state"])
    event = Event(
        source=spec.source,
        kind=kind,
        payload=payload,
        time=datetime.now(UTC),
        cause=cause.id if cause is not None else None,
    )
    return PerceivedEvent(event, collapse_key)


def _file_change(watched: str, data: Mapping[str, Any]) -> tuple[str, str] | None:
    """(kind, file path) of a folder_watcher event about a file under `watched`, else None.

    A file moved in counts as created, one moved out as deleted (paigent sees it so).
    """
    change, path = data.get("event_type"), data.get("path")
    if change == "moved":
        if isinstance(dest := data.get("dest_path"), str) and _is_under(dest, watched):
            return "file.created", dest
        change = "deleted"
    kind = FILE_KINDS.get(change) if isinstance(change, str) else None
    if kind is None or not isinstance(path, str) or not _is_under(path, watched):
        return None
    return kind, path


def _is_under(path: str, watched: str) -> bool:
    """Whether `path` is `watched` itself or inside it (a watched folder, or one file)."""
    path, watched = os.path.normpath(path), os.path.normpath(watched)
    return path == watched or path.startswith(watched.rstrip(os.sep) + os.sep)


def _state_payload(old: object, new: object) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "from_state": old.state if isinstance(old, State) else None,
        "to_state": new.state if isinstance(new, State) else None,
    }
    if isinstance(new, State):
        payload["attributes"] = {
            key: new.attributes[key]
            for key in PAYLOAD_ATTRIBUTES
            if key in new.attributes
        }
    return payload


async def async_attach(
    hass: HomeAssistant,
    specs: list[TriggerSpec],
    name: str,
    on_event: Callable[[PerceivedEvent, Context | None], None],
    configs: list[ConfigType] | None = None,
) -> CALLBACK_TYPE | None:
    """Validate and attach the triggers; each firing calls `on_event` (in the event loop).

    `configs`: the specs already validated by `async_validate`. Raises InvalidTriggerError
    when a trigger config is not valid.
    """
    if not specs:
        return None
    if configs is None:
        configs = await async_validate(hass, specs)

    @callback
    def fired(run_variables: dict[str, Any], context: Context | None = None) -> None:
        trigger = run_variables.get("trigger", {})
        spec = specs[int(trigger.get("idx", 0))]
        if (perceived := perceive(spec, trigger, context)) is not None:
            on_event(perceived, context)

    return await async_initialize_triggers(hass, configs, fired, DOMAIN, name, _log)


async def async_validate(
    hass: HomeAssistant, specs: list[TriggerSpec]
) -> list[ConfigType]:
    """Validate the trigger configs; raises InvalidTriggerError naming a bad one."""
    return [await _async_validate(hass, spec) for spec in specs]


async def _async_validate(hass: HomeAssistant, spec: TriggerSpec) -> ConfigType:
    try:
        [config] = await async_validate_trigger_config(
            hass, cv.TRIGGER_SCHEMA([spec.config])
        )
    except (vol.Invalid, HomeAssistantError) as err:
        raise InvalidTriggerError(f"trigger {spec.source!r}: {err}") from err
    return config


def _log(level: int, message: str, **kwargs: Any) -> None:
    _LOGGER.log(level, message, **kwargs)
