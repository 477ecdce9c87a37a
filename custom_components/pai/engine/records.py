"""PAID records (protocol 1.2): one JSON document per decision, readable by any PAID reader.

A record is what makes a decision auditable and replayable: what was perceived, what the
brain proposed, what the gate granted and why, what ran and what the user said. Records are
plain JSON-ready dicts, built once and then only copied with changes (`with_execution`,
`with_feedback`), so a stored record never changes under a reader's feet.

The six layers hold exactly the reference's keys, so paigent's `load_pai` and other PAID
readers see a standard record. What PAI adds (the gate's reasons, the event's id and time,
and whatever the host puts in `extensions`, such as Home Assistant context or brain usage)
lives under one top-level key, `x_pai`, that readers are free to ignore.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import Enum, StrEnum
import math
import re
import secrets
from typing import Any

from .models import AutonomyLevel, Decision, Event

PROTOCOL_NAME = "PAID"
PROTOCOL_VERSION = "1.2"
VERSION_KEYS = ("paid_protocol_version", "pai_protocol_version")
SUPPORTED_VERSIONS = frozenset({"1.1", "1.2"})
"""1.1 records (older paigent) carry the same layers; both are read."""

EXTENSION_KEY = "x_pai"
"""The one top-level key for PAI's additions to the standard record."""

RELEVANT_MEMORY_LIMIT = 5

LAYER_KEYS: Mapping[str, tuple[str, ...]] = {
    "1_perception": ("trigger_source", "event_type", "raw_data_summary"),
    "2_context": ("user_current_state", "relevant_memory", "action_history"),
    "3_anticipation": (
        "predicted_intent",
        "action",
        "params",
        "urgency_score",
        "confidence_score",
        "interruption_cost",
        "requested_level",
        "granted_level",
    ),
    "4_execution": ("actions_taken", "status"),
    "5_delivery": ("delivery_mode", "requires_human_approval"),
    "6_adaptation": ("user_feedback", "learning_adjustment"),
}

_RECORD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class ExecutionStatus(StrEnum):
    """What happened to the intent (`4_execution.status`)."""

    OBSERVED = "observed"
    SUGGESTED = "suggested"
    PENDING_APPROVAL = "pending_approval"
    EXECUTED = "executed"
    DECLINED = "declined"
    FAILED = "failed"
    NO_ACTION_REGISTERED = "no_action_registered"
    NOT_EXECUTED = "not_executed"
    EXPIRED = "expired"
    UNDONE = "undone"
    INTERRUPTED = "interrupted"
    """Approved (or undone) but stopped before it was known to have run: check it."""


class Feedback(StrEnum):
    """What the user made of it (`6_adaptation.user_feedback`)."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    MODIFIED = "modified"
    IGNORED = "ignored"
    PENDING = "pending"


DELIVERY_MODES: Mapping[AutonomyLevel, str] = {
    AutonomyLevel.OBSERVE: "level_0_silent",
    AutonomyLevel.SUGGEST: "level_1_soft_nudge",
    AutonomyLevel.ASK: "level_2_approval",
    AutonomyLevel.ACT: "level_0_silent",  # done quietly, visible afterwards
}
_KNOWN_DELIVERY_MODES = frozenset({*DELIVERY_MODES.values(), "level_3_interrupt"})


class InvalidRecordError(ValueError):
    """A document that is not a usable PAID record; the message names what is wrong."""


@dataclass(frozen=True, slots=True)
class ActionTaken:
    """One entry of `4_execution.actions_taken`."""

    tool: str
    status: str
    result: Any = None

    def to_dict(self) -> dict[str, Any]:
        """Serialise as the reference does: {tool, status, result}."""
        return {
            "tool": self.tool,
            "status": self.status,
            "result": to_jsonable(self.result),
        }


RECORD_ID_RANDOM_BYTES = 8
"""64 random bits: ids of different records do not collide (paigent's 24 bits a day do,
52 % of the time at 5,000 records a day), so an answer never reaches the wrong record."""


class RecordView:
    """What readers use of a PAID record, by name: the layer keys are read only here.

    Read leniently and only when asked (a record from the bus or the recorder may be
    malformed): a missing or mistyped field reads as empty (`""`, `{}`, `None`, `()`).
    """

    __slots__ = ("_record",)

    def __init__(self, record: Mapping[str, Any]) -> None:
        """View `record` (any mapping; nothing is checked beyond each field's type)."""
        self._record = record

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> RecordView:
        """Return the view of `record`."""
        return cls(record)

    def _layer(self, key: str) -> Mapping[str, Any]:
        return _map(self._record.get(key))

    @property
    def record_id(self) -> str:
        """The record's id (`paid_YYYYMMDD_<hex>`)."""
        return _str(self._record.get("record_id"))

    @property
    def timestamp(self) -> str:
        """When the record was made (ISO 8601)."""
        return _str(self._record.get("timestamp"))

    @property
    def perception(self) -> Mapping[str, Any]:
        """The first layer as it is: what an action's templates see as `event`."""
        return self._layer("1_perception")

    @property
    def trigger_source(self) -> str:
        """Which trigger saw the event."""
        return _str(self.perception.get("trigger_source"))

    @property
    def event_type(self) -> str:
        """The event's kind."""
        return _str(self.perception.get("event_type"))

    @property
    def payload(self) -> Mapping[str, Any]:
        """The event's payload (`raw_data_summary`)."""
        return _map(self.perception.get("raw_data_summary"))

    @property
    def event_id(self) -> str:
        """The event's id (PAI's addition)."""
        return _str(_map(self._layer(EXTENSION_KEY).get("event")).get("id"))

    @property
    def event_time(self) -> str:
        """When the event happened (ISO 8601; PAI's addition)."""
        return _str(_map(self._layer(EXTENSION_KEY).get("event")).get("time"))

    @property
    def action(self) -> str:
        """The intent's action."""
        return _str(self._layer("3_anticipation").get("action"))

    @property
    def params(self) -> Mapping[str, Any]:
        """The intent's params."""
        return _map(self._layer("3_anticipation").get("params"))

    @property
    def rationale(self) -> str:
        """Why the brain proposed it (`predicted_intent`)."""
        return _str(self._layer("3_anticipation").get("predicted_intent"))

    @property
    def confidence(self) -> float | None:
        """The intent's confidence, when it is a number."""
        value = self._layer("3_anticipation").get("confidence_score")
        return value if _is_number(value) else None

    @property
    def requested_level(self) -> int | None:
        """The level the brain asked for, when it is one."""
        return _level_or_none(self._layer("3_anticipation").get("requested_level"))

    @property
    def granted_level(self) -> int | None:
        """The level the gate granted, when it is one."""
        return _level_or_none(self._layer("3_anticipation").get("granted_level"))

    @property
    def status(self) -> str:
        """What happened (`4_execution.status`)."""
        return _str(self._layer("4_execution").get("status"))

    @property
    def feedback(self) -> str:
        """What the user made of it (`6_adaptation.user_feedback`)."""
        return _str(self._layer("6_adaptation").get("user_feedback"))

    @property
    def reasons(self) -> tuple[Mapping[str, Any], ...]:
        """The gate's reasons (PAI's addition), each a mapping."""
        reasons = self._layer(EXTENSION_KEY).get("reasons")
        if not isinstance(reasons, list):
            return ()
        return tuple(reason for reason in reasons if isinstance(reason, Mapping))

    @property
    def shadow(self) -> Mapping[str, Any]:
        """A shadow version's decision: `{version, delivery}`; empty for a live record."""
        return _map(self._layer(EXTENSION_KEY).get("shadow"))

    @property
    def brain(self) -> Mapping[str, Any]:
        """Which LLM brain answered, and what it cost (PAI's addition)."""
        return _map(self._layer(EXTENSION_KEY).get("brain"))


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _level_or_none(value: Any) -> int | None:
    return value if _is_int(value) and value in AutonomyLevel else None


def new_record_id(now: datetime) -> str:
    """`paid_YYYYMMDD_<16 hex>`, dated in UTC (paigent writes 6 hex; both are read)."""
    return (
        f"paid_{now.astimezone(UTC):%Y%m%d}_{secrets.token_hex(RECORD_ID_RANDOM_BYTES)}"
    )


def build_record(
    event: Event,
    decision: Decision,
    context: Mapping[str, Any] | None = None,
    *,
    status: ExecutionStatus,
    actions_taken: Iterable[ActionTaken] = (),
    feedback: Feedback = Feedback.PENDING,
    extensions: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    record_id: str | None = None,
) -> dict[str, Any]:
    """Build the PAID record of one decision.

    `context` uses paigent's keys: `user_state`, `recent_events` (the first five become
    `relevant_memory`) and `action_history`. Values that JSON cannot hold (datetimes, sets,
    enums, objects) are converted, so the record always serialises.
    """
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    ctx = context or {}
    intent = decision.intent
    granted = AutonomyLevel(decision.granted)
    recent = ctx.get("recent_events") or []
    x_pai: dict[str, Any] = {
        "reasons": [reason.to_dict() for reason in decision.reasons],
        "event": {"id": event.id, "time": event.time.isoformat()},
    }
    x_pai.update(dict(extensions or {}))
    record = {
        "paid_protocol_version": PROTOCOL_VERSION,
        "pai_protocol_version": PROTOCOL_VERSION,
        "protocol": PROTOCOL_NAME,
        "record_id": record_id or new_record_id(moment),
        "timestamp": moment.isoformat(),
        "1_perception": perception(event),
        "2_context": {
            "user_current_state": ctx.get("user_state", "unknown"),
            "relevant_memory": list(recent)[:RELEVANT_MEMORY_LIMIT],
            "action_history": ctx.get("action_history") or [],
        },
        "3_anticipation": {
            "predicted_intent": intent.rationale,
            "action": intent.action,
            "params": intent.params,
            "urgency_score": intent.urgency,
            "confidence_score": intent.confidence,
            "interruption_cost": decision.interruption_cost,
            "requested_level": int(decision.requested),
            "granted_level": int(granted),
        },
        "4_execution": {
            "actions_taken": [taken.to_dict() for taken in actions_taken],
            "status": str(status),
        },
        "5_delivery": {
            "delivery_mode": DELIVERY_MODES[granted],
            "requires_human_approval": granted == AutonomyLevel.ASK,
        },
        "6_adaptation": {"user_feedback": str(feedback), "learning_adjustment": None},
        EXTENSION_KEY: x_pai,
    }
    return validate_record(to_jsonable(record))


def perception(event: Event) -> dict[str, Any]:
    """Return the record's first layer: what was perceived, in JSON types."""
    return {
        "trigger_source": event.source,
        "event_type": event.kind,
        "raw_data_summary": to_jsonable(event.payload),
    }


def to_jsonable(value: Any) -> Any:
    """`value` made of JSON types only (NaN and infinities become None)."""
    match value:
        case Enum():
            return to_jsonable(value.value)
        case None | bool() | int() | str():
            return value
        case float():
            return value if math.isfinite(value) else None
        case datetime() | date() | time():
            return value.isoformat()
        case Mapping():
            return {str(key): to_jsonable(item) for key, item in value.items()}
        case list() | tuple() | set() | frozenset():
            items = (
                sorted(value, key=repr) if isinstance(value, set | frozenset) else value
            )
            return [to_jsonable(item) for item in items]
        case _:
            return str(value)


def with_execution(
    record: Mapping[str, Any],
    status: ExecutionStatus,
    actions_taken: Iterable[ActionTaken] | None = None,
) -> dict[str, Any]:
    """Return a copy of `record` with a new execution status (and actions, when given).

    Only the layer that changes is new; the others are shared with `record` (records
    are never changed in place).
    """
    updated = dict(record)
    execution = dict(updated["4_execution"])
    execution["status"] = str(status)
    if actions_taken is not None:
        execution["actions_taken"] = [taken.to_dict() for taken in actions_taken]
    updated["4_execution"] = execution
    return validate_record(updated)


def with_feedback(
    record: Mapping[str, Any], feedback: Feedback, learning_adjustment: Any = None
) -> dict[str, Any]:
    """Return a copy of `record` with the user's feedback (and what was learnt from it)."""
    updated = dict(record)
    updated["6_adaptation"] = {
        "user_feedback": str(feedback),
        "learning_adjustment": to_jsonable(learning_adjustment),
    }
    return validate_record(updated)


def validate_record(obj: Any) -> dict[str, Any]:
    """`obj` if it is a PAID 1.x record this engine can use; else InvalidRecordError.

    Checks what readers rely on: a known version, an id that is safe as a file name, an
    ISO 8601 timestamp with a timezone, the six layers with their keys, and well-typed
    levels, scores, status, delivery and feedback. Extra keys are allowed, as in the
    reference.
    """
    if not isinstance(obj, Mapping):
        raise InvalidRecordError(f"a record is a JSON object, not {_kind(obj)}")
    record = dict(obj)
    _check_header(record)
    for layer, keys in LAYER_KEYS.items():
        body = record.get(layer)
        if not isinstance(body, Mapping):
            problem = (
                "is missing"
                if body is None
                else f"must be an object, not {_kind(body)}"
            )
            raise InvalidRecordError(f"layer {layer} {problem}")
        missing = [key for key in keys if key not in body]
        if missing:
            raise InvalidRecordError(f"layer {layer} is missing {', '.join(missing)}")
    _check_layers(record)
    return record


def _check_header(record: dict[str, Any]) -> None:
    versions = [record[key] for key in VERSION_KEYS if key in record]
    if not versions:
        raise InvalidRecordError("record has no paid_protocol_version")
    for version in versions:
        if not isinstance(version, str) or version not in SUPPORTED_VERSIONS:
            raise InvalidRecordError(f"unsupported PAID protocol version {version!r}")
    if len(set(versions)) > 1:
        raise InvalidRecordError(
            "paid_protocol_version and pai_protocol_version disagree"
        )
    if record.get("protocol", PROTOCOL_NAME) != PROTOCOL_NAME:
        raise InvalidRecordError(f"protocol must be {PROTOCOL_NAME!r}")
    record_id = record.get("record_id")
    if not isinstance(record_id, str) or not _RECORD_ID.fullmatch(record_id):
        raise InvalidRecordError(
            "record_id must be 1-64 letters, digits, '_' or '-' (it names the file)"
        )
    stamp = record.get("timestamp")
    try:
        parsed = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidRecordError("timestamp must be ISO 8601 with a timezone")


def _check_layers(record: dict[str, Any]) -> None:
    anticipation = record["3_anticipation"]
    for key in ("requested_level", "granted_level"):
        level = anticipation[key]
        if not _is_int(level) or level not in AutonomyLevel:
            raise InvalidRecordError(f"3_anticipation.{key} must be 0, 1, 2 or 3")
    for key in ("urgency_score", "confidence_score", "interruption_cost"):
        if not _is_number(anticipation[key]):
            raise InvalidRecordError(f"3_anticipation.{key} must be a number")
    execution = record["4_execution"]
    if not _is_member(execution["status"], ExecutionStatus):
        raise InvalidRecordError(
            f"4_execution.status {execution['status']!r} is not known"
        )
    taken = execution["actions_taken"]
    if not isinstance(taken, list) or not all(
        isinstance(item, Mapping) for item in taken
    ):
        raise InvalidRecordError("4_execution.actions_taken must be a list of objects")
    delivery = record["5_delivery"]
    if not _is_member(delivery["delivery_mode"], _KNOWN_DELIVERY_MODES):
        raise InvalidRecordError(
            f"5_delivery.delivery_mode {delivery['delivery_mode']!r} is not known"
        )
    if not isinstance(delivery["requires_human_approval"], bool):
        raise InvalidRecordError(
            "5_delivery.requires_human_approval must be true or false"
        )
    feedback = record["6_adaptation"]["user_feedback"]
    if not _is_member(feedback, Feedback):
        raise InvalidRecordError(
            f"6_adaptation.user_feedback {feedback!r} is not known"
        )


def _is_member(value: Any, allowed: Iterable[str]) -> bool:
    return isinstance(value, str) and value in allowed


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )
