"""Carrying out one step of the decision loop: record, suggest, ask, or run, then publish.

ACT runs first and the record is made once, with what the run did, under a child of the
trigger's context (so the logbook shows why). ASK keeps the request before the phones hear
of it, titled with what will really run (the model's words only quoted).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import logging
from typing import Any

from homeassistant.core import Context, HomeAssistant
from homeassistant.util import dt as dt_util

from .action_text import describe_sequence, with_quote
from .engine.approvals import ApprovalError
from .engine.loop import Delivery, Step
from .engine.models import Event
from .engine.records import (
    ActionTaken,
    ExecutionStatus,
    RecordView,
    build_record,
    new_record_id,
    perception,
    with_execution,
)
from .engine.router import RouteOutcome
from .engine.rules import action_params
from .executor import ActionExecutor, ExecutionResult
from .loops import OwnActivity
from .notifications import Notifier
from .pending import PendingRequests
from .privacy import PrivacyGuard
from .record_book import RecordBook
from .review import webhook_payload
from .settings import AgentSettings
from .undo import describe as describe_undo, plan as undo_plan

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeliveryParts:
    """What carrying out and answering a step use of an agent."""

    book: RecordBook
    pending: PendingRequests
    notifier: Notifier
    executor: ActionExecutor
    own: OwnActivity
    privacy: PrivacyGuard


class StepDelivery:
    """Carries out an agent's steps: notifies, asks, runs bindings and web hooks."""

    def __init__(
        self,
        hass: HomeAssistant,
        name: str,
        entry_id: str,
        *,
        settings: AgentSettings,
        bindings: Mapping[str, list[dict[str, Any]]],
        webhooks: Mapping[str, str],
        parts: DeliveryParts,
    ) -> None:
        """`bindings`: action -> Home Assistant sequence; `webhooks`: consented hooks."""
        self.hass = hass
        self.name = name
        self.settings = settings
        self.bindings = bindings
        self.webhooks = webhooks
        self._parts = parts
        self._extension = {"ha": {"entry_id": entry_id, "agent": name}}

    async def async_deliver(
        self,
        event: Event,
        step: Step,
        context: Mapping[str, Any],
        outcome: RouteOutcome | None = None,
    ) -> dict[str, Any]:
        """Carry out one step and publish its record; return the record."""
        parts = self._parts
        decision = step.decision
        intent = decision.intent
        extensions: dict[str, Any] = dict(self._extension)
        if outcome is not None:
            extensions["brain"] = outcome.to_dict()

        def record_with(
            status: ExecutionStatus, taken: list[ActionTaken] | None = None, **ids: Any
        ) -> dict[str, Any]:
            return build_record(
                event,
                decision,
                context,
                status=status,
                actions_taken=taken or (),
                extensions=extensions,
                **ids,
            )

        if step.delivery in (Delivery.RECORD, Delivery.UNBOUND):
            return parts.book.publish(record_with(step.status))

        if step.delivery is Delivery.SUGGEST:
            record = parts.book.fit(record_with(step.status))
            await parts.notifier.async_suggest(
                record["record_id"],
                f"{self.name}: {intent.action}",
                intent.rationale or intent.action,
            )
            return parts.book.publish(record, fitted=True)

        if step.delivery is Delivery.ASK:
            return await self._async_ask(
                event, record_with(step.status), intent.rationale
            )

        # Run first, then make the record once, with what the run did.
        now = dt_util.utcnow()
        record_id = new_record_id(now)
        result = await self.async_run(
            intent.action,
            intent.params,
            perception(event),
            record_id,
            parts.own.context(parent_id=event.cause),
        )
        record = parts.book.fit(
            record_with(
                ExecutionStatus(result.status),
                [ActionTaken(intent.action, result.status, result.result)],
                record_id=record_id,
                now=now,
            )
        )
        await self._async_offer_undo(record, result)
        return parts.book.publish(record, fitted=True)

    async def _async_ask(
        self, event: Event, record: dict[str, Any], rationale: str | None
    ) -> dict[str, Any]:
        """Keep the request, then ask the phones; say what will really run."""
        parts = self._parts
        record = parts.book.fit(record)
        view = RecordView.of(record)
        title = self.what_runs(record)
        message = with_quote(title, self.name, rationale)
        try:
            nonce = await parts.pending.async_add(
                view.record_id,
                "approval",
                self.settings.approval_expiry_minutes,
                {"record": record, "event": event.to_dict(), "cause": event.cause},
            )
        except ApprovalError as err:  # never replace what waits under this id
            _LOGGER.warning("%s: %s", self.name, err)
            return parts.book.publish(
                with_execution(
                    record,
                    ExecutionStatus.FAILED,
                    [ActionTaken(view.action, "failed", str(err))],
                )
            )
        await parts.notifier.async_ask(view.record_id, nonce, title, message)
        return parts.book.publish(record, fitted=True)

    def what_runs(self, record: Mapping[str, Any]) -> str:
        """Say what the record's action will run ("Unlock: Front door (lock.unlock)")."""
        view = RecordView.of(record)
        action = view.action
        if action not in self.bindings and action in self.webhooks:
            return f"Post to {self.webhooks[action]} (web hook {action})"
        return describe_sequence(
            self.hass,
            self.bindings.get(action, []),
            {
                "params": action_params(view.params),
                "event": view.perception,
                "record_id": view.record_id,
            },
        )

    async def async_run(
        self,
        action: str,
        params: Mapping[str, Any],
        perceived: Mapping[str, Any],
        record_id: str,
        context: Context,
    ) -> ExecutionResult:
        """Run an action's binding (or post its web hook) now, under `context`."""
        parts = self._parts
        sequence = self.bindings.get(action)
        if sequence is not None or action not in self.webhooks:
            return await parts.executor.async_execute(
                sequence,
                params=params,
                event=perceived,
                record_id=record_id,
                context=context,
            )
        # The documented minimal payload; never for an event about private things.
        if parts.privacy.payload_is_private(perceived.get("raw_data_summary")):
            return ExecutionResult(
                ExecutionStatus.NOT_EXECUTED,
                "not posted: the event is about an entity labelled private",
            )
        return await parts.executor.async_post_webhook(
            self.webhooks[action],
            webhook_payload(
                self.name, record_id, perceived, action, action_params(params)
            ),
            record_id,
        )

    async def async_execute(
        self, record: dict[str, Any], context: Context
    ) -> dict[str, Any]:
        """Run an approved record's action now; offer an undo on the phones when it ran."""
        view = RecordView.of(record)
        action = view.action
        result = await self.async_run(
            action, view.params, view.perception, view.record_id, context
        )
        record = with_execution(
            record,
            ExecutionStatus(result.status),
            [ActionTaken(action, result.status, result.result)],
        )
        await self._async_offer_undo(record, result)
        return record

    async def _async_offer_undo(
        self, record: dict[str, Any], result: ExecutionResult
    ) -> None:
        """Offer an undo of what ran, on the phones, saying what it will put back.

        Only for what an undo may do alone (never opening anything).
        """
        if result.status != ExecutionStatus.EXECUTED or not result.snapshot:
            return
        undo = undo_plan(self.hass, result.snapshot)
        if not undo.restore:
            return
        nonce = await self._parts.pending.async_add(
            record["record_id"],
            "undo",
            self.settings.undo_window_minutes,
            {"snapshot": undo.restore, "left": undo.left, "record": record},
        )
        await self._parts.notifier.async_offer_undo(
            record["record_id"],
            nonce,
            f"{self.name} did: {self.what_runs(record)}",
            describe_undo(self.hass, undo),
        )
