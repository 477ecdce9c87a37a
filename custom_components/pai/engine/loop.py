"""The decision loop, pure: one event's intents in, the steps to carry out out.

paigent's `_handle_event -> _dispatch` and pi-agent-core's pure `agent_loop` under a stateful
shell: the host (the Home Assistant runtime) perceives, queues and asks the brains; this loop
turns their intents into steps, each a `Decision` from the gate and how it is delivered; the
host carries the steps out (notify, ask, run), records them in its ledger and publishes the
records. Replay runs recorded events through the same function. No clock, no I/O: the host
passes the moment (in `GateInputs`) and what its bindings can run.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from .gate import decide
from .models import (
    AutonomyLevel,
    Decision,
    Event,
    GateInputs,
    Intent,
    Policy,
    SurvivalPolicy,
)
from .records import ExecutionStatus, RecordView


class Delivery(StrEnum):
    """How the host carries out one decision."""

    RECORD = "record"
    """OBSERVE: only the record."""
    SUGGEST = "suggest"
    """SUGGEST: the record and a nudge on the phones."""
    UNBOUND = "unbound"
    """ASK or ACT for an action nothing runs: recorded as `no_action_registered`."""
    ASK = "ask"
    """ASK: wait for the user's approval."""
    ACT = "act"
    """ACT: run the action now."""


_FIRST_STATUS = {
    Delivery.RECORD: ExecutionStatus.OBSERVED,
    Delivery.SUGGEST: ExecutionStatus.SUGGESTED,
    Delivery.UNBOUND: ExecutionStatus.NO_ACTION_REGISTERED,
    Delivery.ASK: ExecutionStatus.PENDING_APPROVAL,
    Delivery.ACT: ExecutionStatus.EXECUTED,
}


@dataclass(frozen=True, slots=True)
class Step:
    """One decision and how it is delivered."""

    decision: Decision
    delivery: Delivery

    @property
    def status(self) -> ExecutionStatus:
        """The record's status before the host has done anything (ACT: as if it ran)."""
        return _FIRST_STATUS[self.delivery]


def delivery(decision: Decision, runnable: bool) -> Delivery:
    """Return how a decision is delivered: by its level, and whether its action can run."""
    granted = decision.granted
    if granted == AutonomyLevel.OBSERVE:
        return Delivery.RECORD
    if granted == AutonomyLevel.SUGGEST:
        return Delivery.SUGGEST
    if not runnable:
        return Delivery.UNBOUND
    return Delivery.ASK if granted == AutonomyLevel.ASK else Delivery.ACT


def steps(
    intents: Iterable[Intent],
    policy: Policy,
    inputs: GateInputs,
    survival: SurvivalPolicy,
    runnable: Collection[str],
) -> list[Step]:
    """Decide every intent of one event, in order; an interruption counts for the next.

    `runnable`: the actions the host can run (bound, or a consented web hook).
    """
    made = []
    for intent in intents:
        decision = decide(intent, policy, inputs, survival)
        if decision.interrupts:
            inputs = replace(
                inputs,
                recent_interruptions=(*inputs.recent_interruptions, inputs.now),
            )
        made.append(Step(decision, delivery(decision, intent.action in runnable)))
    return made


def recorded_event(old: RecordView, now: datetime) -> Event:
    """Return the event a record was made for, to run it through the loop again.

    `now`: its time when the record does not say (or says it unreadably).
    """
    try:
        when = datetime.fromisoformat(old.event_time)
    except ValueError:
        when = now
    return Event(
        source=old.trigger_source or "replay",
        kind=old.event_type or "replay",
        payload=dict(old.payload),
        time=when if when.tzinfo is not None else now,
        id=old.event_id or "replay",
    )


def replay_report(old: RecordView, planned: Iterable[Step]) -> dict[str, Any]:
    """Return what was decided then against what the loop decides now."""
    return {
        "record_id": old.record_id,
        "old": {
            "action": old.action,
            "granted_level": old.granted_level,
            "status": old.status,
            "reasons": list(old.reasons),
        },
        "new": [
            {
                "action": step.decision.intent.action,
                "granted_level": int(step.decision.granted),
                "reasons": [reason.to_dict() for reason in step.decision.reasons],
            }
            for step in planned
        ],
    }
