"""PAI's actions: evaluate, answers, feedback, records, replay, files, learning, versions.

Registered once in `async_setup` (not per entry), as Home Assistant asks; each call names the
agent (its config entry) or a record id, and bad input raises a translated
ServiceValidationError. The actions that read or write files (export_agent, import_agent,
export_preferences, import_adapter) and those that change the live version (promote,
rollback) are for administrators only (`Unauthorized` for any
other user); the answers (approve, decline, undo, feedback) stay open to every user.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Any, cast

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.service import async_register_admin_service
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonValueType
import probatio as vol

from .answers import ResolveError
from .const import DOMAIN
from .dry_run import BRAIN_LLM, BRAIN_RULES, async_simulate, live_brains, retention_days
from .engine.records import ExecutionStatus, Feedback
from .export import async_export_agent, async_import_agent
from .learning import async_export_preferences, async_import_adapter
from .record_history import async_get_records
from .runtime import AgentRuntime
from .runtime_data import PaiConfigEntry, owner_of_record
from .versions import async_promote, async_rollback_service

ATTR_AGENT = "agent"
ATTR_KIND = "kind"
ATTR_PAYLOAD = "payload"
ATTR_ESCALATE = "escalate"
ATTR_RECORD_ID = "record_id"
ATTR_FEEDBACK = "feedback"
ATTR_SINCE = "since"
ATTR_LIMIT = "limit"
ATTR_STATUS = "status"
ATTR_PATH = "path"
ATTR_INCLUDE_WEIGHTS = "include_weights"
ATTR_OVERWRITE = "overwrite"
ATTR_DAYS = "days"
ATTR_BRAIN = "brain"

SERVICE_EVALUATE = "evaluate"
SERVICE_APPROVE = "approve"
SERVICE_DECLINE = "decline"
SERVICE_UNDO = "undo"
SERVICE_SNOOZE = "snooze"
SERVICE_FALSE_ALARM = "false_alarm"
SERVICE_FEEDBACK = "feedback"
SERVICE_GET_RECORDS = "get_records"
SERVICE_REPLAY = "replay"
SERVICE_EXPORT_AGENT = "export_agent"
SERVICE_IMPORT_AGENT = "import_agent"
SERVICE_EXPORT_PREFERENCES = "export_preferences"
SERVICE_IMPORT_ADAPTER = "import_adapter"
SERVICE_SIMULATE = "simulate"
SERVICE_GET_SHADOW_REPORT = "get_shadow_report"
SERVICE_PROMOTE = "promote"
SERVICE_ROLLBACK = "rollback"

_RECORD_SCHEMA = vol.Schema({vol.Required(ATTR_RECORD_ID): cv.string})
ATTR_MINUTES = "minutes"
_SNOOZE_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_RECORD_ID): cv.string,
        vol.Optional(ATTR_MINUTES, default=30): vol.All(
            vol.Coerce(float), vol.Range(min=1, max=1440)
        ),
    }
)
_EVALUATE_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_AGENT): cv.string,
        vol.Required(ATTR_KIND): cv.string,
        vol.Optional(ATTR_PAYLOAD, default={}): dict,
        vol.Optional(ATTR_ESCALATE, default=False): cv.boolean,
    }
)
_FEEDBACK_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_RECORD_ID): cv.string,
        vol.Required(ATTR_FEEDBACK): vol.In([str(item) for item in Feedback]),
    }
)
_GET_RECORDS_SCHEMA = vol.Schema(
    {
        vol.Optional(ATTR_AGENT): cv.string,
        vol.Optional(ATTR_SINCE): cv.datetime,
        vol.Optional(ATTR_LIMIT, default=50): vol.All(
            vol.Coerce(int), vol.Range(min=1, max=1000)
        ),
        vol.Optional(ATTR_STATUS): vol.In([str(item) for item in ExecutionStatus]),
    }
)
_EXPORT_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_AGENT): cv.string,
        vol.Required(ATTR_PATH): cv.string,
        vol.Optional(ATTR_INCLUDE_WEIGHTS, default=False): cv.boolean,
        vol.Optional(ATTR_OVERWRITE, default=False): cv.boolean,
    }
)
_SIMULATE_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_AGENT): cv.string,
        vol.Optional(ATTR_DAYS, default=7): vol.All(
            vol.Coerce(int), vol.Range(min=1, max=366)
        ),
        vol.Optional(ATTR_BRAIN, default=BRAIN_RULES): vol.In([BRAIN_RULES, BRAIN_LLM]),
    }
)
_IMPORT_SCHEMA = vol.Schema({vol.Required(ATTR_PATH): cv.string})
_EXPORT_PREFERENCES_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_AGENT): cv.string,
        vol.Required(ATTR_PATH): cv.string,
        vol.Optional(ATTR_LIMIT, default=1000): vol.All(
            vol.Coerce(int), vol.Range(min=1, max=10000)
        ),
        vol.Optional(ATTR_OVERWRITE, default=False): cv.boolean,
    }
)
_IMPORT_ADAPTER_SCHEMA = vol.Schema(
    {vol.Required(ATTR_AGENT): cv.string, vol.Required(ATTR_PATH): cv.string}
)
_AGENT_SCHEMA = vol.Schema({vol.Required(ATTR_AGENT): cv.string})


def _error(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders or None,
    )


def _runtime(hass: HomeAssistant, entry_id: str) -> AgentRuntime:
    entry: PaiConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise _error("unknown_agent", agent=entry_id)
    if entry.state is not ConfigEntryState.LOADED:
        raise _error("agent_not_loaded", agent=entry.title)
    return entry.runtime_data.runtime


def shadow_report(hass: HomeAssistant, entry_id: str) -> dict[str, Any]:
    """Return the agent's shadow report; a translated error when it runs no shadow."""
    runtime = _runtime(hass, entry_id)
    entry: PaiConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    keeper = None if entry is None else entry.runtime_data.versions
    if keeper is None or (keeper.runner is None and keeper.problem is None):
        raise _error("no_shadow_version", agent=runtime.name)
    return keeper.report()


async def _answered(
    record_id: str, answering: Awaitable[dict[str, Any]]
) -> ServiceResponse:
    """Return the answered record, or the translated error that says why it was not."""
    try:
        record = await answering
    except ResolveError as err:
        raise _error(f"resolve_{err.reason}", record_id=record_id) from err
    return {"record": record}


def _runtime_for_record(hass: HomeAssistant, record_id: str) -> AgentRuntime:
    if (runtime := owner_of_record(hass, record_id)) is None:
        raise _error("unknown_record", record_id=record_id)
    return runtime


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register PAI's actions."""

    async def evaluate(call: ServiceCall) -> ServiceResponse:
        runtime = _runtime(hass, call.data[ATTR_AGENT])
        records = await runtime.async_evaluate(
            call.data[ATTR_KIND],
            call.data[ATTR_PAYLOAD],
            escalate=call.data[ATTR_ESCALATE],
            cause=call.context.id,
        )
        return {"records": cast(list[JsonValueType], records)}

    def resolver(verdict: str) -> Any:
        async def resolve(call: ServiceCall) -> ServiceResponse:
            record_id = call.data[ATTR_RECORD_ID]
            runtime = _runtime_for_record(hass, record_id)
            return await _answered(
                record_id,
                runtime.answers.async_resolve(
                    record_id, verdict, None, call.context.user_id
                ),
            )

        return resolve

    async def snooze(call: ServiceCall) -> ServiceResponse:
        record_id = call.data[ATTR_RECORD_ID]
        runtime = _runtime_for_record(hass, record_id)
        until = dt_util.utcnow() + timedelta(minutes=call.data[ATTR_MINUTES])
        return await _answered(
            record_id,
            runtime.snoozes.async_snooze(record_id, None, until, call.context.user_id),
        )

    async def feedback(call: ServiceCall) -> ServiceResponse:
        record_id = call.data[ATTR_RECORD_ID]
        runtime = _runtime_for_record(hass, record_id)
        return await _answered(  # pending but no longer recent: an error too
            record_id,
            runtime.answers.async_feedback(
                record_id, Feedback(call.data[ATTR_FEEDBACK])
            ),
        )

    async def get_records(call: ServiceCall) -> ServiceResponse:
        entry_id = call.data.get(ATTR_AGENT)
        if entry_id is not None:
            _runtime(hass, entry_id)
        since: datetime | None = call.data.get(ATTR_SINCE)
        records = await async_get_records(
            hass,
            entry_id=entry_id,
            since=since,
            limit=call.data[ATTR_LIMIT],
            status=call.data.get(ATTR_STATUS),
        )
        return {"records": cast(list[JsonValueType], records)}

    async def replay(call: ServiceCall) -> ServiceResponse:
        record_id = call.data[ATTR_RECORD_ID]
        owner = owner_of_record(hass, record_id)
        if owner is not None and (record := owner.book.get(record_id)):
            return owner.replay(record)
        found = await async_get_records(
            hass, entry_id=None, since=None, limit=1, status=None, record_id=record_id
        )
        if not found:
            raise _error("unknown_record", record_id=record_id)
        entry_id = found[0].get("x_pai", {}).get("ha", {}).get("entry_id", "")
        return _runtime(hass, entry_id).replay(found[0])

    async def export_agent(call: ServiceCall) -> ServiceResponse:
        entry: PaiConfigEntry | None = hass.config_entries.async_get_entry(
            call.data[ATTR_AGENT]
        )
        if entry is None or entry.domain != DOMAIN:
            raise _error("unknown_agent", agent=call.data[ATTR_AGENT])
        return await async_export_agent(
            hass,
            entry.data,
            entry.options,
            call.data[ATTR_PATH],
            include_weights=call.data[ATTR_INCLUDE_WEIGHTS],
            overwrite=call.data[ATTR_OVERWRITE],
        )

    async def import_agent(call: ServiceCall) -> ServiceResponse:
        return await async_import_agent(hass, call.data[ATTR_PATH])

    async def export_preferences(call: ServiceCall) -> ServiceResponse:
        runtime = _runtime(hass, call.data[ATTR_AGENT])
        return await async_export_preferences(
            hass,
            runtime,
            call.data[ATTR_PATH],
            call.data[ATTR_LIMIT],
            overwrite=call.data[ATTR_OVERWRITE],
        )

    async def import_adapter(call: ServiceCall) -> ServiceResponse:
        entry: PaiConfigEntry | None = hass.config_entries.async_get_entry(
            call.data[ATTR_AGENT]
        )
        if entry is None or entry.domain != DOMAIN:
            raise _error("unknown_agent", agent=call.data[ATTR_AGENT])
        return await async_import_adapter(hass, entry, call.data[ATTR_PATH])

    async def simulate(call: ServiceCall) -> ServiceResponse:
        entry: PaiConfigEntry | None = hass.config_entries.async_get_entry(
            call.data[ATTR_AGENT]
        )
        if entry is None or entry.domain != DOMAIN:
            raise _error("unknown_agent", agent=call.data[ATTR_AGENT])
        retention_days(hass)  # the recorder must be on (a clear error if not)
        report = await async_simulate(
            hass,
            entry.title,
            entry.data,
            entry.options,
            call.data[ATTR_DAYS],
            brain=call.data[ATTR_BRAIN],
            live=live_brains(entry),
        )
        return cast(ServiceResponse, report)

    async def get_shadow_report(call: ServiceCall) -> ServiceResponse:
        return shadow_report(hass, call.data[ATTR_AGENT])

    async def promote(call: ServiceCall) -> ServiceResponse:
        return await async_promote(hass, call.data[ATTR_AGENT])

    async def rollback(call: ServiceCall) -> ServiceResponse:
        return await async_rollback_service(hass, call.data[ATTR_AGENT])

    # File work and changing versions: admins only (files can be read, written and
    # served; www/ is public; a version swaps what the agent may run).
    for service, handler, schema in (
        (SERVICE_EXPORT_PREFERENCES, export_preferences, _EXPORT_PREFERENCES_SCHEMA),
        (SERVICE_IMPORT_ADAPTER, import_adapter, _IMPORT_ADAPTER_SCHEMA),
        (SERVICE_EXPORT_AGENT, export_agent, _EXPORT_SCHEMA),
        (SERVICE_IMPORT_AGENT, import_agent, _IMPORT_SCHEMA),
        (SERVICE_PROMOTE, promote, _AGENT_SCHEMA),
        (SERVICE_ROLLBACK, rollback, _AGENT_SCHEMA),
    ):
        async_register_admin_service(
            hass, DOMAIN, service, handler, schema, SupportsResponse.OPTIONAL
        )
    hass.services.async_register(
        DOMAIN,
        SERVICE_EVALUATE,
        evaluate,
        schema=_EVALUATE_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    for verdict, service in (
        ("approve", SERVICE_APPROVE),
        ("decline", SERVICE_DECLINE),
        ("undo", SERVICE_UNDO),
        ("false_alarm", SERVICE_FALSE_ALARM),
    ):
        hass.services.async_register(
            DOMAIN,
            service,
            resolver(verdict),
            schema=_RECORD_SCHEMA,
            supports_response=SupportsResponse.OPTIONAL,
        )
    hass.services.async_register(
        DOMAIN,
        SERVICE_SNOOZE,
        snooze,
        schema=_SNOOZE_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_FEEDBACK,
        feedback,
        schema=_FEEDBACK_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_RECORDS,
        get_records,
        schema=_GET_RECORDS_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_SIMULATE,
        simulate,
        schema=_SIMULATE_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_SHADOW_REPORT,
        get_shadow_report,
        schema=_AGENT_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_REPLAY,
        replay,
        schema=_RECORD_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
