"""Where an agent's records go: cut to fit the recorder, kept recent, fired as `pai_record`.

Each record is published in its latest state: made by a step, then again when the user
answers it, when it expires or when an approved action is interrupted.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from datetime import datetime
import logging
from typing import Any

from homeassistant.core import CALLBACK_TYPE, Context, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from .const import DOMAIN, EVENT_PAI_RECORD
from .engine.bounds import fit_record
from .engine.models import AutonomyLevel, Decision, Event, Intent
from .engine.rate import RecordRate
from .engine.records import ExecutionStatus, RecordView, build_record
from .memory import MemoryKeeper
from .repairs import report_record_too_large

_LOGGER = logging.getLogger(__name__)

RECENT_RECORDS = 200
UNBOUND_KEPT = 64
"""At most so many unbound action names remembered (an LLM may invent any)."""


class RecordBook:
    """An agent's recent records, its action history, and the `pai_record` events."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        name: str,
        keeper: MemoryKeeper,
    ) -> None:
        """Count the records per action and status in the memory's `history`."""
        self.hass = hass
        self.entry_id = entry_id
        self.name = name
        self._keeper = keeper
        self.last: dict[str, Any] | None = None
        self._recent: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.unbound: dict[str, None] = {}
        """Actions proposed that nothing runs (Repairs lists them), oldest first."""

    def fit(self, record: dict[str, Any]) -> dict[str, Any]:
        """Cut a record to what the recorder keeps; warn (and Repairs) if it cannot."""
        fitted, fits = fit_record(record)
        if not fits:
            _LOGGER.warning(
                "%s: record %s is too large for the recorder even cut down; "
                "it is kept here but will be missing from the history",
                self.name,
                record["record_id"],
            )
            report_record_too_large(
                self.hass, self.entry_id, self.name, record["record_id"]
            )
        return fitted

    def publish(
        self, record: dict[str, Any], *, announce: bool = False, fitted: bool = False
    ) -> dict[str, Any]:
        """Remember the record's latest state and fire `pai_record`; return it.

        The entities are told once per event (`announce`, or by the caller), not once per
        record: each update rewrites every entity of the agent.
        """
        if not fitted:
            record = self.fit(record)
        record_id = record["record_id"]
        self._recent[record_id] = record
        self._recent.move_to_end(record_id)
        while len(self._recent) > RECENT_RECORDS:
            self._recent.popitem(last=False)
        self.last = record
        view = RecordView.of(record)
        self._keeper.memory.history.setdefault(view.action, Counter())[view.status] += 1
        if view.status == ExecutionStatus.NO_ACTION_REGISTERED:
            self.unbound[view.action] = None
            while len(self.unbound) > UNBOUND_KEPT:
                del self.unbound[next(iter(self.unbound))]
        context = Context()
        self.hass.bus.async_fire(
            EVENT_PAI_RECORD,
            {"entry_id": self.entry_id, "agent": self.name, "record": record},
            context=context,
        )
        # The event begins this context, and Home Assistant links them both ways; that
        # cycle would keep the event and its record alive until a garbage collection (the
        # tail of PAI's latency). Once it is dispatched (maybe after the event being
        # dispatched now), the link back goes.
        self.hass.loop.call_soon(_forget_origin, context)
        if announce:
            self._keeper.changed()
        return record

    def get(self, record_id: str) -> dict[str, Any] | None:
        """Return a recent record in its latest state."""
        return self._recent.get(record_id)

    def recent(self) -> list[dict[str, Any]]:
        """Return the recent records, oldest first, in their latest state."""
        return list(self._recent.values())


def _forget_origin(context: Context) -> None:
    context.origin_event = None


RATE_LIMITED_ACTION = "pai.rate_limited"
"""The action name of the record that says a flood was cut short."""


class FloodGuard[T]:
    """At most so many records a minute (`engine/rate.py`).

    One record says what a flood skipped, once it has passed.
    """

    def __init__(self, hass: HomeAssistant, book: RecordBook) -> None:
        """Publish the note in `book`."""
        self.hass = hass
        self.rate = RecordRate()
        self._book = book
        self._timer: CALLBACK_TYPE | None = None

    def admit(self, intents: list[T], now: datetime) -> list[T]:
        """Return the intents (in order) that may still make records this minute."""
        admitted = [intent for intent in intents if self.rate.admit(now)]
        if len(admitted) < len(intents) and self._timer is None:
            self._timer = async_call_later(
                self.hass, max(1.0, self.rate.free_in(now)), self._note
            )
        return admitted

    def stop(self) -> None:
        """Forget the pending note."""
        if self._timer is not None:
            self._timer()
            self._timer = None

    @callback
    def _note(self, _now: datetime) -> None:
        """Make the one record that says how many decisions a flood skipped."""
        self._timer = None
        if not (skipped := self.rate.take_skipped()):
            return
        book = self._book
        message = (
            f"{skipped} decisions were skipped: more than {self.rate.limit} "
            "records in a minute"
        )
        _LOGGER.warning("%s: %s", book.name, message)
        intent = Intent(
            RATE_LIMITED_ACTION,
            rationale=message,
            confidence=1.0,
            requested_level=AutonomyLevel.OBSERVE,
        )
        event = Event(
            source=DOMAIN,
            kind=RATE_LIMITED_ACTION,
            payload={"skipped": skipped, "limit": self.rate.limit},
            time=dt_util.utcnow(),
        )
        book.publish(
            build_record(
                event,
                Decision(intent, AutonomyLevel.OBSERVE, AutonomyLevel.OBSERVE),
                status=ExecutionStatus.OBSERVED,
                extensions={"ha": {"entry_id": book.entry_id, "agent": book.name}},
            ),
            announce=True,
        )
