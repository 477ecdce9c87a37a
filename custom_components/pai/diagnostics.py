"""Diagnostics for one agent: what a maintainer needs to understand a report, no secrets.

Credentials (API keys, tokens, passwords), webhook URLs and server addresses are redacted
wherever they appear, including inside the bound action sequences. The agent file itself is
summarised rather than copied (its actions may hold URLs, its sections may be large), and
records are reduced to their ids, actions, levels and statuses. The one exception is the
consent given in the review (`consent`): it is shown with its URLs, because what an agent was
allowed to reach is the user's own decision and what a maintainer must see. Beside the raw
options, `settings` shows what is in force (the file's policy, the options, the defaults).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util

from .const import CONF_AGENT, CONF_API_KEY, CONF_BASE_URL, LEVEL_NAMES
from .engine.agent import AgentDefinition, AgentDefinitionError
from .engine.records import RecordView
from .record_history import async_get_records
from .review import CONF_CONSENT, consent_for_diagnostics
from .runtime_data import PaiConfigEntry
from .settings import AgentSettings
from .versions import VERSION_KEYS

TO_REDACT = {
    CONF_API_KEY,
    CONF_BASE_URL,
    "access_token",
    "api_token",
    "authorization",
    "headers",
    "password",
    "refresh_token",
    "secret",
    "token",
    "url",
    "username",
    "webhook_id",
}
LAST_RECORDS = 10


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: PaiConfigEntry
) -> dict[str, Any]:
    """Return the agent's configuration, live state and last records, redacted."""
    data = {
        key: value
        for key, value in entry.data.items()
        if key not in (CONF_AGENT, CONF_CONSENT, *VERSION_KEYS)
    }
    diagnostics: dict[str, Any] = {
        "entry": {
            "title": entry.title,
            "version": entry.version,
            "minor_version": entry.minor_version,
            "state": str(entry.state),
            "data": async_redact_data(data, TO_REDACT),
            "options": async_redact_data(dict(entry.options), TO_REDACT),
        },
        # What is in force: the file's policy with the options on top, every default filled.
        "settings": async_redact_data(
            AgentSettings.read(entry.data, entry.options).for_diagnostics(), TO_REDACT
        ),
        "agent": _agent_summary(entry.data.get(CONF_AGENT)),
        # What the user allowed in the review, URLs included: their own decision.
        "consent": consent_for_diagnostics(entry.data),
    }
    for key in VERSION_KEYS:  # a shadow, or the version kept for rollback
        if isinstance(kept := entry.data.get(key), Mapping):
            diagnostics[key] = _kept_version(kept)
    if entry.state is ConfigEntryState.LOADED:
        diagnostics["runtime"] = _runtime_state(entry)
        if (keeper := entry.runtime_data.versions) is not None and (
            keeper.runner is not None or keeper.problem is not None
        ):
            diagnostics["shadow_report"] = keeper.report(full=False)
    diagnostics["last_records"] = await _last_records(hass, entry)
    return diagnostics


def _kept_version(kept: Mapping[str, Any]) -> dict[str, Any]:
    """Describe a kept version as the entry itself is described, redacted."""
    data = kept.get("data")
    data = data if isinstance(data, Mapping) else {}
    options = kept.get("options")
    return {
        **{
            key: kept[key]
            for key in ("version", "started", "promoted_at", "baseline")
            if key in kept
        },
        "agent": _agent_summary(data.get(CONF_AGENT)),
        "data": async_redact_data(
            {k: v for k, v in data.items() if k not in (CONF_AGENT, CONF_CONSENT)},
            TO_REDACT,
        ),
        "options": async_redact_data(
            dict(options) if isinstance(options, Mapping) else {}, TO_REDACT
        ),
    }


def _agent_summary(sections: Any) -> dict[str, Any]:
    """Say what the agent file declares, without its URLs or large sections."""
    if not isinstance(sections, Mapping):
        return {"file": None}  # an agent made in Home Assistant, not yet given rules
    try:
        definition = AgentDefinition.from_sections(sections)
    except AgentDefinitionError as err:
        return {"sections": sorted(sections), "error": str(err)}
    manifest = definition.manifest
    return {
        "sections": sorted(sections),
        "name": manifest.name,
        "version": manifest.version,
        "author": manifest.author,
        "kind": manifest.kind,
        "triggers": [trigger.type for trigger in definition.triggers],
        "rules": len(definition.rules),
        "actions": {name: spec.type for name, spec in definition.actions.items()},
        "brain": async_redact_data(definition.brain.to_dict(), TO_REDACT),
        "problems": list(definition.problems),
    }


def _runtime_state(entry: PaiConfigEntry) -> dict[str, Any]:
    """Return what the running agent holds now: activity, approvals, LLM budget."""
    runtime = entry.runtime_data.runtime
    now = dt_util.utcnow()
    router = runtime.router
    limits = router.limits
    return {
        "active": runtime.active,
        "autonomy_ceiling": LEVEL_NAMES[int(runtime.ceiling)],
        "pending_approvals": runtime.pending.approvals_waiting,
        "pending": [
            {
                "record_id": item.record_id,
                "kind": str(item.kind),
                "created": item.created.isoformat(),
                "expires": item.expires.isoformat(),
            }
            for item in runtime.approvals.pending()
        ],
        "interruptions_last_hour": runtime.situation.interruptions_last_hour(),
        "in_quiet_hours": runtime.situation.in_quiet_hours(),
        "queued_events": len(runtime.queue),
        "trigger_problems": list(runtime.trigger_problems),
        "router": {
            "brains": [
                {"name": brain.name, "is_local": brain.is_local}
                for brain in router.brains
            ],
            "calls_last_hour": router.calls_last_hour(now),
            "cost_today": round(router.cost_today(now), 6),
            "over_budget": router.over_budget(now),
            "open_circuits": router.open_circuits(now),
            "limits": {
                "min_interval_seconds": limits.min_interval.total_seconds(),
                "max_calls_per_hour": limits.max_calls_per_hour,
                "max_cost_per_day": limits.max_cost_per_day,
                "timeout_seconds": limits.timeout,
            },
        },
        "last_brain": runtime.llm.last_brain,
        "last_record": (
            _record_summary(runtime.book.last) if runtime.book.last else None
        ),
    }


async def _last_records(
    hass: HomeAssistant, entry: PaiConfigEntry
) -> list[dict[str, Any]] | str:
    """Return the agent's newest records from the recorder, or why there are none."""
    try:
        records = await async_get_records(
            hass, entry_id=entry.entry_id, since=None, limit=LAST_RECORDS, status=None
        )
    except HomeAssistantError as err:  # no recorder
        return f"unavailable: {err}"
    return [_record_summary(record) for record in records]


def _record_summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """Keep what explains a decision (ids, action, levels, status, reasons), not its data."""
    view = RecordView.of(record)
    return {
        "record_id": view.record_id,
        "timestamp": view.timestamp,
        "event_type": view.event_type,
        "action": view.action,
        "confidence": view.confidence,
        "requested_level": view.requested_level,
        "granted_level": view.granted_level,
        "status": view.status,
        "feedback": view.feedback,
        "reasons": [reason.get("code") for reason in view.reasons],
        "brain": view.brain.get("name"),
    }
