"""An agent's versions in its config entry: the shadow, promote and rollback.

`entry.data["shadow"]` holds a candidate version (`{"data", "options", "version",
"started"}`) that decides beside the live one (shadow.py); `pai.promote` makes it live and
keeps the live version as `entry.data["previous"]` (its data: file, bindings, triggers,
brain; its options; when it was replaced and its tally of requests and declines/undos);
`pai.rollback` restores that previous version in one step, by hand or automatically
(shadow.py's `VersionKeeper`). Each promotion and rollback is a PAID record
(`pai.promote` / `pai.rollback`, with its reason) and a rollback is announced on the
agent's notification targets. The entry reloads; everything survives a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
import logging
from typing import Any

from homeassistant.components import persistent_notification
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .agent_draft import installed_version
from .agent_files import async_cleanup_weights
from .const import DOMAIN, EVENT_PAI_RECORD
from .engine.bounds import fit_record
from .engine.models import AutonomyLevel, Decision, Event, Intent
from .engine.records import ExecutionStatus, build_record
from .engine.shadow import Tally
from .notifications import Notifier
from .storable import storable_problem

_LOGGER = logging.getLogger(__name__)

STORAGE_VERSION = 1
CONF_SHADOW = "shadow"
CONF_PREVIOUS = "previous"
VERSION_KEYS = (CONF_SHADOW, CONF_PREVIOUS)
"""Entry data keys that hold other versions, never part of a version's own data."""

ACTION_PROMOTE = "pai.promote"
ACTION_ROLLBACK = "pai.rollback"


def versions_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Return the store of an agent's versions (shadow.py): pairs, answers, tally."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.versions.{entry_id}")


def _error(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders or None,
    )


def own_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return a version's own data: the entry's data without the other versions."""
    return {key: value for key, value in data.items() if key not in VERSION_KEYS}


def with_shadow(
    entry: ConfigEntry, data: Mapping[str, Any], options: Mapping[str, Any]
) -> dict[str, Any]:
    """Return the entry's data with (`data`, `options`) as its shadow; the live one stays."""
    return {
        **entry.data,
        CONF_SHADOW: {
            "data": own_data(data),
            "options": dict(options),
            "version": installed_version(data),
            "started": dt_util.utcnow().isoformat(),
        },
    }


def _version(raw: object, key: str, name: str) -> Mapping[str, Any]:
    """Return the kept version `raw`, checked; a translated error when it is not usable."""
    if not isinstance(raw, Mapping):
        raise _error(f"no_{key}_version", agent=name)
    if not isinstance(raw.get("data"), Mapping) or not isinstance(
        raw.get("options"), Mapping
    ):
        raise _error("version_unreadable", agent=name, version=key)
    return raw


def _loaded(hass: HomeAssistant, entry_id: str) -> ConfigEntry:
    entry = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise _error("unknown_agent", agent=entry_id)
    if entry.state is not ConfigEntryState.LOADED:
        raise _error("agent_not_loaded", agent=entry.title)
    return entry


async def async_promote(hass: HomeAssistant, entry_id: str) -> dict[str, Any]:
    """Make the shadow live; keep the live version as the previous one. Reloads."""
    entry = _loaded(hass, entry_id)
    shadow = _version(entry.data.get(CONF_SHADOW), CONF_SHADOW, entry.title)
    keeper = entry.runtime_data.versions
    if (
        keeper is not None and keeper.runner is None
    ):  # it could not run: nor would it live
        raise _error(
            "version_unreadable",
            agent=entry.title,
            version=keeper.problem or CONF_SHADOW,
        )
    tally = keeper.tally if keeper is not None else Tally()
    live_version = installed_version(entry.data)
    data = {
        **own_data(shadow["data"]),
        CONF_PREVIOUS: {
            "data": own_data(entry.data),
            "options": dict(entry.options),
            "version": live_version,
            "promoted_at": dt_util.utcnow().isoformat(),
            "baseline": tally.to_dict(),
        },
    }
    if (problem := storable_problem(data)) is not None:
        raise _error("version_unreadable", agent=entry.title, version=problem)
    new_version = installed_version(data)
    _announce_record(
        hass,
        entry,
        ACTION_PROMOTE,
        f"version {new_version} promoted from shadow; {live_version} kept for rollback",
        {"from": live_version, "to": new_version},
    )
    if keeper is not None:
        await keeper.async_reset()
    hass.config_entries.async_update_entry(
        entry, data=data, options=dict(shadow["options"])
    )
    await hass.config_entries.async_reload(entry.entry_id)
    await async_cleanup_weights(hass)  # both versions' weights are kept
    return {"live_version": new_version, "previous_version": live_version}


async def async_rollback(
    hass: HomeAssistant, entry: ConfigEntry, *, reason: str | None = None
) -> dict[str, Any]:
    """Restore the previous version (file, bindings, options, brain) in one step.

    `reason`: why it rolls back by itself (announced); None when the user asked.
    """
    previous = _version(entry.data.get(CONF_PREVIOUS), CONF_PREVIOUS, entry.title)
    current = installed_version(entry.data)
    restored = installed_version(previous["data"])
    why = reason or "asked by the user"
    _announce_record(
        hass,
        entry,
        ACTION_ROLLBACK,
        f"rolled back from {current} to {restored}: {why}",
        {"from": current, "to": restored, "automatic": reason is not None},
    )
    if reason is not None:
        await _async_notify(hass, entry, current, restored, reason)
    if (
        entry.state is ConfigEntryState.LOADED
        and (keeper := entry.runtime_data.versions) is not None
    ):
        await keeper.async_reset()
    else:  # not loaded (the promoted version may fail to set up): start afresh
        await versions_store(hass, entry.entry_id).async_remove()
    hass.config_entries.async_update_entry(
        entry, data=own_data(previous["data"]), options=dict(previous["options"])
    )
    await hass.config_entries.async_reload(entry.entry_id)
    await async_cleanup_weights(hass)  # the rolled back version's, now unused
    return {"live_version": restored, "rolled_back_version": current, "reason": why}


async def async_rollback_service(hass: HomeAssistant, entry_id: str) -> dict[str, Any]:
    """`pai.rollback`: the user's rollback, also of a version that fails to set up."""
    entry = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise _error("unknown_agent", agent=entry_id)
    return await async_rollback(hass, entry)


def _announce_record(
    hass: HomeAssistant,
    entry: ConfigEntry,
    action: str,
    rationale: str,
    payload: dict[str, Any],
) -> None:
    """Publish the PAID record of a promotion or rollback (observed, with its reason)."""
    intent = Intent(
        action,
        rationale=rationale,
        confidence=1.0,
        requested_level=AutonomyLevel.OBSERVE,
    )
    record, _ = fit_record(
        build_record(
            Event(source=DOMAIN, kind=action, payload=payload, time=dt_util.utcnow()),
            Decision(intent, AutonomyLevel.OBSERVE, AutonomyLevel.OBSERVE),
            status=ExecutionStatus.OBSERVED,
            extensions={"ha": {"entry_id": entry.entry_id, "agent": entry.title}},
        )
    )
    hass.bus.async_fire(
        EVENT_PAI_RECORD,
        {"entry_id": entry.entry_id, "agent": entry.title, "record": record},
    )


async def _async_notify(
    hass: HomeAssistant,
    entry: ConfigEntry,
    current: str | None,
    restored: str | None,
    reason: str,
) -> None:
    """Tell the user an automatic rollback happened, and why."""
    title = f"{entry.title}: rolled back to {restored}"
    message = f"Version {current} was rolled back by itself: {reason}."
    persistent_notification.async_create(
        hass, message, title, notification_id=f"{DOMAIN}_rollback_{entry.entry_id}"
    )
    targets = [
        target
        for target in entry.options.get("notify_targets", [])
        if target != "persistent_notification"
    ]
    if targets:
        try:
            await Notifier(hass, targets).async_suggest(
                f"rollback_{entry.entry_id}", title, message
            )
        except Exception:  # the rollback itself must not fail on a phone
            _LOGGER.exception("%s: the rollback could not be announced", entry.title)
