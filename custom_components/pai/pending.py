"""Requests waiting for the user: approvals and undo offers, kept before they are sent.

An item is saved to disk before its notification goes out, so an answer tapped after a
restart still finds it. Expired approvals are ignored requests (recorded as such); expired
undo offers just go.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import logging
from typing import Any

from homeassistant.util import dt as dt_util

from .engine.approvals import PendingItem, PendingKind, new_nonce
from .engine.records import ExecutionStatus, Feedback, with_execution, with_feedback
from .memory import MemoryKeeper
from .notifications import Notifier
from .record_book import RecordBook

_LOGGER = logging.getLogger(__name__)


class PendingRequests:
    """An agent's open requests (in its memory's approval book), and their expiry."""

    def __init__(
        self,
        name: str,
        keeper: MemoryKeeper,
        book: RecordBook,
        notifier: Notifier,
    ) -> None:
        """Keep the requests in the memory's approval book."""
        self.name = name
        self._keeper = keeper
        self._book = book
        self._notifier = notifier

    @property
    def approvals_waiting(self) -> int:
        """How many approvals wait for an answer."""
        return len(self._keeper.memory.approvals.pending("approval"))

    async def async_add(
        self,
        record_id: str,
        kind: PendingKind,
        minutes: float,
        payload: dict[str, Any],
    ) -> str:
        """Keep an approval or undo offer (saved before it is sent); return its nonce.

        Raises `ApprovalError` when one already waits under this id and kind.
        """
        now = dt_util.utcnow()
        nonce = new_nonce()
        pushed_out = self._keeper.memory.approvals.add(
            PendingItem(
                record_id, kind, nonce, now, now + timedelta(minutes=minutes), payload
            )
        )
        if pushed_out:  # the book is full: the oldest expire now, and say so
            await self.async_expired(pushed_out)
        await self._keeper.async_save()
        return nonce

    async def async_expire(self, _now: datetime | None = None) -> None:
        """Let what is past its time expire (the periodic check)."""
        if expired := self._keeper.memory.approvals.expire(dt_util.utcnow()):
            await self.async_expired(expired)

    async def async_expired(self, expired: list[PendingItem]) -> None:
        """Record expired approvals as ignored; dismiss every expired notification.

        Each is handled on its own: one that cannot be read does not keep the others.
        """
        for item in expired:
            try:
                if item.kind == "approval":
                    self._book.publish(
                        with_feedback(
                            with_execution(
                                item.payload["record"], ExecutionStatus.EXPIRED
                            ),
                            Feedback.IGNORED,
                        )
                    )
            except (KeyError, TypeError, ValueError) as err:
                _LOGGER.warning(
                    "%s: the expired %s of %s could not be recorded: %s",
                    self.name,
                    item.kind,
                    item.record_id,
                    err,
                )
            await self._notifier.async_dismiss(item.record_id)
        self._keeper.changed()
        await self._keeper.async_save()
