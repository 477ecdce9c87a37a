"""PAID records: what a reader of the record (paigent, an auditor, the UI) relies on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
import json
from pathlib import Path
import re
from typing import Any

from pai import core as reference_core, protocol as reference_protocol
import pytest

from custom_components.pai.engine.models import (
    AutonomyLevel,
    Decision,
    Event,
    Intent,
    Reason,
    ReasonCode,
)
from custom_components.pai.engine.records import (
    EXTENSION_KEY,
    LAYER_KEYS,
    ActionTaken,
    ExecutionStatus,
    Feedback,
    InvalidRecordError,
    RecordView,
    build_record,
    new_record_id,
    validate_record,
    with_execution,
    with_feedback,
)

NOW = datetime(2026, 3, 14, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
EVENT = Event(
    source="sensor.cpu",
    kind="metric.breach",
    payload={"value": 91, "threshold": 75},
    time=datetime(2026, 3, 14, 23, 29, tzinfo=UTC),
    id="evt123",
)
INTENT = Intent(
    action="script.cleanup",
    params={"target": "tmp"},
    confidence=0.9,
    urgency=0.95,
    rationale="CPU is high",
    requested_level=AutonomyLevel.ACT,
    event_id="evt123",
)
QUIET = Reason(
    layer="policy",
    code=ReasonCode.QUIET_HOURS_URGENT,
    before=AutonomyLevel.ASK,
    after=AutonomyLevel.SUGGEST,
    detail="quiet hours 22:00-07:00; urgent, so at most a suggestion",
)


def _decision(granted: AutonomyLevel = AutonomyLevel.SUGGEST) -> Decision:
    return Decision(
        intent=INTENT,
        requested=AutonomyLevel.ACT,
        granted=granted,
        reasons=(QUIET,),
        interruption_cost=0.3,
    )


def _record(**overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"status": ExecutionStatus.SUGGESTED, "now": NOW}
    kwargs.update(overrides)
    return build_record(EVENT, _decision(), {"user_state": "focused"}, **kwargs)


def test_record_has_the_protocol_header() -> None:
    record = _record()

    assert record["paid_protocol_version"] == "1.2"
    assert record["pai_protocol_version"] == "1.2"
    assert record["protocol"] == "PAID"
    # dated in UTC: 23:30 at -05:00 is already the 15th
    assert re.fullmatch(r"paid_20260315_[0-9a-f]{16}", record["record_id"])
    assert record["timestamp"] == "2026-03-15T04:30:00+00:00"


def test_record_ids_differ() -> None:
    assert len({new_record_id(NOW) for _ in range(50)}) > 45


def test_layers_hold_exactly_the_reference_keys() -> None:
    record = _record()

    for layer, keys in LAYER_KEYS.items():
        assert set(record[layer]) == set(keys), layer
    assert set(record) == {
        "paid_protocol_version",
        "pai_protocol_version",
        "protocol",
        "record_id",
        "timestamp",
        *LAYER_KEYS,
        EXTENSION_KEY,
    }


def test_layers_carry_the_event_intent_and_decision() -> None:
    record = _record(
        actions_taken=[ActionTaken("script.cleanup", "ok", {"freed_mb": 512})]
    )

    assert record["1_perception"] == {
        "trigger_source": "sensor.cpu",
        "event_type": "metric.breach",
        "raw_data_summary": {"value": 91, "threshold": 75},
    }
    assert record["2_context"]["user_current_state"] == "focused"
    assert record["3_anticipation"] == {
        "predicted_intent": "CPU is high",
        "action": "script.cleanup",
        "params": {"target": "tmp"},
        "urgency_score": 0.95,
        "confidence_score": 0.9,
        "interruption_cost": 0.3,
        "requested_level": 3,
        "granted_level": 1,
    }
    assert record["4_execution"] == {
        "actions_taken": [
            {"tool": "script.cleanup", "status": "ok", "result": {"freed_mb": 512}}
        ],
        "status": "suggested",
    }
    assert record["6_adaptation"] == {
        "user_feedback": "pending",
        "learning_adjustment": None,
    }


@pytest.mark.parametrize(
    ("granted", "mode", "approval"),
    [
        (AutonomyLevel.OBSERVE, "level_0_silent", False),
        (AutonomyLevel.SUGGEST, "level_1_soft_nudge", False),
        (AutonomyLevel.ASK, "level_2_approval", True),
        (AutonomyLevel.ACT, "level_0_silent", False),
    ],
)
def test_delivery_follows_the_granted_level(
    granted: AutonomyLevel, mode: str, approval: bool
) -> None:
    record = build_record(
        EVENT, _decision(granted), status=ExecutionStatus.NOT_EXECUTED, now=NOW
    )

    assert record["5_delivery"] == {
        "delivery_mode": mode,
        "requires_human_approval": approval,
    }


def test_gate_reasons_and_extensions_go_under_x_pai() -> None:
    record = _record(extensions={"ha_context": {"user_id": "abc"}, "brain_usage": {}})

    assert record[EXTENSION_KEY] == {
        "reasons": [QUIET.to_dict()],
        "event": {"id": "evt123", "time": "2026-03-14T23:29:00+00:00"},
        "ha_context": {"user_id": "abc"},
        "brain_usage": {},
    }


def test_context_uses_paigent_keys_and_keeps_five_memories() -> None:
    context = {
        "recent_events": [{"kind": f"k{i}"} for i in range(8)],
        "action_history": [{"action": "a", "status": "executed", "count": 2}],
    }
    record = build_record(
        EVENT, _decision(), context, status=ExecutionStatus.OBSERVED, now=NOW
    )

    assert record["2_context"] == {
        "user_current_state": "unknown",
        "relevant_memory": [{"kind": f"k{i}"} for i in range(5)],
        "action_history": [{"action": "a", "status": "executed", "count": 2}],
    }


def test_values_json_cannot_hold_are_converted() -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque"

    payload: dict[Any, Any] = {
        "when": datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
        "day": date(2026, 1, 2),
        "tags": {"b", "a"},
        "pair": (1, 2),
        "level": AutonomyLevel.ASK,
        "nan": float("nan"),
        "thing": Opaque(),
        7: "int key",
    }
    event = Event(source="sensor.x", kind="state_changed", payload=payload)
    record = build_record(event, _decision(), status=ExecutionStatus.OBSERVED, now=NOW)

    assert record["1_perception"]["raw_data_summary"] == {
        "when": "2026-01-02T03:04:00+00:00",
        "day": "2026-01-02",
        "tags": ["a", "b"],
        "pair": [1, 2],
        "level": 2,
        "nan": None,
        "thing": "opaque",
        "7": "int key",
    }
    json.dumps(record, allow_nan=False)


def test_paigent_reads_records_made_here(tmp_path: Path) -> None:
    record = _record()
    path = tmp_path / f"{record['record_id']}.pai.json"
    path.write_text(json.dumps(record, allow_nan=False), encoding="utf-8")

    loaded = reference_protocol.load_pai(str(path))

    assert loaded == record


@pytest.mark.parametrize(
    ("granted", "execution", "feedback"),
    [
        (0, {"actions_taken": [], "status": "observed"}, "pending"),
        (1, {"actions_taken": [], "status": "suggested"}, "pending"),
        (2, {"actions_taken": [], "status": "declined"}, "rejected"),
        (2, None, "pending"),
        (
            3,
            {
                "actions_taken": [{"tool": "x", "status": "ok", "result": "None"}],
                "status": "executed",
            },
            "pending",
        ),
        (3, {"actions_taken": [], "status": "no_action_registered"}, "pending"),
        (3, {"actions_taken": [], "status": "failed"}, "pending"),
    ],
)
def test_records_made_by_paigent_validate_here(
    tmp_path: Path, granted: int, execution: dict[str, Any] | None, feedback: str
) -> None:
    event = reference_core.Event(source="cpu", kind="metric.breach", payload={"v": 1})
    intent = reference_core.Intent(action="x", confidence=0.9, urgency=0.9)
    made = reference_protocol.build_record(
        event,
        {"recent_events": [], "action_history": [], "now": "x"},
        intent,
        reference_core.AutonomyLevel(granted),
        0.3,
        execution=execution,
        user_feedback=feedback,
    )
    path = reference_protocol.save_pai(made, str(tmp_path))

    text = Path(path).read_text(encoding="utf-8")
    assert validate_record(json.loads(text)) == made


def test_older_1_1_records_validate() -> None:
    record = _record()
    del record["paid_protocol_version"], record["protocol"]
    record["pai_protocol_version"] = "1.1"

    assert validate_record(record)["pai_protocol_version"] == "1.1"


def _broken(path: str, value: Any) -> dict[str, Any]:
    record = _record()
    *parents, last = path.split(".")
    target = record
    for part in parents:
        target = target[part]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return record


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("paid_protocol_version", "2.0", "unsupported PAID protocol version '2.0'"),
        ("paid_protocol_version", ["1.2"], "unsupported PAID protocol version"),
        ("pai_protocol_version", "1.1", "disagree"),
        ("protocol", "PAIX", "protocol must be 'PAID'"),
        ("record_id", "../../etc/passwd", "record_id must be"),
        ("record_id", 7, "record_id must be"),
        ("timestamp", "yesterday", "timestamp must be ISO 8601"),
        ("timestamp", "2026-03-15T04:30:00", "with a timezone"),
        ("timestamp", _DELETE, "timestamp must be ISO 8601"),
        ("1_perception", _DELETE, "layer 1_perception is missing"),
        ("2_context", [], "layer 2_context must be an object, not a list"),
        ("5_delivery", "x", "must be an object, not a string"),
        ("6_adaptation", None, "layer 6_adaptation is missing"),
        (
            "3_anticipation.granted_level",
            _DELETE,
            "3_anticipation is missing granted_level",
        ),
        ("3_anticipation.granted_level", 4, "granted_level must be 0, 1, 2 or 3"),
        (
            "3_anticipation.requested_level",
            True,
            "requested_level must be 0, 1, 2 or 3",
        ),
        ("3_anticipation.urgency_score", "high", "urgency_score must be a number"),
        ("3_anticipation.confidence_score", float("inf"), "confidence_score must be"),
        (
            "4_execution.status",
            "exploded",
            "4_execution.status 'exploded' is not known",
        ),
        ("4_execution.status", 3, "4_execution.status 3 is not known"),
        ("4_execution.actions_taken", {"tool": "x"}, "actions_taken must be a list"),
        ("4_execution.actions_taken", ["x"], "actions_taken must be a list of objects"),
        ("5_delivery.delivery_mode", "level_9", "delivery_mode 'level_9' is not known"),
        ("5_delivery.requires_human_approval", "yes", "must be true or false"),
        ("6_adaptation.user_feedback", "meh", "user_feedback 'meh' is not known"),
    ],
)
def test_invalid_records_are_refused_by_name(
    path: str, value: Any, message: str
) -> None:
    with pytest.raises(InvalidRecordError, match=re.escape(message)):
        validate_record(_broken(path, value))


def test_a_record_without_any_version_is_refused() -> None:
    record = _record()
    del record["paid_protocol_version"], record["pai_protocol_version"]

    with pytest.raises(InvalidRecordError, match="no paid_protocol_version"):
        validate_record(record)


@pytest.mark.parametrize(
    ("obj", "kind"), [([], "a list"), ("x", "a string"), (None, "null"), (3, "int")]
)
def test_a_record_is_an_object(obj: Any, kind: str) -> None:
    with pytest.raises(InvalidRecordError, match=f"not {kind}$"):
        validate_record(obj)


def test_level_3_interrupt_from_other_writers_is_accepted() -> None:
    record = _broken("5_delivery.delivery_mode", "level_3_interrupt")

    assert validate_record(record)["5_delivery"]["delivery_mode"] == "level_3_interrupt"


def test_pending_approval_then_executed_leaves_the_original_alone() -> None:
    record = build_record(
        EVENT,
        _decision(AutonomyLevel.ASK),
        status=ExecutionStatus.PENDING_APPROVAL,
        now=NOW,
    )
    snapshot = json.loads(json.dumps(record))

    done = with_execution(
        record, ExecutionStatus.EXECUTED, [ActionTaken("script.cleanup", "ok", None)]
    )
    undone = with_execution(done, ExecutionStatus.UNDONE)

    assert record == snapshot
    assert done["4_execution"] == {
        "actions_taken": [{"tool": "script.cleanup", "status": "ok", "result": None}],
        "status": "executed",
    }
    assert undone["4_execution"]["status"] == "undone"
    assert (
        undone["4_execution"]["actions_taken"] == done["4_execution"]["actions_taken"]
    )
    assert done["record_id"] == record["record_id"]


def test_feedback_is_recorded_on_a_copy() -> None:
    record = _record()

    updated = with_feedback(record, Feedback.REJECTED, {"penalty": 1})

    assert record["6_adaptation"]["user_feedback"] == "pending"
    assert updated["6_adaptation"] == {
        "user_feedback": "rejected",
        "learning_adjustment": {"penalty": 1},
    }


def test_updating_an_invalid_record_is_refused() -> None:
    with pytest.raises(
        InvalidRecordError, match=r"4_execution\.status 'bogus' is not known"
    ):
        with_execution(_record(), "bogus")  # type: ignore[arg-type]


def test_the_typed_view_reads_a_record_by_name() -> None:
    record = with_execution(
        build_record(
            EVENT,
            _decision(AutonomyLevel.ASK),
            status=ExecutionStatus.PENDING_APPROVAL,
            extensions={"brain": {"name": "cloud"}},
        ),
        ExecutionStatus.DECLINED,
    )

    view = RecordView.of(record)

    assert view.record_id == record["record_id"]
    assert view.action == record["3_anticipation"]["action"]
    assert view.granted_level == AutonomyLevel.ASK
    assert view.status == "declined"
    assert view.feedback == "pending"
    assert view.event_type == "metric.breach"
    assert view.payload == {"value": 91, "threshold": 75}
    assert view.event_id == EVENT.id
    assert view.brain == {"name": "cloud"}


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"3_anticipation": "nope", "4_execution": [], "x_pai": {"reasons": "x"}},
        {"3_anticipation": {"granted_level": True, "action": 7}},
        {"3_anticipation": {"granted_level": 9, "confidence_score": "high"}},
    ],
)
def test_the_typed_view_reads_a_malformed_record_as_empty(record: Any) -> None:
    view = RecordView.of(record)

    assert view.action == view.status == view.record_id == ""
    assert view.granted_level is None
    assert view.confidence is None
    assert view.reasons == ()
