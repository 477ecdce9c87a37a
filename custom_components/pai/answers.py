"""The user's answers: approve, decline or undo a request, exactly once, and feedback.

A phone tap, a dashboard or an action all come here. The claim is persisted before the
action runs: a crash then must not run it twice, and a crash before it is done brings the
record back as interrupted. Answers do not take the agent's lock, so a pending request
never waits on a busy agent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.util import dt as dt_util

from .delivery import DeliveryParts, StepDelivery
from .engine.approvals import ClaimOutcome, PendingItem, PendingKind, Verb
from .engine.records import (
    ExecutionStatus,
    Feedback,
    RecordView,
    with_execution,
    with_feedback,
)
from .memory import MemoryKeeper
from .settings import AgentSettings
from .undo import changed_since, plan as undo_plan


class ResolveError(Exception):
    """An approval, decline or undo that cannot be carried out; the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        """Keep a stable reason code (for translations) and a sentence for logs."""
        super().__init__(message)
        self.reason = reason


class Answers:
    """Carries out the user's answers to an agent's requests and records."""

    def __init__(
        self,
        name: str,
        settings: AgentSettings,
        keeper: MemoryKeeper,
        delivery: StepDelivery,
        parts: DeliveryParts,
    ) -> None:
        """Answers share the agent's memory, delivery and parts."""
        self.name = name
        self.settings = settings
        self._keeper = keeper
        self._delivery = delivery
        self._parts = parts

    def waits_for(self, record_id: str, kind: PendingKind, nonce: str) -> bool:
        """Whether this agent waits for an answer to `record_id` with this nonce."""
        item = self._keeper.memory.approvals.get(record_id, kind)
        return item is not None and item.nonce == nonce

    def has_record(self, record_id: str) -> bool:
        """Whether this agent made the record (recently, or has it pending)."""
        return self._parts.book.get(record_id) is not None or any(
            item.record_id == record_id
            for item in self._keeper.memory.approvals.pending()
        )

    async def async_resolve(
        self,
        record_id: str,
        verdict: str,
        nonce: str | None = None,
        user_id: str | None = None,
    ) -> dict[str, Any]:
        """Approve, decline or undo a record, exactly once. Raises ResolveError."""
        approvers = self.settings.approvers
        if approvers and user_id not in approvers:
            raise ResolveError(
                "not_an_approver", f"user {user_id} may not answer {record_id}"
            )
        memory = self._keeper.memory
        # nonce None: an authenticated Home Assistant action, not a phone tap.
        claim = memory.approvals.claim(
            record_id, Verb(verdict).kind, nonce, dt_util.utcnow()
        )
        if claim.outcome is ClaimOutcome.EXPIRED and claim.item is not None:
            await self._parts.pending.async_expired([claim.item])
        if claim.outcome is not ClaimOutcome.OK or claim.item is None:
            raise ResolveError(
                str(claim.outcome), f"{verdict} of {record_id}: {claim.outcome}"
            )
        item = claim.item
        record: dict[str, Any] = item.payload["record"]
        memory.in_flight[record_id] = {"record": record, "verdict": verdict}
        await self._keeper.async_save()
        try:
            return await self._async_carry_out(verdict, item, record, user_id)
        finally:
            self._keeper.memory.in_flight.pop(record_id, None)
            self._keeper.changed()

    async def _async_carry_out(
        self,
        verdict: str,
        item: PendingItem,
        record: dict[str, Any],
        user_id: str | None,
    ) -> dict[str, Any]:
        """Run what a won claim asks (approve, decline or undo) and publish it."""
        parts = self._parts
        record_id = item.record_id
        action = RecordView.of(record).action
        now = dt_util.now()
        context = parts.own.context(user_id, parent_id=item.payload.get("cause"))
        await parts.notifier.async_dismiss(record_id)
        if verdict == "approve":
            record = await self._delivery.async_execute(record, context)
            record = with_feedback(record, Feedback.ACCEPTED)
        elif verdict == "decline":
            record = with_feedback(
                with_execution(record, ExecutionStatus.DECLINED), Feedback.REJECTED
            )
            self._keeper.memory.ledger.record_decline(action, now)
        else:
            await self._async_check_undo(record_id, item.payload)
            undone = await parts.executor.async_undo(item.payload["snapshot"], context)
            if undone.status != ExecutionStatus.EXECUTED:
                raise ResolveError(
                    "undo_failed", f"undo of {record_id}: {undone.result}"
                )
            record = with_feedback(
                with_execution(record, ExecutionStatus.UNDONE), Feedback.REJECTED
            )
            self._keeper.memory.ledger.record_decline(action, now)
        return parts.book.publish(record, announce=True)

    async def _async_check_undo(
        self, record_id: str, payload: Mapping[str, Any]
    ) -> None:
        """Refuse (and tell the user) an undo of entities changed since PAI left them."""
        left = payload.get("left")
        if not isinstance(left, Mapping):
            return  # an offer kept before undo checked states: nothing to compare with
        hass = self._delivery.hass
        undo = undo_plan(hass, payload.get("snapshot") or [])
        changed = changed_since(hass, left)
        if not changed and not undo.withheld:
            return
        why = (
            f"changed since: {', '.join(changed)}"
            if changed
            else f"it would open {', '.join(undo.withheld)}"
        )
        await self._parts.notifier.async_suggest(
            record_id, f"{self.name}: nothing was undone", f"Nothing was undone: {why}"
        )
        raise ResolveError("undo_changed", f"undo of {record_id}: {why}")

    async def async_feedback(
        self, record_id: str, feedback: Feedback
    ) -> dict[str, Any]:
        """Record what the user thought of a decision; a rejection counts as a decline."""
        record = self._parts.book.get(record_id)
        if record is None:
            raise ResolveError("unknown_record", f"no recent record {record_id}")
        record = with_feedback(record, feedback)
        if feedback == Feedback.REJECTED:
            self._keeper.memory.ledger.record_decline(
                RecordView.of(record).action, dt_util.now()
            )
        return self._parts.book.publish(record, announce=True)

    async def async_interrupted(self) -> None:
        """Say which approved actions were running when the agent stopped (interrupted)."""
        memory = self._keeper.memory
        if not memory.in_flight:
            return
        while memory.in_flight:
            record_id, flight = memory.in_flight.popitem()
            record = self._parts.book.publish(
                with_execution(flight["record"], ExecutionStatus.INTERRUPTED)
            )
            await self._parts.notifier.async_suggest(
                record_id,
                f"{self.name}: check {RecordView.of(record).action}",
                f"Home Assistant stopped while it ran ({flight['verdict']}); "
                "it may or may not have happened. Check it.",
            )
        self._keeper.changed()
