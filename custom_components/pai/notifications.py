"""Telling the user: nudges, approval requests and undo offers, on each configured target.

An agent's `notify_targets` name three kinds of destination. `persistent_notification` is
the notification panel in Home Assistant. `notify.mobile_app_<device>` is the Companion
app's notify action, the only kind that carries buttons, so approvals and undo offers are
answered there (`PAI_APPROVE_...`, `PAI_DECLINE_...`, `PAI_UNDO_...`). `notify.<entity>` is
a notify entity (`notify.send_message`: a message and a title, nothing more); a legacy
notify action that is not a phone gets the same plain text. `assist_satellite.<entity>` is
a voice satellite: requests are asked aloud there and suggestions announced
(`satellites.py`). Phones also offer Snooze (with the minutes typed in, or 30) and False
alarm.

Every notification about one record carries the record id as its tag (phones) or in its
id (the panel), so a later one replaces it and `async_dismiss` clears it.

On the phones, how loudly a notification interrupts follows the intent's urgency
(`engine.urgency`): iOS `push.interruption-level`, Android a channel per level (with
`priority: high` and `ttl: 0` from time-sensitive on); critical (through Do Not Disturb, with
sound; Android's alarm stream) only when the agent opted in. An approval of a
security-sensitive action asks the phone to authenticate before the answer is sent
(`authenticationRequired`: every iOS, Android 12 and later) and its Approve button is
`destructive` (red on iOS). A tap on the notification opens the agent's page (`url` on iOS,
`clickAction` on Android) and one agent's notifications are grouped (`group`). A target that
does not exist is skipped with a warning (and listed in `missing_targets`, for a repair);
a target that fails is logged and the others still get theirs: delivery never raises.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from enum import Enum, auto
import logging
from typing import Any

from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import probatio as vol

from .const import DOMAIN
from .engine.approvals import Verb, action_id
from .engine.urgency import Interruption, interruption
from .satellites import SATELLITE_DOMAIN, Satellites, is_satellite, voice_terms

_LOGGER = logging.getLogger(__name__)

PERSISTENT_NOTIFICATION = "persistent_notification"
NOTIFY_DOMAIN = "notify"
PHONE_PREFIX = "mobile_app_"
SERVICE_SEND_MESSAGE = "send_message"
CLEAR_NOTIFICATION = "clear_notification"
UNDO_CHANNEL = "PAI undo offers"
"""Android channel of the undo offers, created with low importance (no sound, no pop-up)."""
ALARM_STREAM = "alarm_stream"
"""The Companion app's Android channel that sounds on the alarm stream (through silent)."""
CHANNELS: dict[Interruption, tuple[str, str]] = {
    Interruption.PASSIVE: ("PAI quiet", "low"),
    Interruption.ACTIVE: ("PAI requests", "default"),
    Interruption.TIME_SENSITIVE: ("PAI urgent", "high"),
    Interruption.CRITICAL: (ALARM_STREAM, "max"),
}
"""Android: the channel (and the importance it is created with) of each level."""


@dataclass(frozen=True, slots=True)
class PhoneStyle:
    """How one agent's notifications look on the phones, beyond their text."""

    group: str | None = None
    """Notifications of one group are shown together."""
    url: str | None = None
    """What a tap on the notification opens (a path in Home Assistant)."""
    urgency_override: float = 1.0
    """The policy's urgency override: critical starts there (when allowed)."""
    critical: bool = False
    """Whether the user allowed critical notifications for the agent."""

    @classmethod
    def of_agent(
        cls, entry_id: str, *, urgency_override: float, critical: bool
    ) -> PhoneStyle:
        """Group an agent's notifications and open its page when tapped."""
        return cls(
            group=f"{DOMAIN}_{entry_id}",
            url=f"/config/integrations/integration/{DOMAIN}#config_entry={entry_id}",
            urgency_override=urgency_override,
            critical=critical,
        )

    def fields(self, urgency: float | None) -> dict[str, Any]:
        """Return the phone's fields for a notification of this `urgency`."""
        level = interruption(
            urgency, self.urgency_override, critical_allowed=self.critical
        )
        channel, importance = CHANNELS[level]
        push: dict[str, Any] = {"interruption-level": str(level)}
        data: dict[str, Any] = {
            "push": push,
            "channel": channel,
            "importance": importance,
        }
        if level in (Interruption.TIME_SENSITIVE, Interruption.CRITICAL):
            data |= {"priority": "high", "ttl": 0}
        if level is Interruption.CRITICAL:
            push["sound"] = {"name": "default", "critical": 1, "volume": 1.0}
        return data | self.looks()

    def looks(self) -> dict[str, Any]:
        """Return the group and what a tap opens."""
        data: dict[str, Any] = {}
        if self.group:
            data["group"] = self.group
        if self.url:
            data |= {"url": self.url, "clickAction": self.url}
        return data


def available_targets(hass: HomeAssistant) -> list[str]:
    """Return the notification targets that exist now, in the order the forms offer them.

    The persistent notification first, then phones (`notify.mobile_app_*`, which can carry
    Approve/Decline buttons), then notify entities.
    """
    phones = sorted(
        f"{NOTIFY_DOMAIN}.{service}"
        for service in hass.services.async_services_for_domain(NOTIFY_DOMAIN)
        if service.startswith(PHONE_PREFIX)
    )
    entities = sorted(hass.states.async_entity_ids(NOTIFY_DOMAIN))
    satellites = sorted(hass.states.async_entity_ids(SATELLITE_DOMAIN))
    return [PERSISTENT_NOTIFICATION, *phones, *entities, *satellites]


class TargetKind(Enum):
    """How a configured target is reached."""

    PANEL = auto()
    PHONE = auto()
    ENTITY = auto()
    SERVICE = auto()
    SATELLITE = auto()


def notification_id(record_id: str) -> str:
    """Name a record's notification in Home Assistant's panel."""
    return f"pai_{record_id}"


def approval_notice(message: str, record_id: str) -> str:
    """Word an approval request for a target without buttons: where to answer."""
    return (
        f"{message}\n\nThis needs your approval: answer on your phone, or run the "
        f"`pai.approve` action with record {record_id}."
    )


class Notifier:
    """Delivers one agent's notifications to its configured targets."""

    def __init__(
        self,
        hass: HomeAssistant,
        targets: Iterable[object],
        style: PhoneStyle | None = None,
    ) -> None:
        """Deliver to `targets` (the options' `notify_targets`, duplicates ignored)."""
        self._hass = hass
        self._targets = list(dict.fromkeys(str(target) for target in targets))
        self._warned: set[str] = set()
        self._satellites = Satellites(hass)
        self.style = style or PhoneStyle()

    @property
    def targets(self) -> list[str]:
        """The configured targets, in order."""
        return list(self._targets)

    @property
    def missing_targets(self) -> list[str]:
        """The configured targets that do not exist right now (for a repair issue)."""
        return [target for target in self._targets if self._kind(target) is None]

    async def async_suggest(
        self,
        record_id: str,
        title: str,
        message: str,
        *,
        urgency: float | None = None,
    ) -> None:
        """Tell every target about a suggestion (phones: as loudly as its urgency)."""
        phone = {"tag": record_id} | self.style.fields(urgency)

        def content(kind: TargetKind) -> tuple[str, dict[str, Any]]:
            return message, phone if kind is TargetKind.PHONE else {"tag": record_id}

        await self._async_deliver(record_id, title, content)

    async def async_ask(
        self,
        record_id: str,
        nonce: str,
        title: str,
        message: str,
        *,
        urgency: float | None = None,
        sensitive: bool = False,
    ) -> int:
        """Ask for approval; return how many phones (the ones with buttons) got it.

        Phones get Approve, Decline, Snooze and False alarm buttons (Android shows the
        first three); satellites ask aloud; the other targets get a notice that says where
        the approval can be given. For a `sensitive` action the phone asks its user to
        authenticate before Approve is sent, and Approve is marked destructive.
        """
        approve: dict[str, Any] = {
            "action": action_id(Verb.APPROVE, record_id, nonce),
            "title": "Approve",
        }
        if sensitive:
            approve |= {"authenticationRequired": True, "destructive": True}
        actions = [
            approve,
            {"action": action_id(Verb.DECLINE, record_id, nonce), "title": "Decline"},
            {
                "action": action_id(Verb.SNOOZE, record_id, nonce),
                "title": "Snooze",
                "behavior": "textInput",
                "textInputButtonTitle": "Snooze",
                "textInputPlaceholder": "Minutes (30)",
            },
            {
                "action": action_id(Verb.FALSE_ALARM, record_id, nonce),
                "title": "False alarm",
            },
        ]
        phone = {"tag": record_id, "actions": actions} | self.style.fields(urgency)

        def content(kind: TargetKind) -> tuple[str, dict[str, Any]]:
            if kind is TargetKind.PHONE:
                return message, phone
            if kind is TargetKind.SATELLITE:
                return message, {"ask": nonce}
            return approval_notice(message, record_id), {"tag": record_id}

        reached = await self._async_deliver(record_id, title, content)
        return reached[TargetKind.PHONE]

    async def async_offer_undo(
        self, record_id: str, nonce: str, title: str, message: str
    ) -> int:
        """Offer an Undo button on the phones, quietly; return how many got it.

        Quiet as the Companion app documents it: iOS `push.interruption-level: passive`
        (no sound, the screen stays dark); on Android a channel of low importance.
        """
        data = {
            "tag": record_id,
            "actions": [
                {"action": action_id(Verb.UNDO, record_id, nonce), "title": "Undo"}
            ],
            "push": {"interruption-level": "passive"},
            "channel": UNDO_CHANNEL,
            "importance": "low",
        } | self.style.looks()
        reached = await self._async_deliver(
            record_id,
            title,
            lambda kind: (message, data),
            only=TargetKind.PHONE,
        )
        return reached[TargetKind.PHONE]

    async def async_dismiss(self, record_id: str) -> None:
        """Clear the record's notification from the panel and the phones."""
        await self._async_deliver(
            record_id,
            "",
            lambda kind: (CLEAR_NOTIFICATION, {"tag": record_id}),
            only=TargetKind.PHONE,
        )
        if PERSISTENT_NOTIFICATION in self._targets:
            persistent_notification.async_dismiss(
                self._hass, notification_id(record_id)
            )

    # Delivery

    def _kind(self, target: str) -> TargetKind | None:
        """How `target` is reached now, or None when it does not exist."""
        if target == PERSISTENT_NOTIFICATION:
            return TargetKind.PANEL
        if is_satellite(target):
            exists = self._hass.states.get(target) is not None
            return TargetKind.SATELLITE if exists else None
        domain, _, name = target.partition(".")
        if domain != NOTIFY_DOMAIN or not name:
            return None
        services = self._hass.services
        if name.startswith(PHONE_PREFIX) and services.has_service(NOTIFY_DOMAIN, name):
            return TargetKind.PHONE
        if self._hass.states.get(target) is not None:
            return TargetKind.ENTITY
        if services.has_service(NOTIFY_DOMAIN, name):
            return TargetKind.SERVICE
        return None

    async def _async_deliver(
        self,
        record_id: str,
        title: str,
        content: Callable[[TargetKind], tuple[str, dict[str, Any]]],
        only: TargetKind | None = None,
    ) -> dict[TargetKind, int]:
        """Send to every existing target (of one kind); count who got it, by kind."""
        sends: list[tuple[TargetKind, Coroutine[Any, Any, bool]]] = []
        for target in self._targets:
            kind = self._kind(target)
            if kind is None:
                self._warn_missing(target)
            elif only is None or kind is only:
                text, data = content(kind)
                send = self._async_send(
                    target, kind, record_id=record_id, title=title, text=text, data=data
                )
                sends.append((kind, send))
        results = await asyncio.gather(*(send for _, send in sends))
        reached = dict.fromkeys(TargetKind, 0)
        for (kind, _), delivered in zip(sends, results, strict=True):
            reached[kind] += delivered
        return reached

    async def _async_send(
        self,
        target: str,
        kind: TargetKind,
        *,
        record_id: str,
        title: str,
        text: str,
        data: dict[str, Any],
    ) -> bool:
        """Send one notification; a failure is logged, never raised."""
        name = target.removeprefix(f"{NOTIFY_DOMAIN}.")
        text_and_title = {"message": text} | ({"title": title} if title else {})
        try:
            match kind:
                case TargetKind.PANEL:
                    persistent_notification.async_create(
                        self._hass, text, title or None, notification_id(record_id)
                    )
                case TargetKind.PHONE:
                    await self._async_notify(name, text_and_title | {"data": data})
                case TargetKind.SATELLITE:
                    return await self._async_speak(target, record_id, text, data)
                case TargetKind.ENTITY:
                    await self._async_notify(
                        SERVICE_SEND_MESSAGE, {"entity_id": target} | text_and_title
                    )
                case _:  # TargetKind.SERVICE: a legacy notify action, text only
                    await self._async_notify(name, text_and_title)
        except (HomeAssistantError, vol.Invalid) as err:
            _LOGGER.warning("Notifying %s failed: %s", target, err)
            return False
        except Exception:
            _LOGGER.exception("Notifying %s failed", target)
            return False
        return True

    async def _async_speak(
        self, target: str, record_id: str, text: str, data: dict[str, Any]
    ) -> bool:
        """Ask a request aloud (`data["ask"]` is its nonce) or announce a suggestion."""
        nonce = data.get("ask")
        if not isinstance(nonce, str):
            return await self._satellites.async_announce(target, text)
        terms = voice_terms(self._hass, record_id, nonce)
        return self._satellites.ask(target, record_id, nonce, text, terms)

    async def _async_notify(self, service: str, data: dict[str, Any]) -> None:
        await self._hass.services.async_call(
            NOTIFY_DOMAIN, service, data, blocking=True
        )

    def _warn_missing(self, target: str) -> None:
        if target in self._warned:
            _LOGGER.debug("Notify target %s still does not exist", target)
            return
        self._warned.add(target)
        _LOGGER.warning(
            "Notify target %s does not exist (expected persistent_notification, "
            "notify.mobile_app_<device>, a notify entity or an Assist satellite); "
            "skipped",
            target,
        )
