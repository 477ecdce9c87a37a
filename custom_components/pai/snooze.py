"""Snooze: ask again later about a pending request, without declining it.

A snoozed request keeps waiting in the approval book (same nonce, so a phone's buttons and
the inbox still answer it) and its notifications are withdrawn; when its time comes it is
asked again on every target, with the answer window it had at first (`engine.approvals`).
The approvers check is the one every answer passes (`answers.check_approver`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from homeassistant.util import dt as dt_util

from .action_text import with_quote
from .answers import ResolveError, check_approver
from .delivery import DeliveryParts, StepDelivery
from .engine.approvals import ApprovalError, ClaimOutcome
from .engine.records import RecordView
from .memory import MemoryKeeper
from .settings import AgentSettings


class Snoozes:
    """Snoozes an agent's requests and asks them again when their time comes."""

    def __init__(
        self,
        name: str,
        settings: AgentSettings,
        keeper: MemoryKeeper,
        delivery: StepDelivery,
        parts: DeliveryParts,
    ) -> None:
        """Snoozes share the agent's memory, delivery and parts."""
        self.name = name
        self.settings = settings
        self._keeper = keeper
        self._delivery = delivery
        self._parts = parts

    async def async_snooze(
        self,
        record_id: str,
        nonce: str | None,
        until: datetime,
        user_id: str | None = None,
    ) -> dict[str, Any]:
        """Ask again at `until`; not a decline. Returns the record. Raises ResolveError.

        `nonce` None: an authenticated Home Assistant caller (the inbox, `pai.snooze`).
        """
        check_approver(self.settings, record_id, user_id)
        try:
            claim = self._keeper.memory.approvals.snooze(
                record_id, "approval", nonce, until, dt_util.utcnow()
            )
        except ApprovalError as err:
            raise ResolveError("bad_snooze", f"snooze of {record_id}: {err}") from err
        if claim.outcome is ClaimOutcome.EXPIRED and claim.item is not None:
            await self._parts.pending.async_expired([claim.item])
        if not claim.ok or claim.item is None:
            raise ResolveError(
                str(claim.outcome), f"snooze of {record_id}: {claim.outcome}"
            )
        await self._parts.notifier.async_dismiss(record_id)
        await self._keeper.async_save()
        self._keeper.changed()
        record: dict[str, Any] = claim.item.payload["record"]
        return record

    async def async_ask_again(self, _now: datetime | None = None) -> None:
        """Ask again, on every target, the snoozed requests due now (periodic check)."""
        woken = self._keeper.memory.approvals.wake(dt_util.utcnow())
        for item in woken:
            record = item.payload["record"]
            title = self._delivery.what_runs(record)
            message = with_quote(title, self.name, RecordView.of(record).rationale)
            await self._parts.notifier.async_ask(
                item.record_id, item.nonce, title, message
            )
        if woken:
            self._keeper.changed(save=True)
