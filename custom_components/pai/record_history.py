"""Read PAID records back from the recorder, where every `pai_record` event is kept.

A record changes over its life (suggested, then approved, executed, undone...) and each
change is fired as a new `pai_record` event carrying the whole record, so the newest event
for a record id is that record's current state. This module reads the events newest first
and keeps only that newest version, without loading the whole history into memory.

What the recorder has not committed yet (it commits every few seconds) is not seen, and
the recorder drops the data of events over 32 KiB, so a record that big is not found here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
import logging
from typing import Any

from homeassistant.components.recorder.db_schema import EventData, Events, EventTypes
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.recorder import DATA_INSTANCE, get_instance, session_scope
from homeassistant.util import dt as dt_util
from homeassistant.util.json import json_loads
from sqlalchemy import select
from sqlalchemy.orm import Session

from .const import DOMAIN, EVENT_PAI_RECORD
from .engine.records import (
    ExecutionStatus,
    InvalidRecordError,
    RecordView,
    validate_record,
)

_LOGGER = logging.getLogger(__name__)

ROWS_PER_BATCH = 200


class RecordHistoryError(HomeAssistantError):
    """Records cannot be read as asked (no recorder, or a bad limit or status)."""


async def async_get_records(
    hass: HomeAssistant,
    *,
    entry_id: str | None,
    since: datetime | None,
    limit: int,
    status: str | None,
    record_id: str | None = None,
    shadow: bool | None = None,
) -> list[dict[str, Any]]:
    """Return the current version of each recorded record, most recently changed first.

    `entry_id` keeps one agent's records, `status` those whose `4_execution.status` is
    that now, `since` those made at or after that moment (a naive time is local time),
    `record_id` that one record, `shadow` only a shadow version's (True) or only the live
    ones (False; None: both, a shadow's marked in `x_pai.shadow`); at most `limit` come back.
    """
    if limit < 1:
        raise RecordHistoryError(
            translation_domain=DOMAIN,
            translation_key="invalid_record_limit",
            translation_placeholders={"limit": str(limit)},
        )
    if status is not None and status not in ExecutionStatus:
        raise RecordHistoryError(
            translation_domain=DOMAIN,
            translation_key="unknown_record_status",
            translation_placeholders={
                "status": status,
                "statuses": ", ".join(ExecutionStatus),
            },
        )
    if DATA_INSTANCE not in hass.data:
        raise RecordHistoryError(
            translation_domain=DOMAIN, translation_key="recorder_unavailable"
        )
    query = _RecordQuery(
        entry_id=entry_id,
        since=None if since is None else dt_util.as_utc(since),
        limit=limit,
        status=status,
        record_id=record_id,
        shadow=shadow,
    )
    return await get_instance(hass).async_add_executor_job(query.run, hass)


@dataclass(frozen=True, slots=True, kw_only=True)
class _RecordQuery:
    """One read of the history; runs in the recorder's database executor."""

    entry_id: str | None
    since: datetime | None  # UTC
    limit: int
    status: str | None
    record_id: str | None = None
    shadow: bool | None = None

    def run(self, hass: HomeAssistant) -> list[dict[str, Any]]:
        """Return the matching records."""
        found: list[dict[str, Any]] = []
        seen: set[str] = set()
        with session_scope(hass=hass, read_only=True) as session:
            for shared_data in self._event_data(session):
                if (decoded := _decode(shared_data)) is None:
                    continue
                data, record = decoded
                if record["record_id"] in seen:
                    continue  # an older version of a record already answered for
                seen.add(record["record_id"])
                if self._wanted(data, record):
                    found.append(record)
                    if len(found) == self.limit:
                        break
        return found

    def _event_data(self, session: Session) -> Iterator[str | None]:
        """Yield the data of `pai_record` events, newest first, fetched in batches."""
        stmt = (
            select(EventData.shared_data)
            .select_from(Events)
            .join(EventTypes, Events.event_type_id == EventTypes.event_type_id)
            .join(EventData, Events.data_id == EventData.data_id)
            .where(EventTypes.event_type == EVENT_PAI_RECORD)
            .order_by(Events.time_fired_ts.desc(), Events.event_id.desc())
            .execution_options(yield_per=ROWS_PER_BATCH)
        )
        if self.since is not None:
            # A record's first event is fired when it is made: older events cannot match.
            stmt = stmt.where(Events.time_fired_ts >= self.since.timestamp())
        for (shared_data,) in session.execute(stmt):
            yield shared_data

    def _wanted(self, data: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
        view = RecordView.of(record)
        if self.record_id is not None and view.record_id != self.record_id:
            return False
        if self.entry_id is not None and data.get("entry_id") != self.entry_id:
            return False
        if self.status is not None and view.status != self.status:
            return False
        if self.shadow is not None and bool(view.shadow) != self.shadow:
            return False
        return self.since is None or (
            datetime.fromisoformat(view.timestamp) >= self.since
        )


def _decode(
    shared_data: str | None,
) -> tuple[Mapping[str, Any], dict[str, Any]] | None:
    """(event data, valid record) of one event, or None for data that holds no record."""
    if shared_data is None:
        return None
    try:
        data = json_loads(shared_data)
        if not isinstance(data, Mapping):
            raise InvalidRecordError("the event data is not an object")
        record = validate_record(data.get("record"))
    except ValueError as err:  # not JSON, or no valid record (InvalidRecordError)
        _LOGGER.debug(
            "Skipping a %s event that holds no record: %s", EVENT_PAI_RECORD, err
        )
        return None
    return data, record
