"""What PAI says when it is talked to: pending requests, answers, and records explained.

Shared by the LLM API (llm_api.py) and the built-in Assist sentences (assist_intents.py).
Everything here reads the runtimes and the PAID records; nothing is invented: an explanation
is the record's own fields (what was perceived, what was proposed, the level granted, the
gate's reasons in words, what ran), and text that came from outside (entity names, states,
a brain's rationale) is returned as the value of a field, never as a sentence of PAI's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
import json
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .answer_routes import DEFAULT_SNOOZE
from .answers import ResolveError
from .const import DOMAIN, LEVEL_NAMES
from .engine.approvals import Verb
from .engine.bounds import short
from .engine.records import EXTENSION_KEY, RecordView
from .record_history import RecordHistoryError, async_get_records
from .runtime import AgentRuntime
from .runtime_data import ASSIST_RUNTIMES

MAX_EXPLAINED = 20
HISTORY_LIMIT = 500
MAX_FIELD = 300
"""Longest text of any one field that came from outside PAI (names, states, rationales)."""


class TalkError(Exception):
    """A request PAI cannot carry out; `reason` is a stable code, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        """Keep the code and the sentence."""
        super().__init__(message)
        self.reason = reason


def visible_runtimes(hass: HomeAssistant, user_id: str | None) -> list[AgentRuntime]:
    """Return the agents whose requests and records `user_id` may see and answer.

    An agent with approvers is the approvers' only; one without is everyone's; an Assist
    agent is its user's only.
    """
    runtimes: list[AgentRuntime] = []
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        runtime: AgentRuntime = entry.runtime_data.runtime
        approvers = runtime.settings.approvers
        if not approvers or user_id in approvers:
            runtimes.append(runtime)
    if user_id is not None and (
        assist := hass.data.get(ASSIST_RUNTIMES, {}).get(user_id)
    ):
        runtimes.append(assist)
    return runtimes


@dataclass(frozen=True, slots=True)
class Request:
    """One approval waiting for an answer."""

    runtime: AgentRuntime
    record_id: str
    created: datetime
    expires: datetime
    what_runs: str
    rationale: str
    snoozed_until: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """As a tool returns it (every outside text a field of its own)."""
        return {
            "record_id": self.record_id,
            "agent": short(self.runtime.name, MAX_FIELD),
            "what_would_run": short(self.what_runs, MAX_FIELD),
            "why": short(self.rationale, MAX_FIELD),
            "asked_at": self.created.isoformat(),
            "expires_at": self.expires.isoformat(),
            "snoozed_until": (
                None if self.snoozed_until is None else self.snoozed_until.isoformat()
            ),
        }


def pending_requests(hass: HomeAssistant, user_id: str | None) -> list[Request]:
    """Return the approvals waiting for `user_id`'s agents, newest first."""
    found = []
    for runtime in visible_runtimes(hass, user_id):
        for item in runtime.approvals.pending("approval"):
            record = item.payload.get("record")
            if not isinstance(record, Mapping):
                continue
            found.append(
                Request(
                    runtime,
                    item.record_id,
                    item.created,
                    item.expires,
                    runtime.delivery.what_runs(record),
                    RecordView.of(record).rationale,
                    item.snoozed_until,
                )
            )
    found.sort(key=lambda request: request.created, reverse=True)
    return found


async def async_answer(
    hass: HomeAssistant,
    user_id: str | None,
    record_id: str | None,
    verdict: str,
    snooze_for: timedelta | None = None,
) -> dict[str, Any]:
    """Approve, decline, undo, snooze or false-alarm one request as `user_id`.

    Exactly once, through the path a phone tap takes (`answers.async_resolve`, or
    `snoozes.async_snooze` for a snooze: asked again after `snooze_for`, by default
    `DEFAULT_SNOOZE`). `record_id` None: the newest request of the user's agents.
    Raises TalkError.
    """
    try:
        verb = Verb(verdict)
    except ValueError as err:
        raise TalkError(
            "unknown_verdict",
            f"{verdict!r}: approve, decline, undo, snooze or false_alarm",
        ) from err
    runtimes = visible_runtimes(hass, user_id)
    if record_id is None:
        requests = pending_requests(hass, user_id)
        if not requests:
            raise TalkError("nothing_pending", "no request is waiting for an answer")
        record_id = requests[0].record_id
    owner = next(
        (
            runtime
            for runtime in runtimes
            if runtime.approvals.get(record_id, verb.kind) is not None
        ),
        None,
    )
    if owner is None:
        raise TalkError(
            "not_pending", f"no {verb.kind} of {record_id} waits for your answer"
        )
    try:
        if verb is Verb.SNOOZE:
            until = dt_util.utcnow() + (snooze_for or DEFAULT_SNOOZE)
            record = await owner.snoozes.async_snooze(record_id, None, until, user_id)
        else:
            record = await owner.answers.async_resolve(
                record_id, str(verb), None, user_id
            )
    except ResolveError as err:
        raise TalkError(err.reason, str(err)) from err
    answer: dict[str, Any] = {"agent": owner.name, "record": explained(record)}
    if verb is Verb.SNOOZE:
        answer["asked_again_at"] = until.isoformat()
    return answer


def level_name(level: int | None) -> str | None:
    """`observe` .. `act` for a level, None for none."""
    if level is None or not 0 <= level < len(LEVEL_NAMES):
        return None
    return LEVEL_NAMES[level]


def explained(record: Mapping[str, Any]) -> dict[str, Any]:
    """One record as PAI explains it: only its own fields, outside text as values."""
    view = RecordView.of(record)
    payload = view.payload
    trigger: dict[str, Any] = {"source": view.trigger_source, "kind": view.event_type}
    for key in ("entity_id", "from_state", "to_state", "action", "entity_ids"):
        if key in payload:
            trigger[key] = _outside(payload[key])
    ha = record.get(EXTENSION_KEY, {}).get("ha", {})
    execution = record.get("4_execution", {})
    return {
        "record_id": view.record_id,
        "agent": _outside(ha.get("agent", "")),
        "time": view.timestamp,
        "trigger": trigger,
        "proposed_action": _outside(view.action),
        "agent_rationale": _outside(view.rationale),
        "confidence": view.confidence,
        "requested_level": level_name(view.requested_level),
        "granted_level": level_name(view.granted_level),
        "gate_reasons": [
            _outside(reason.get("detail") or reason.get("code") or "")
            for reason in view.reasons
        ],
        "status": view.status,
        "what_ran": [
            _outside(taken.get("result") or taken.get("action") or "")
            for taken in execution.get("actions_taken", [])
            if isinstance(taken, Mapping)
        ],
        "user_feedback": view.feedback,
    }


def _outside(value: Any) -> Any:
    """Text from outside PAI, cut to a field's length (numbers and lists stay data)."""
    if isinstance(value, str):
        return short(value, MAX_FIELD)
    if isinstance(value, list):
        return [_outside(item) for item in value[:10]]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return short(json.dumps(value, default=str), MAX_FIELD)


def _mentions(record: Mapping[str, Any], entity_id: str, binding: Any) -> bool:
    """Whether the record is about `entity_id`: perceived, proposed for, or acted on.

    `binding`: what the agent's action runs (its targets name what it acts on).
    """
    view = RecordView.of(record)
    about = [view.payload.get("entity_id"), view.action, view.params, binding]
    about += record.get("4_execution", {}).get("actions_taken", [])
    return entity_id in json.dumps(about, default=str)


async def async_explain(
    hass: HomeAssistant,
    user_id: str | None,
    *,
    entity_id: str | None = None,
    at: datetime | None = None,
    window: timedelta = timedelta(hours=1),
    agent: str | None = None,
    limit: int = 5,
) -> list[dict[str, Any]]:
    """Tell what the user's agents decided about `entity_id` and/or around `at`.

    From the agents' recent records and, when the recorder runs, the history (`pai_record`
    events); each record once, in its latest state.
    """
    runtimes = visible_runtimes(hass, user_id)
    if agent is not None:
        runtimes = [r for r in runtimes if r.name.casefold() == agent.casefold()]
        if not runtimes:
            raise TalkError("unknown_agent", f"no agent named {agent!r} of yours")
    by_entry = {runtime.entry_id: runtime for runtime in runtimes}
    records: dict[str, Mapping[str, Any]] = {}
    since = None if at is None else at - window
    try:
        history = await async_get_records(
            hass, entry_id=None, since=since, limit=HISTORY_LIMIT, status=None
        )
    except RecordHistoryError:
        history = []  # no recorder: the recent records alone
    for record in _all(history, (r.book.recent() for r in runtimes)):
        ha = record.get(EXTENSION_KEY, {}).get("ha", {})
        if ha.get("entry_id") in by_entry:
            records.setdefault(RecordView.of(record).record_id, record)
    chosen = []
    for record in records.values():
        runtime = by_entry[record[EXTENSION_KEY]["ha"]["entry_id"]]
        binding = runtime.action_bindings.get(RecordView.of(record).action)
        if entity_id is not None and not _mentions(record, entity_id, binding):
            continue
        if at is not None:
            when = dt_util.parse_datetime(RecordView.of(record).timestamp)
            if when is None or abs(when - at) > window:
                continue
        chosen.append(record)
    chosen.sort(key=lambda record: RecordView.of(record).timestamp, reverse=True)
    return [explained(record) for record in chosen[: min(limit, MAX_EXPLAINED)]]


def _all(
    history: list[dict[str, Any]], recent: Iterable[list[dict[str, Any]]]
) -> Iterable[Mapping[str, Any]]:
    """Yield the recent records first (their latest state), then the history."""
    for records in recent:
        yield from reversed(records)
    yield from history
