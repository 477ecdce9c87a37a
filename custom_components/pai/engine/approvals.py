"""Pending approvals and undo offers, as plain data, so each is acted on exactly once.

An ASK decision waits for the user's answer and an ACT offers an undo; the answer arrives
later, maybe more than once (a phone retries, two phones answer the same notification, the
user taps twice) and maybe after a restart. This book holds what waits, keyed by record and
kind, with a random nonce that the phone action must carry: the first valid claim takes the
item out and gets it; every later claim hears that it was already done (or has expired), so
the host runs the action at most once whatever the interleaving.

The book persists through Home Assistant's `Store` as JSON (`to_dict` / `from_dict`); a
damaged file loses only the entries it cannot read. Both the pending items and the memory
of resolved ones are bounded.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
import hmac
import logging
import re
import secrets
from typing import Any, Literal, cast

_LOGGER = logging.getLogger(__name__)

BOOK_VERSION = 1
MAX_PENDING = 500
"""At most this many items wait at once; adding more drops the oldest."""
MAX_RESOLVED = 2000
"""At most this many resolved items are remembered (to answer ALREADY_DONE)."""
RESOLVED_KEPT_FOR = timedelta(days=7)
MAX_SNOOZE = timedelta(days=1)
"""A request is snoozed for at most this long at a time."""
"""A resolved item is remembered this long after it was resolved."""
NONCE_BYTES = 16
"""128 random bits per nonce (the contract asks for at least 64)."""

type PendingKind = Literal["approval", "undo"]
KINDS: tuple[PendingKind, ...] = ("approval", "undo")

_RECORD_ID = r"paid_\d{8}_(?:[0-9a-f]{16}|[0-9a-f]{6})"  # ours, and paigent's
_NONCE = r"[0-9a-f]{16,64}"
_ACTION_ID = re.compile(
    rf"PAI_(APPROVE|DECLINE|UNDO|SNOOZE|FALSE_ALARM)_({_RECORD_ID})_({_NONCE})"
)
_RECORD_ID_RE = re.compile(_RECORD_ID)
_NONCE_RE = re.compile(_NONCE)


class ApprovalError(ValueError):
    """The host handed the book something it cannot keep (a bad id, kind or time)."""


class Verb(StrEnum):
    """What an answer asks for (a phone's button, a spoken answer, an inbox change).

    SNOOZE keeps the request waiting and asks again later (not a decline); FALSE_ALARM
    declines it and says the request should not have been made (its own reason code).
    """

    APPROVE = "approve"
    DECLINE = "decline"
    UNDO = "undo"
    SNOOZE = "snooze"
    FALSE_ALARM = "false_alarm"

    @property
    def kind(self) -> PendingKind:
        """The kind of pending item this verb answers."""
        return "undo" if self is Verb.UNDO else "approval"

    @property
    def declines(self) -> bool:
        """Whether the answer counts as a decline for the gate."""
        return self in (Verb.DECLINE, Verb.FALSE_ALARM)


FALSE_ALARM_REASON = "false_alarm"
"""The reason code a record declined as a false alarm carries."""


@dataclass(frozen=True, slots=True)
class PhoneAction:
    """A parsed `PAI_<VERB>_<record_id>_<nonce>` action id."""

    verb: Verb
    record_id: str
    nonce: str

    @property
    def kind(self) -> PendingKind:
        """The kind of pending item this action answers."""
        return self.verb.kind


def parse_action_id(action: object) -> PhoneAction | None:
    """Read a phone action id; anything that is not exactly one of ours gives None."""
    if not isinstance(action, str) or not (match := _ACTION_ID.fullmatch(action)):
        return None
    verb, record_id, nonce = match.groups()
    return PhoneAction(Verb(verb.lower()), record_id, nonce)


def action_id(verb: Verb | str, record_id: str, nonce: str) -> str:
    """Build the action id a phone sends back for `verb` on `record_id`."""
    try:
        word = Verb(verb)
    except ValueError:
        raise ApprovalError(
            f"a phone action is one of {', '.join(Verb)}, not {verb!r}"
        ) from None
    _check_record_id(record_id)
    _check_nonce(nonce)
    return f"PAI_{word.name}_{record_id}_{nonce}"


def new_nonce() -> str:
    """Draw a fresh random nonce: 128 bits as lowercase hex."""
    return secrets.token_hex(NONCE_BYTES)


@dataclass(frozen=True, slots=True)
class PendingItem:
    """Something waiting for the user: an approval (ASK) or an undo offer (ACT).

    `payload` is JSON-ready data the host needs to act later (the intent, the event and the
    record for an approval; the states to restore for an undo).
    """

    record_id: str
    kind: PendingKind
    nonce: str
    created: datetime
    expires: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    snoozed_until: datetime | None = None
    """When a snoozed request is to be asked again (None: not snoozed)."""

    def __post_init__(self) -> None:
        """Refuse an item the book could not match, expire or store."""
        _check_record_id(self.record_id)
        _kind(self.kind)
        _check_nonce(self.nonce)
        _check_aware(self.created, "created")
        _check_aware(self.expires, "expires")
        if self.snoozed_until is not None:
            _check_aware(self.snoozed_until, "snoozed_until")
        payload: object = self.payload
        if not isinstance(payload, Mapping):
            raise ApprovalError(
                f"a pending item's payload is a mapping, got {payload!r}"
            )
        object.__setattr__(self, "payload", dict(payload))  # the item's own copy

    @property
    def key(self) -> tuple[str, PendingKind]:
        """What identifies the item in the book: its record and kind."""
        return (self.record_id, self.kind)

    def is_expired(self, now: datetime) -> bool:
        """Tell whether the item has expired at `now` (from the moment of expiry on)."""
        return now >= self.expires

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (ISO 8601 times)."""
        return {
            "record_id": self.record_id,
            "kind": self.kind,
            "nonce": self.nonce,
            "created": self.created.isoformat(),
            "expires": self.expires.isoformat(),
            "payload": dict(self.payload),
        } | (
            {"snoozed_until": self.snoozed_until.isoformat()}
            if self.snoozed_until is not None
            else {}
        )

    @classmethod
    def from_dict(cls, data: object) -> PendingItem:
        """Read what `to_dict` wrote; a bad entry raises `ApprovalError`."""
        if not isinstance(data, Mapping):
            raise ApprovalError(f"a pending item is a mapping, got {data!r}")
        try:
            return cls(
                record_id=data["record_id"],
                kind=data["kind"],
                nonce=data["nonce"],
                created=_parse_time(data["created"], "created"),
                expires=_parse_time(data["expires"], "expires"),
                payload=data.get("payload", {}),
                snoozed_until=None
                if data.get("snoozed_until") is None
                else _parse_time(data["snoozed_until"], "snoozed_until"),
            )
        except KeyError as err:
            raise ApprovalError(f"a pending item lacks {err}") from None


class ClaimOutcome(StrEnum):
    """What became of a claim."""

    OK = "ok"
    """The first valid claim: the item is the caller's to act on."""
    ALREADY_DONE = "already_done"
    """The item was claimed (or withdrawn) before: do nothing."""
    WRONG_NONCE = "wrong_nonce"
    """The nonce does not match: do nothing; the item still waits."""
    UNKNOWN = "unknown"
    """No such item is waiting or remembered."""
    EXPIRED = "expired"
    """It expired (or was dropped to keep the book small): do nothing."""


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """A claim's outcome, and the item when the caller is the one to handle it.

    `item` is set for OK (act on it) and for the one EXPIRED answer that took it out of the
    book (mark its record expired); every other answer carries None.
    """

    outcome: ClaimOutcome
    item: PendingItem | None = None

    @property
    def ok(self) -> bool:
        """True when the caller won the claim and must act on the item."""
        return self.outcome is ClaimOutcome.OK


@dataclass(frozen=True, slots=True)
class _Resolved:
    nonce: str
    outcome: ClaimOutcome
    at: datetime


class ApprovalBook:
    """The pending items, and a bounded memory of the resolved ones."""

    __slots__ = ("_items", "_max_pending", "_resolved")

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        """Start empty; keep at most `max_pending` items waiting."""
        if not isinstance(max_pending, int) or max_pending < 1:
            raise ApprovalError(f"max_pending is a positive int, got {max_pending!r}")
        self._max_pending = max_pending
        self._items: dict[tuple[str, PendingKind], PendingItem] = {}
        self._resolved: OrderedDict[tuple[str, PendingKind], _Resolved] = OrderedDict()

    def __len__(self) -> int:
        """How many items wait."""
        return len(self._items)

    def add(self, item: PendingItem) -> list[PendingItem]:
        """Start waiting for `item`; return what it pushed out (to mark as expired).

        An item already waiting for the same record and kind is never replaced: that is
        refused (`ApprovalError`), so an answer meant for one request cannot run another.
        When the book is full the oldest items are dropped (and returned).
        """
        if not isinstance(item, PendingItem):
            raise ApprovalError(f"the book keeps PendingItems, got {item!r}")
        if item.key in self._items:
            raise ApprovalError(
                f"a {item.kind} for {item.record_id} is already waiting; not replaced"
            )
        dropped: list[PendingItem] = []
        self._resolved.pop(item.key, None)
        self._items[item.key] = item
        while len(self._items) > self._max_pending:
            oldest = min(self._items.values(), key=lambda pending: pending.created)
            del self._items[oldest.key]
            self._remember(oldest, ClaimOutcome.EXPIRED, item.created)
            dropped.append(oldest)
        if dropped:
            _LOGGER.debug("Pending items pushed out: %s", [p.key for p in dropped])
        return dropped

    def claim(
        self, record_id: str, kind: str, nonce: str | None, now: datetime
    ) -> ClaimResult:
        """Take the item waiting for `record_id` and `kind`, at most once.

        `nonce` is the one the phone action carried; None skips the check, for a caller
        Home Assistant already authenticated (the `pai.approve` action, not a phone).
        """
        checked = _kind(kind)
        _check_aware(now, "now")
        if not _is_text(record_id) or not (nonce is None or _is_text(nonce)):
            return ClaimResult(ClaimOutcome.UNKNOWN)  # junk from a service call
        key = (record_id, checked)
        if (item := self._items.get(key)) is not None:
            if nonce is not None and not _same(item.nonce, nonce):
                return ClaimResult(ClaimOutcome.WRONG_NONCE)
            del self._items[key]
            if item.is_expired(now):
                self._remember(item, ClaimOutcome.EXPIRED, now)
                return ClaimResult(ClaimOutcome.EXPIRED, item)
            self._remember(item, ClaimOutcome.ALREADY_DONE, now)
            return ClaimResult(ClaimOutcome.OK, item)
        if (resolved := self._resolved.get(key)) is not None:
            if nonce is not None and not _same(resolved.nonce, nonce):
                return ClaimResult(ClaimOutcome.WRONG_NONCE)
            return ClaimResult(resolved.outcome)
        return ClaimResult(ClaimOutcome.UNKNOWN)

    def snooze(
        self,
        record_id: str,
        kind: str,
        nonce: str | None,
        until: datetime,
        now: datetime,
    ) -> ClaimResult:
        """Ask again at `until`: the item keeps waiting (same nonce), nobody claims it.

        The expiry moves so the item, asked again, has the answer window it had when it
        was first asked. OK carries the snoozed item; any other outcome changes nothing
        (an unknown, done or expired item, a wrong nonce). A snooze is refused
        (`ApprovalError`) unless `until` is after `now` and at most `MAX_SNOOZE` away.
        """
        checked = _kind(kind)
        _check_aware(now, "now")
        _check_aware(until, "until")
        if not now < until <= now + MAX_SNOOZE:
            raise ApprovalError(
                f"a snooze ends after now and within {MAX_SNOOZE}, got {until}"
            )
        if not _is_text(record_id) or not (nonce is None or _is_text(nonce)):
            return ClaimResult(ClaimOutcome.UNKNOWN)
        item = self._items.get((record_id, checked))
        if item is None:
            return self.claim(
                record_id, checked, nonce, now
            )  # says why, changes nothing
        if nonce is not None and not _same(item.nonce, nonce):
            return ClaimResult(ClaimOutcome.WRONG_NONCE)
        if item.is_expired(now):
            return self.claim(record_id, checked, nonce, now)  # takes it out, expired
        window = item.expires - item.created
        snoozed = replace(
            item, snoozed_until=until, expires=max(item.expires, until + window)
        )
        self._items[item.key] = snoozed
        return ClaimResult(ClaimOutcome.OK, snoozed)

    def wake(self, now: datetime) -> list[PendingItem]:
        """Return the snoozed items due again at `now`, no longer snoozed, oldest first."""
        _check_aware(now, "now")
        due = [
            item
            for item in self._items.values()
            if item.snoozed_until is not None and item.snoozed_until <= now
        ]
        woken = []
        for item in sorted(due, key=lambda pending: pending.created):
            self._items[item.key] = replace(item, snoozed_until=None)
            woken.append(self._items[item.key])
        return woken

    def expire(self, now: datetime) -> list[PendingItem]:
        """Take out and return every item expired at `now`; forget old resolutions."""
        _check_aware(now, "now")
        expired = [item for item in self._items.values() if item.is_expired(now)]
        for item in expired:
            del self._items[item.key]
            self._remember(item, ClaimOutcome.EXPIRED, now)
        horizon = now - RESOLVED_KEPT_FOR
        for key in [k for k, r in self._resolved.items() if r.at < horizon]:
            del self._resolved[key]
        return expired

    def pending(self, kind: str | None = None) -> list[PendingItem]:
        """List the waiting items (of one kind, or all), oldest first."""
        if kind is not None:
            _kind(kind)
        items = [i for i in self._items.values() if kind is None or i.kind == kind]
        return sorted(items, key=lambda item: item.created)

    def get(self, record_id: str, kind: str) -> PendingItem | None:
        """Look at the item waiting for `record_id` and `kind`, without claiming it."""
        return self._items.get((record_id, _kind(kind)))

    def _remember(
        self, item: PendingItem, outcome: ClaimOutcome, now: datetime
    ) -> None:
        self._note(item.key, _Resolved(item.nonce, outcome, now))

    def _note(self, key: tuple[str, PendingKind], resolved: _Resolved) -> None:
        self._resolved.pop(key, None)  # newest last, so the oldest is forgotten first
        self._resolved[key] = resolved
        while len(self._resolved) > MAX_RESOLVED:
            self._resolved.popitem(last=False)

    # Storage

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy of the book, for Home Assistant's `Store`."""
        return {
            "version": BOOK_VERSION,
            "pending": [item.to_dict() for item in self.pending()],
            "resolved": [
                {
                    "record_id": record_id,
                    "kind": kind,
                    "nonce": resolved.nonce,
                    "outcome": str(resolved.outcome),
                    "at": resolved.at.isoformat(),
                }
                for (record_id, kind), resolved in self._resolved.items()
            ],
        }

    @classmethod
    def from_dict(cls, data: object, max_pending: int = MAX_PENDING) -> ApprovalBook:
        """Read what `to_dict` wrote, keeping what is readable; never raises."""
        book = cls(max_pending)
        if not isinstance(data, Mapping):
            _LOGGER.debug("Approval book ignored: not a mapping: %r", data)
            return book
        for entry in _as_list(data.get("resolved")):
            try:
                book._load_resolved(entry)
            except ApprovalError as err:
                _LOGGER.debug("Resolved entry skipped (%s): %r", err, entry)
        for entry in _as_list(data.get("pending")):
            try:
                item = PendingItem.from_dict(entry)
            except ApprovalError as err:
                _LOGGER.debug("Pending entry skipped (%s): %r", err, entry)
                continue
            if item.key in book._resolved or item.key in book._items:
                _LOGGER.debug("Pending entry skipped (resolved or twice): %r", entry)
                continue
            book.add(item)
        return book

    def _load_resolved(self, entry: object) -> None:
        if not isinstance(entry, Mapping):
            raise ApprovalError("not a mapping")
        record_id, kind, nonce = (
            entry.get("record_id"),
            entry.get("kind"),
            entry.get("nonce"),
        )
        _check_record_id(record_id)
        checked = _kind(kind)
        _check_nonce(nonce)
        try:
            outcome = ClaimOutcome(str(entry.get("outcome")))
        except ValueError:
            raise ApprovalError("unknown outcome") from None
        if outcome not in (ClaimOutcome.ALREADY_DONE, ClaimOutcome.EXPIRED):
            raise ApprovalError(f"a resolution is done or expired, not {outcome}")
        at = _parse_time(entry.get("at"), "at")
        key = (cast(str, record_id), checked)
        self._note(key, _Resolved(cast(str, nonce), outcome, at))


def _is_text(value: object) -> bool:
    return isinstance(value, str)


def _same(expected: str, given: str) -> bool:
    """Constant-time comparison (bytes, so non-ASCII input cannot raise)."""
    return hmac.compare_digest(expected.encode(), given.encode())


def _as_list(value: object) -> list[object]:
    if isinstance(value, list):
        return value
    if value is not None:
        _LOGGER.debug("Approval book list ignored: %r", value)
    return []


def _check_record_id(record_id: object) -> None:
    if not isinstance(record_id, str) or not _RECORD_ID_RE.fullmatch(record_id):
        raise ApprovalError(
            f"a record id looks like paid_YYYYMMDD_<16 hex digits>, got {record_id!r}"
        )


def _check_nonce(nonce: object) -> None:
    if not isinstance(nonce, str) or not _NONCE_RE.fullmatch(nonce):
        raise ApprovalError(f"a nonce is 16 to 64 lowercase hex digits, got {nonce!r}")


def _kind(kind: object) -> PendingKind:
    if kind in KINDS:
        return kind  # narrowed by the membership test
    raise ApprovalError(f"a pending item is an approval or an undo, not {kind!r}")


def _check_aware(moment: object, name: str) -> None:
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ApprovalError(f"{name} is a timezone-aware datetime, got {moment!r}")


def _parse_time(value: object, name: str) -> datetime:
    if not isinstance(value, str):
        raise ApprovalError(f"{name} is an ISO 8601 string, got {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ApprovalError(f"{name} is not an ISO 8601 time: {value!r}") from None
    _check_aware(moment, name)
    return moment
