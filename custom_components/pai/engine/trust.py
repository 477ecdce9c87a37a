"""Autonomy earned with consent: each action's trust record and the ladder's rule, pure.

paigent only ever lowers a level (after declines); raising one is left to the user, by hand.
Here an action the agent may only ASK about earns the right to be asked about once: when the
user approved it `streak` times in a row over at least `days` days, with no decline, undo or
failure in between, the host asks "May I do X on my own from now on?" (itself an ASK).
Approved, the action's cap rises to ACT in the entry's options (the user sees it under
Configure and can lower it again); declined or left unanswered, it is not asked again for
30 days. Any undo, decline or failure of an action that earned ACT drops it back to ASK at
once, and says why.

The book is plain data the host persists with the agent's memory (`to_dict` / `from_dict`,
which never raises on a damaged file: it keeps what it can read). The host decides whether
an action is eligible at all (`eligible`): never a security-sensitive action, never above
the user's ceiling, never an action outside the allowlist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
import logging
from typing import Any

from .gate import highest_level
from .models import AutonomyLevel, Policy, ReasonCode, SurvivalPolicy

_LOGGER = logging.getLogger(__name__)

TRUST_VERSION = 1
DEFAULT_STREAK = 10
"""Approvals in a row before PAI asks to act alone (0: never asks)."""
DEFAULT_DAYS = 3
"""Days the streak must span, at least."""
REFUSED_FOR = timedelta(days=30)
"""After a declined (or unanswered) consent request, not asked again for this long."""
MAX_ACTIONS = 500
"""At most this many actions are kept (those with the latest outcome)."""
MAX_STREAK = 1000
MAX_DAYS = 365


class Outcome(StrEnum):
    """What became of one decision about an action, as the trust record counts it."""

    APPROVED = "approved"
    """An ASK the user approved and that ran."""
    DECLINED = "declined"
    """An ASK declined, or a decision the user rejected."""
    UNDONE = "undone"
    """Something it did, undone by the user."""
    EXPIRED = "expired"
    """An ASK nobody answered: counted, neither for nor against."""
    FAILED = "failed"
    """It ran (approved, or on its own) and failed."""
    ACTED = "acted"
    """It ran on its own (ACT) and did not fail."""


BREAKS_TRUST = frozenset({Outcome.DECLINED, Outcome.UNDONE, Outcome.FAILED})
"""Outcomes that end a streak and drop an earned ACT back to ASK."""


class TrustError(ValueError):
    """The host passed something the book cannot keep (a naive time, a nameless action)."""


@dataclass(frozen=True, slots=True)
class Ladder:
    """When an action has earned the question: `streak` approvals over `days` days."""

    streak: int = DEFAULT_STREAK
    days: int = DEFAULT_DAYS

    def __post_init__(self) -> None:
        """Refuse counts that are not whole numbers in range."""
        for name, top in (("streak", MAX_STREAK), ("days", MAX_DAYS)):
            value = getattr(self, name)
            if (
                not isinstance(value, int)
                or isinstance(value, bool)
                or not 0 <= value <= top
            ):
                raise TrustError(
                    f"ladder: {name} is a whole number 0..{top}, got {value!r}"
                )

    @property
    def off(self) -> bool:
        """A streak of 0: PAI never asks."""
        return self.streak == 0


@dataclass(slots=True)
class TrustRecord:
    """One action's record: what the user made of it over time, and where it stands."""

    approvals: int = 0
    declines: int = 0
    undos: int = 0
    expiries: int = 0
    failures: int = 0
    acts: int = 0
    streak: int = 0
    """Approvals since the last decline, undo or failure."""
    streak_since: datetime | None = None
    """When the first approval of the streak was given."""
    last: datetime | None = None
    """When the latest outcome was noted."""
    asked: str | None = None
    """The record id of the consent request waiting for an answer."""
    refused_until: datetime | None = None
    """A consent request was declined or unanswered: not asked again before this."""
    earned: datetime | None = None
    """When the user let it act alone (None: it has not earned ACT, or lost it)."""
    promotions: int = 0
    demotions: int = 0
    last_change: str = ""
    """The latest promotion's or demotion's reason, in words."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (ISO 8601 times); also what the entities and diagnostics show."""
        return {
            "approvals": self.approvals,
            "declines": self.declines,
            "undos": self.undos,
            "expiries": self.expiries,
            "failures": self.failures,
            "acts": self.acts,
            "streak": self.streak,
            "streak_since": _iso(self.streak_since),
            "last": _iso(self.last),
            "asked": self.asked,
            "refused_until": _iso(self.refused_until),
            "earned": _iso(self.earned),
            "promotions": self.promotions,
            "demotions": self.demotions,
            "last_change": self.last_change,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrustRecord:
        """Read what `to_dict` wrote; a field that cannot be read keeps its default."""
        record = cls()
        for name in (
            "approvals",
            "declines",
            "undos",
            "expiries",
            "failures",
            "acts",
            "streak",
            "promotions",
            "demotions",
        ):
            value = data.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                setattr(record, name, value)
        for name in ("streak_since", "last", "refused_until", "earned"):
            setattr(record, name, _parse(data.get(name)))
        asked = data.get("asked")
        record.asked = asked if isinstance(asked, str) and asked else None
        change = data.get("last_change")
        record.last_change = change[:500] if isinstance(change, str) else ""
        if record.streak and record.streak_since is None:
            record.streak = 0  # a streak without its start cannot be judged
        return record


@dataclass(frozen=True, slots=True)
class Demotion:
    """An action that had earned ACT lost it: back to ASK, and why."""

    action: str
    outcome: Outcome
    why: str


def eligible(action: str, policy: Policy, survival: SurvivalPolicy) -> str | None:
    """Why `action` can never earn ACT now, or None when raising its cap would let it act.

    It must be capped at ASK by the agent's policy (its own cap or the default), and with
    that cap at ACT the user's limits must still allow ACT: in the allowlist, not
    security-sensitive (even when the user lifted it: that is the user's call alone),
    under a ceiling of ACT.
    """
    allowed = survival.allowed_actions
    if allowed is not None and action not in allowed:
        return "it is not in the allowed actions"
    if action in survival.sensitive_actions:
        return "it is security-sensitive"  # lifted or not: the user decides that alone
    if survival.ceiling < AutonomyLevel.ACT:
        return "the autonomy ceiling is below act"
    cap = policy.action_max_levels.get(action, policy.default_max_level)
    if cap != AutonomyLevel.ASK:
        return f"its cap is {cap.name.lower()}, not ask"
    raised = replace(
        policy,
        action_max_levels={**policy.action_max_levels, action: AutonomyLevel.ACT},
    )
    if highest_level(action, raised, survival) != AutonomyLevel.ACT:
        return "the user's limits keep it below act"
    return None


def earnable(
    requested: int | None, granted: int | None, reason_codes: list[str]
) -> bool:
    """Whether an ASK was an ACT that only the action's cap held back.

    Raising the cap would let the next such decision act; an ASK the brain asked for
    itself, or one held back for low confidence, quiet hours or the user's limits, would
    stay an ASK, so it does not lead to the question.
    """
    return (
        requested == AutonomyLevel.ACT
        and granted == AutonomyLevel.ASK
        and bool(reason_codes)
        and all(code == ReasonCode.ACTION_CAP for code in reason_codes)
    )


def outcome_of(status: str, feedback: str, granted: int | None) -> Outcome | None:
    """Read what a record's final state says about its action; None: nothing to count.

    `status`, `feedback` and `granted` are the record's (`RecordView`).
    """
    if status == "undone":
        return Outcome.UNDONE
    if status == "declined" or feedback == "rejected":
        return Outcome.DECLINED
    if status == "failed":
        return Outcome.FAILED
    if status == "expired":
        return Outcome.EXPIRED
    if status == "executed" and granted == AutonomyLevel.ACT:
        return Outcome.ACTED
    if status == "executed" and granted == AutonomyLevel.ASK and feedback == "accepted":
        return Outcome.APPROVED
    return None


class TrustBook:
    """Every action's trust record, and the ladder's rule."""

    __slots__ = ("_records",)

    def __init__(self) -> None:
        """Start empty: nothing earned, nothing asked."""
        self._records: dict[str, TrustRecord] = {}

    def __len__(self) -> int:
        """How many actions have a record."""
        return len(self._records)

    def get(self, action: str) -> TrustRecord | None:
        """Return the record of `action`, if it has one (the caller must not change it)."""
        return self._records.get(action)

    def _record(self, action: str) -> TrustRecord:
        if not isinstance(action, str) or not action:
            raise TrustError(f"a trust record needs the action's name, got {action!r}")
        record = self._records.get(action)
        if record is None:
            record = self._records[action] = TrustRecord()
            if len(self._records) > MAX_ACTIONS:
                oldest = min(
                    (name for name in self._records if name != action),
                    key=lambda name: self._records[name].last or _EPOCH,
                )
                del self._records[oldest]
        return record

    def note(self, action: str, outcome: Outcome, now: datetime) -> Demotion | None:
        """Count one outcome at `now`; return the demotion it causes, if any."""
        moment = _utc(now)
        record = self._record(action)
        record.last = moment
        if outcome is Outcome.APPROVED:
            record.approvals += 1
            if record.streak == 0:
                record.streak_since = moment
            record.streak += 1
        elif outcome is Outcome.EXPIRED:
            record.expiries += 1
        elif outcome is Outcome.ACTED:
            record.acts += 1
        else:
            if outcome is Outcome.DECLINED:
                record.declines += 1
            elif outcome is Outcome.UNDONE:
                record.undos += 1
            else:
                record.failures += 1
            record.streak = 0
            record.streak_since = None
            if record.earned is not None:
                why = _DEMOTED_BECAUSE[outcome].format(action=action)
                record.earned = None
                record.demotions += 1
                record.last_change = why
                return Demotion(action, outcome, why)
        return None

    def due(self, action: str, now: datetime, ladder: Ladder) -> bool:
        """Whether to ask now if `action` may act alone (the host checked `eligible`)."""
        record = self._records.get(action)
        moment = _utc(now)
        if record is None or ladder.off or record.earned is not None or record.asked:
            return False
        if record.refused_until is not None and moment < record.refused_until:
            return False
        return (
            record.streak >= ladder.streak
            and record.streak_since is not None
            and moment - record.streak_since >= timedelta(days=ladder.days)
        )

    def asking(self, action: str, record_id: str) -> None:
        """Mark the consent request `record_id` as out: not asked again while it waits."""
        self._record(action).asked = record_id

    def consented(self, action: str, now: datetime, why: str) -> None:
        """Mark `action` as let act alone by the user from `now`."""
        record = self._record(action)
        record.asked = None
        record.refused_until = None
        record.earned = _utc(now)
        record.promotions += 1
        record.last_change = why

    def refused(self, action: str, now: datetime) -> datetime:
        """Note a consent request declined or left unanswered; return until when."""
        record = self._record(action)
        record.asked = None
        record.refused_until = until = _utc(now) + REFUSED_FOR
        return until

    def questions(self) -> dict[str, str]:
        """Return the consent requests waiting for an answer: action -> record id."""
        return {a: r.asked for a, r in self._records.items() if r.asked is not None}

    def unasked(self, action: str) -> None:
        """Forget a consent request that no longer waits (its approval was lost)."""
        if (record := self._records.get(action)) is not None:
            record.asked = None

    def revoked(self, action: str, why: str) -> None:
        """Note an earned cap lowered by hand: the action must earn the question again."""
        record = self._record(action)
        record.earned = None
        record.streak = 0
        record.streak_since = None
        record.demotions += 1
        record.last_change = why

    def earned(self) -> list[str]:
        """List the actions that earned ACT and hold it."""
        return sorted(a for a, record in self._records.items() if record.earned)

    def summary(self) -> dict[str, dict[str, Any]]:
        """Every record, JSON-ready, by action (for attributes and diagnostics)."""
        return {
            action: self._records[action].to_dict() for action in sorted(self._records)
        }

    # Storage

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy of the book, for Home Assistant's `Store`."""
        return {"version": TRUST_VERSION, "actions": self.summary()}

    @classmethod
    def from_dict(cls, data: object) -> tuple[TrustBook, list[str]]:
        """Read what `to_dict` wrote; never raises. Return the book and what was dropped."""
        book = cls()
        problems: list[str] = []
        if data is None:
            return book, problems
        actions = data.get("actions") if isinstance(data, Mapping) else None
        if not isinstance(actions, Mapping):
            problems.append("the trust records are not an object: started afresh")
            return book, problems
        for action, raw in actions.items():
            if (
                not isinstance(action, str)
                or not action
                or not isinstance(raw, Mapping)
            ):
                problems.append(
                    f"the trust record of {str(action)[:80]!r} is not readable: dropped"
                )
                continue
            book._records[action] = TrustRecord.from_dict(raw)
        if len(book._records) > MAX_ACTIONS:
            latest = sorted(
                book._records,
                key=lambda name: book._records[name].last or _EPOCH,
                reverse=True,
            )[:MAX_ACTIONS]
            book._records = {name: book._records[name] for name in latest}
        return book, problems


_DEMOTED_BECAUSE = {
    Outcome.DECLINED: "{action} was declined, so it asks first again",
    Outcome.UNDONE: "{action} was undone, so it asks first again",
    Outcome.FAILED: "{action} failed, so it asks first again",
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(value: object) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise TrustError(f"a trust record's time is timezone-aware, got {value!r}")
    return value.astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _parse(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
        if moment.utcoffset() is None:
            return None
        return moment.astimezone(UTC)
    except ValueError, OverflowError:
        return None
