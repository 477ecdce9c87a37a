"""The inbox: an agent's pending requests as a to-do list, on any dashboard.

Each request waiting for approval is an item: its summary says what would run, its
description why (the agent's rationale) and what to do, its due time is when the request
expires. Completing the item approves the request, deleting it declines it, and moving its
due time snoozes it until then; each goes through the agent's one exactly-once path, as
the calling user (the approvers check applies). The list follows the agent: a request
answered elsewhere, or expired, leaves it. Items cannot be created, and renaming one (or
rewriting its description) changes nothing: that is refused with a clear error.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, override

from homeassistant.components.todo.const import TodoItemStatus, TodoListEntityFeature
from homeassistant.components.todo.entity import TodoItem, TodoListEntity
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .answers import ResolveError
from .const import DOMAIN
from .engine.approvals import MAX_SNOOZE, PendingItem, Verb
from .engine.records import RecordView
from .entity import PaiEntity
from .runtime_data import PaiConfigEntry

if TYPE_CHECKING:
    from .runtime import AgentRuntime

PARALLEL_UPDATES = 0
INBOX = "inbox"


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PaiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the agent's inbox."""
    async_add_entities([PaiInbox(entry.runtime_data.runtime)])


def _error(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders,
    )


class PaiInbox(PaiEntity, TodoListEntity):
    """The requests an agent waits on, answered by completing or deleting them."""

    _attr_supported_features = (
        TodoListEntityFeature.UPDATE_TODO_ITEM
        | TodoListEntityFeature.DELETE_TODO_ITEM
        | TodoListEntityFeature.SET_DUE_DATETIME_ON_ITEM
        # Shown with the description; rewriting it is refused (it changes nothing).
        | TodoListEntityFeature.SET_DESCRIPTION_ON_ITEM
    )

    def __init__(self, runtime: AgentRuntime) -> None:
        """Show `runtime`'s pending approvals."""
        super().__init__(runtime, INBOX)

    @override
    def _shows(self) -> Any:
        """Return the requests listed (the items' text follows from them)."""
        return tuple(
            (item.record_id, item.nonce, item.expires, item.snoozed_until)
            for item in self._waiting()
        )

    def _waiting(self) -> list[PendingItem]:
        return self.runtime.keeper.memory.approvals.pending("approval")

    def _item(self, pending: PendingItem) -> TodoItem:
        record = pending.payload.get("record")
        if not isinstance(record, dict):
            return TodoItem(
                summary=pending.record_id,
                uid=pending.record_id,
                status=TodoItemStatus.NEEDS_ACTION,
                due=dt_util.as_local(pending.expires),
            )
        view = RecordView.of(record)
        lines = [view.rationale] if view.rationale else []
        lines.append(f"Would run: {self.runtime.delivery.what_runs(record)}")
        if pending.snoozed_until is not None:
            lines.append(
                "Snoozed until "
                f"{dt_util.as_local(pending.snoozed_until).strftime('%H:%M')}"
            )
        lines.append(
            "Complete to approve, delete to decline, move the due time to snooze. "
            f"Record {pending.record_id}."
        )
        return TodoItem(
            summary=self.runtime.delivery.what_runs(record),
            uid=pending.record_id,
            status=TodoItemStatus.NEEDS_ACTION,
            due=dt_util.as_local(pending.expires),
            description="\n".join(lines),
        )

    @property
    @override
    def todo_items(self) -> list[TodoItem]:
        """The pending requests, oldest first."""
        return [self._item(pending) for pending in self._waiting()]

    @override
    async def async_create_todo_item(self, item: TodoItem) -> None:
        """Refuse: only the agent adds requests."""
        raise _error("inbox_no_create")

    @override
    async def async_update_todo_item(self, item: TodoItem) -> None:
        """Completed: approve. A new due time: snooze until then. Anything else: refused."""
        uid = item.uid or ""
        shown = next((i for i in self.todo_items if i.uid == uid), None)
        if shown is None:
            raise _error("inbox_item_gone", record_id=uid)
        if item.summary != shown.summary or (item.description or "") != (
            shown.description or ""
        ):
            raise _error("inbox_no_rename", record_id=uid)
        if item.status == TodoItemStatus.COMPLETED:
            await self._async_answer(Verb.APPROVE, uid)
        elif item.due != shown.due:
            await self._async_snooze(uid, item.due)
        else:
            raise _error("inbox_nothing_to_do", record_id=uid)

    @override
    async def async_delete_todo_items(self, uids: list[str]) -> None:
        """Decline each deleted request."""
        for uid in uids:
            await self._async_answer(Verb.DECLINE, uid)

    async def _async_snooze(self, uid: str, due: object) -> None:
        now = dt_util.utcnow()
        if not isinstance(due, datetime) or not (
            now < dt_util.as_utc(due) <= now + MAX_SNOOZE
        ):
            raise _error(
                "inbox_bad_snooze",
                record_id=uid,
                hours=str(MAX_SNOOZE // timedelta(hours=1)),
            )
        await self._async_answer(Verb.SNOOZE, uid, until=dt_util.as_utc(due))

    async def _async_answer(
        self, verb: Verb, uid: str, until: datetime | None = None
    ) -> None:
        """Answer as the calling user, through the agent's exactly-once path."""
        user_id = self._context.user_id if self._context else None
        runtime = self.runtime
        try:
            if verb is Verb.SNOOZE and until is not None:
                await runtime.snoozes.async_snooze(uid, None, until, user_id)
            else:
                await runtime.answers.async_resolve(uid, verb, None, user_id)
        except ResolveError as err:
            raise _error(f"resolve_{err.reason}", record_id=uid) from err
        finally:
            self._async_write_now()  # the list as it is, even when the answer failed
