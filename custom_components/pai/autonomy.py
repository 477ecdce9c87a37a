"""Autonomy earned with consent, in Home Assistant: the runtime's hooks into `engine/trust.py`.

The runtime tells `EarnedAutonomy` what became of each decision (`async_noted`: approved,
declined, undone, expired, failed, done on its own). When an action capped at ASK has earned
it, PAI asks once, on the phones, through the same exactly-once approval book as any ASK:
"May I do X on my own from now on?" (`pai.ask_autonomy`). Approved, the action's cap rises
to ACT in the entry's options (shown under Configure, where the user can lower it again);
declined or unanswered, it is not asked again for 30 days. An undo, decline or failure of
an action that earned ACT drops it back to ASK at once, with a `pai.lower_autonomy` record
and a notification that says why. Every step is a PAID record with its reasons in
`6_adaptation.learning_adjustment`, so `pai.get_records` and the logbook tell the story.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
import logging
from typing import TYPE_CHECKING, Any

from homeassistant.util import dt as dt_util

from .const import DOMAIN, LEVEL_NAMES
from .engine.approvals import PendingItem
from .engine.gate import highest_level
from .engine.models import AutonomyLevel, Decision, Event, Intent
from .engine.records import (
    ActionTaken,
    ExecutionStatus,
    Feedback,
    RecordView,
    build_record,
    with_execution,
    with_feedback,
)
from .engine.trust import (
    REFUSED_FOR,
    Demotion,
    Outcome,
    TrustBook,
    earnable,
    eligible,
    outcome_of,
)
from .review import cap_webhooks

if TYPE_CHECKING:
    from .runtime import AgentRuntime

_LOGGER = logging.getLogger(__name__)

ASK_AUTONOMY = "pai.ask_autonomy"
"""The action of the consent request: "may I do X on my own from now on?"."""
LOWER_AUTONOMY = "pai.lower_autonomy"
"""The action of the record that drops an earned ACT back to ASK."""
TRUST_EVENT = "pai.trust"
"""The event kind of PAI's own trust records."""
CONSENT = "consent"
"""The key, in a pending approval's payload, of the action a consent request is about."""


class EarnedAutonomy:
    """One agent's trust records, and the promotions and demotions they lead to."""

    def __init__(self, runtime: AgentRuntime, data: Mapping[str, Any]) -> None:
        """Keep the trust records of `runtime`; `data` is the entry's data (the review's web hook consent)."""
        self._runtime = runtime
        self._data = data

    @property
    def book(self) -> TrustBook:
        """Every action's trust record (kept with the agent's memory)."""
        return self._runtime.keeper.memory.trust

    # --- life cycle -------------------------------------------------------------------

    def load(self) -> None:
        """Check the loaded book: an earned cap the user lowered under Configure is lost."""
        book = self.book
        for action, record_id in book.questions().items():
            if self._runtime.approvals.get(record_id, "approval") is None:
                book.unasked(action)  # the request was lost: it may be asked again
        for action in book.earned():
            if self._cap(action) != AutonomyLevel.ACT:
                book.revoked(action, f"{action}: its cap was lowered under Configure")

    # --- what the runtime tells it ----------------------------------------------------

    @staticmethod
    def consent_of(item: PendingItem) -> str | None:
        """Return the action a pending approval asks consent for, or None for an ordinary ASK."""
        action = item.payload.get(CONSENT)
        return action if isinstance(action, str) and action else None

    async def async_noted(self, record: Mapping[str, Any]) -> None:
        """Count what became of a record's decision; demote, or ask, as it earns.

        Called once per final state: an answer (approve, decline, undo), an expiry, a
        rejection, or an action done on its own.
        """
        view = RecordView.of(record)
        action = view.action
        if not action or action.startswith(f"{DOMAIN}."):
            if action == ASK_AUTONOMY and view.status == ExecutionStatus.EXPIRED:
                self._refused(view.params.get("action"))
            return
        outcome = outcome_of(view.status, view.feedback, view.granted_level)
        if outcome is None:
            return
        demotion = self.book.note(action, outcome, dt_util.utcnow())
        if demotion is not None:
            await self._async_demote(demotion, view.record_id)
        elif outcome is Outcome.APPROVED and earnable(
            view.requested_level,
            view.granted_level,
            [str(reason.get("code")) for reason in view.reasons],
        ):
            await self._async_maybe_ask(action)

    async def async_consent(
        self, record: dict[str, Any], verdict: str, item: PendingItem
    ) -> dict[str, Any]:
        """Carry out the answer to a consent request: raise the cap, or wait 30 days."""
        runtime = self._runtime
        action = self.consent_of(item) or ""
        now = dt_util.utcnow()
        if verdict != "approve":
            until = self._refused(action)
            return runtime.book.publish(
                with_feedback(
                    with_execution(record, ExecutionStatus.DECLINED),
                    Feedback.REJECTED,
                    _change(
                        action,
                        "refused",
                        AutonomyLevel.ASK,
                        AutonomyLevel.ASK,
                        f"declined: not asked again before {until:%Y-%m-%d}",
                    ),
                ),
                announce=True,
            )
        if (why_not := self._why_not(action)) is not None:
            # The user's limits changed since the question: they win.
            self.book.refused(action, now)
            return runtime.book.publish(
                with_feedback(
                    with_execution(
                        record,
                        ExecutionStatus.NOT_EXECUTED,
                        [ActionTaken(ASK_AUTONOMY, "not_executed", why_not)],
                    ),
                    Feedback.ACCEPTED,
                    _change(
                        action,
                        "not_raised",
                        self._cap(action),
                        self._cap(action),
                        f"not raised: {why_not}",
                    ),
                ),
                announce=True,
            )
        trust = self.book.get(action)
        why = (
            f"approved {trust.streak if trust else 0} times in a row and then "
            f"let act on its own"
        )
        self.book.consented(action, now, why)
        self._set_cap(action, AutonomyLevel.ACT)
        return runtime.book.publish(
            with_feedback(
                with_execution(
                    record,
                    ExecutionStatus.EXECUTED,
                    [
                        ActionTaken(
                            ASK_AUTONOMY, "executed", {"action": action, "cap": "act"}
                        )
                    ],
                ),
                Feedback.ACCEPTED,
                _change(action, "promoted", AutonomyLevel.ASK, AutonomyLevel.ACT, why),
            ),
            announce=True,
        )

    # --- asking -----------------------------------------------------------------------

    async def _async_maybe_ask(self, action: str) -> None:
        """Ask once whether `action` may act alone, if it earned the question."""
        runtime = self._runtime
        now = dt_util.utcnow()
        if not self.book.due(action, now, runtime.settings.ladder):
            return
        if (why_not := self._why_not(action)) is not None:
            _LOGGER.debug(
                "%s: %s not asked to act alone: %s", runtime.name, action, why_not
            )
            return
        trust = self.book.get(action)
        if trust is None or trust.streak_since is None:
            return
        days = (now - trust.streak_since).days
        question = f"May I do {action} on my own from now on?"
        evidence = (
            f"You approved it {trust.streak} times in a row over {days} days, "
            "with no decline, undo or failure."
        )
        event = Event(
            source=DOMAIN,
            kind=TRUST_EVENT,
            payload={
                "action": action,
                "approvals_in_a_row": trust.streak,
                "since": trust.streak_since.isoformat(),
            },
            time=now,
        )
        intent = Intent(
            ASK_AUTONOMY,
            params={"action": action},
            confidence=1.0,
            urgency=0.5,
            rationale=f"{question} {evidence}",
            requested_level=AutonomyLevel.ASK,
        )
        decision = Decision(intent, AutonomyLevel.ASK, AutonomyLevel.ASK)
        record = build_record(
            event,
            decision,
            status=ExecutionStatus.PENDING_APPROVAL,
            extensions={
                "ha": {"entry_id": runtime.entry_id, "agent": runtime.name},
                "trust": {"action": action, **trust.to_dict()},
            },
            now=now,
        )
        record_id = record["record_id"]
        nonce = await runtime.pending.async_add(
            record_id,
            "approval",
            runtime.settings.approval_expiry_minutes,
            {"record": record, CONSENT: action},
        )
        self.book.asking(action, record_id)
        runtime.keeper.memory.ledger.record(decision, dt_util.now())
        await runtime.notifier.async_ask(
            record_id,
            nonce,
            f"{runtime.name}: {question}",
            f"{evidence} Approve: it runs without asking (you can undo each time, "
            "and lower it under Configure). Decline: not asked again for 30 days.",
        )
        runtime.book.publish(record)

    def _refused(self, action: object) -> datetime:
        """Note a consent request declined or unanswered; return until when it waits."""
        if isinstance(action, str) and action:
            return self.book.refused(action, dt_util.utcnow())
        return dt_util.utcnow() + REFUSED_FOR

    # --- demoting -----------------------------------------------------------------------

    async def _async_demote(self, demotion: Demotion, because: str) -> None:
        """Drop an earned ACT back to ASK at once; record and say why."""
        runtime = self._runtime
        action = demotion.action
        was = self._cap(action)
        if was == AutonomyLevel.ACT:
            self._set_cap(action, AutonomyLevel.ASK)
        now = dt_util.utcnow()
        event = Event(
            source=DOMAIN,
            kind=TRUST_EVENT,
            payload={
                "action": action,
                "because": because,
                "outcome": str(demotion.outcome),
            },
            time=now,
        )
        intent = Intent(
            LOWER_AUTONOMY,
            params={"action": action},
            confidence=1.0,
            rationale=demotion.why,
            requested_level=AutonomyLevel.OBSERVE,
        )
        record = build_record(
            event,
            Decision(intent, AutonomyLevel.OBSERVE, AutonomyLevel.OBSERVE),
            status=ExecutionStatus.EXECUTED,
            actions_taken=[
                ActionTaken(
                    LOWER_AUTONOMY, "executed", {"action": action, "cap": "ask"}
                )
            ],
            feedback=Feedback.PENDING,
            extensions={"ha": {"entry_id": runtime.entry_id, "agent": runtime.name}},
            now=now,
        )
        record = with_feedback(
            record,
            Feedback.PENDING,
            _change(action, "demoted", was, AutonomyLevel.ASK, demotion.why),
        )
        runtime.book.publish(record, announce=True)
        await runtime.notifier.async_suggest(
            record["record_id"],
            f"{runtime.name}: {action} asks first again",
            f"{demotion.why[:1].upper()}{demotion.why[1:]}: from now on it waits for "
            "your approval. It can earn acting on its own again.",
        )

    # --- the cap, in the entry's options --------------------------------------------------

    def _cap(self, action: str) -> AutonomyLevel:
        policy = self._runtime.settings.policy
        return policy.action_max_levels.get(action, policy.default_max_level)

    def _why_not(self, action: str) -> str | None:
        """Why `action` may not act alone now (the user's limits), or None."""
        runtime = self._runtime
        survival = runtime.survival
        if (why := eligible(action, runtime.settings.policy, survival)) is not None:
            return why
        raised = runtime.settings.with_action_cap(action, AutonomyLevel.ACT)
        capped = cap_webhooks(raised.policy, self._data, runtime.webhooks)
        if highest_level(action, capped, survival) != AutonomyLevel.ACT:
            return "the review lets its web hook only ask"
        return None

    def _set_cap(self, action: str, level: AutonomyLevel) -> None:
        """Keep `action`'s cap in the entry's options (where Configure shows it)."""
        runtime = self._runtime
        entry = runtime.hass.config_entries.async_get_entry(runtime.entry_id)
        options = entry.options if entry is not None else runtime.settings.options
        runtime.settings = replace(runtime.settings, options=options).with_action_cap(
            action, level
        )
        runtime.policy = cap_webhooks(
            runtime.settings.policy, self._data, runtime.webhooks
        )
        if entry is not None:
            runtime.hass.config_entries.async_update_entry(
                entry, options=dict(runtime.settings.options)
            )


def _change(
    action: str, change: str, was: AutonomyLevel, now: AutonomyLevel, why: str
) -> dict[str, Any]:
    """Return the `learning_adjustment` of a trust record: what changed, from what, and why."""
    return {
        "autonomy": {
            "action": action,
            "change": change,
            "from": LEVEL_NAMES[was],
            "to": LEVEL_NAMES[now],
            "why": why,
        }
    }
