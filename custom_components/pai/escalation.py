"""Escalation: when nobody answers a request, ask the next person, then the next.

An agent's escalation ladder (option `escalation_targets`, in order) and wait (option
`escalation_wait_minutes`) decide who is asked after the notify targets, and when
(`engine.escalation` holds the schedule). The state of each request's escalation is kept
with the pending request (its payload's `escalation`, saved with the agent's memory), so a
restart in the middle of an escalation continues it: a step that fell due while Home
Assistant was down is taken at start.

With presence on (option `escalation_presence`), a phone whose person is at home is asked
before the others. Whose phone it is comes from the Companion app's registration: the Home
Assistant user it was paired by (a `person`'s `user_id`), or its device tracker (listed in
a `person`'s `device_trackers`).

When the request is answered or expires, every escalation target that was asked is cleared
too (`clear_notification` on the phones); the runtime's update signal tells the other
surfaces.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
import logging
from typing import Any

from homeassistant.const import STATE_HOME
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.util import dt as dt_util, slugify

from .engine.approvals import ApprovalBook, PendingItem
from .engine.escalation import Escalation, EscalationError
from .notifications import NOTIFY_DOMAIN, PHONE_PREFIX, Notifier, PhoneStyle
from .settings import AgentSettings

_LOGGER = logging.getLogger(__name__)

PAYLOAD_KEY = "escalation"
"""Where a pending request keeps its escalation (and what to say again) in its payload."""
MOBILE_APP = "mobile_app"


@dataclass(frozen=True, slots=True)
class Notice:
    """What the request says, kept so that the next target hears the same."""

    title: str
    message: str
    urgency: float | None = None
    sensitive: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return {
            "title": self.title,
            "message": self.message,
            "urgency": self.urgency,
            "sensitive": self.sensitive,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Notice:
        """Read what `to_dict` wrote; raises EscalationError on a bad field."""
        title, message = data.get("title"), data.get("message")
        urgency, sensitive = data.get("urgency"), data.get("sensitive", False)
        if not isinstance(title, str) or not isinstance(message, str):
            raise EscalationError("the request's title and message are text")
        if urgency is not None and (
            isinstance(urgency, bool) or not isinstance(urgency, int | float)
        ):
            raise EscalationError(f"urgency is a number, got {urgency!r}")
        if not isinstance(sensitive, bool):
            raise EscalationError(f"sensitive is true or false, got {sensitive!r}")
        return cls(title, message, urgency, sensitive)


def read(item: PendingItem) -> tuple[Escalation, Notice] | None:
    """Return a pending request's escalation and notice; None when it has none."""
    raw = item.payload.get(PAYLOAD_KEY)
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not isinstance(raw.get("notice"), Mapping):
        raise EscalationError("the escalation is not an object with a notice")
    return Escalation.from_dict(raw), Notice.from_dict(raw["notice"])


def stored(escalation: Escalation, notice: Notice) -> dict[str, Any]:
    """Return what a pending request keeps of its escalation."""
    return {**escalation.to_dict(), "notice": notice.to_dict()}


def phone_owner(hass: HomeAssistant, target: str) -> tuple[str | None, set[str]]:
    """Return the user who paired a phone target and its device trackers (none: ({}))."""
    domain, _, service = target.partition(".")
    if domain != NOTIFY_DOMAIN or not service.startswith(PHONE_PREFIX):
        return None, set()
    registry = er.async_get(hass)
    for entry in hass.config_entries.async_entries(MOBILE_APP):
        name = entry.data.get("device_name")
        if not isinstance(name, str) or f"{PHONE_PREFIX}{slugify(name)}" != service:
            continue
        user = entry.data.get("user_id")
        trackers = {
            entity.entity_id
            for entity in er.async_entries_for_config_entry(registry, entry.entry_id)
            if entity.domain == "device_tracker"
        }
        return (user if isinstance(user, str) else None), trackers
    return None, set()


def at_home(hass: HomeAssistant, targets: Iterable[str]) -> set[str]:
    """Return the targets whose person is at home now."""
    people = [
        state for state in hass.states.async_all("person") if state.state == STATE_HOME
    ]
    home: set[str] = set()
    for target in targets:
        user, trackers = phone_owner(hass, target)
        for person in people:
            listed = person.attributes.get("device_trackers")
            devices = set(listed) if isinstance(listed, list) else set()
            if (user is not None and person.attributes.get("user_id") == user) or (
                trackers & devices
            ):
                home.add(target)
                break
    return home


class Escalator:
    """Climbs the escalation ladders of one agent's pending requests."""

    def __init__(
        self,
        hass: HomeAssistant,
        name: str,
        settings: AgentSettings,
        style: PhoneStyle,
        *,
        book: Callable[[], ApprovalBook],
        save: Callable[[], Awaitable[None]],
        sensitive: Callable[[str], bool] = lambda _action: False,
    ) -> None:
        """Escalate the requests in `book()`; `save` writes the agent's memory.

        `sensitive` tells whether an action is security-sensitive (the survival layer's
        list). The ladder leaves out the notify targets: they were asked first.
        """
        self._sensitive = sensitive
        self._hass = hass
        self._name = name
        asked_first = set(settings.notify_targets)
        self._ladder = tuple(
            target
            for target in dict.fromkeys(str(t) for t in settings.escalation_targets)
            if target not in asked_first
        )
        try:
            self._wait = float(settings.escalation_wait_minutes)
        except TypeError, ValueError:
            self._wait = 0.0  # no escalation
        self._presence = settings.escalation_presence
        self._style = style
        self._book = book
        self._save = save
        self._timer: CALLBACK_TYPE | None = None
        self._stopped = False

    def notice(
        self, action: str, title: str, message: str, urgency: float | None
    ) -> Notice:
        """Return what a request for `action` says, and how (urgency, sensitivity)."""
        return Notice(title, message, urgency, self._sensitive(action))

    def begin(self, now: datetime, notice: Notice) -> dict[str, Any]:
        """Return what a new request keeps in its payload to be escalated (or nothing)."""
        try:
            escalation = Escalation.begin(self._ladder, self._wait, now)
        except EscalationError as err:  # options edited by hand: ask, do not escalate
            _LOGGER.warning("%s: no escalation: %s", self._name, err)
            return {}
        return {} if escalation is None else {PAYLOAD_KEY: stored(escalation, notice)}

    async def async_start(self) -> None:
        """Continue the escalations kept in memory (those due now are taken now)."""
        self._stopped = False
        await self._async_due(dt_util.utcnow())

    @callback
    def stop(self) -> None:
        """Stop climbing (the state stays with the requests)."""
        self._stopped = True
        if self._timer is not None:
            self._timer()
            self._timer = None

    @callback
    def schedule(self) -> None:
        """Set the timer for the next escalation step of any request."""
        if self._timer is not None:
            self._timer()
            self._timer = None
        if self._stopped:
            return
        times = [
            escalation.next_at
            for _item, (escalation, _notice) in self._escalating()
            if escalation.next_at is not None
        ]
        if times:
            self._timer = async_track_point_in_utc_time(
                self._hass, self._async_fired, min(times)
            )

    async def async_withdraw(self, item: PendingItem) -> None:
        """Clear an answered or expired request from the escalation targets asked."""
        try:
            state = read(item)
        except EscalationError:
            state = None
        if state is not None and state[0].asked:
            await Notifier(self._hass, state[0].asked).async_dismiss(item.record_id)
        self.schedule()

    async def _async_fired(self, now: datetime) -> None:
        self._timer = None
        await self._async_due(now)

    async def _async_due(self, now: datetime) -> None:
        """Ask the next target of every request whose wait is over."""
        changed = False
        for item, (escalation, notice) in self._escalating():
            if not escalation.is_due(now):
                continue
            home = at_home(self._hass, escalation.waiting) if self._presence else set()
            target, after = escalation.step(now, home)
            item.payload[PAYLOAD_KEY] = stored(after, notice)
            changed = True
            _LOGGER.info(
                "%s: nobody answered %s; asking %s", self._name, item.record_id, target
            )
            notifier = Notifier(self._hass, [target], self._style)
            await notifier.async_ask(
                item.record_id,
                item.nonce,
                notice.title,
                notice.message,
                urgency=notice.urgency,
                sensitive=notice.sensitive,
            )
            if self._book().get(item.record_id, item.kind) is not item:
                await notifier.async_dismiss(item.record_id)  # answered meanwhile
        if changed:
            await self._save()
        self.schedule()

    def _escalating(self) -> list[tuple[PendingItem, tuple[Escalation, Notice]]]:
        """Return the pending requests with an escalation that can be read."""
        found = []
        for item in self._book().pending("approval"):
            try:
                state = read(item)
            except EscalationError as err:
                _LOGGER.warning(
                    "%s: the escalation of %s is dropped: %s",
                    self._name,
                    item.record_id,
                    err,
                )
                item.payload.pop(PAYLOAD_KEY, None)
                continue
            if state is not None:
                found.append((item, state))
        return found
