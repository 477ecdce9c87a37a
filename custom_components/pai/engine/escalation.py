"""Who is asked next about a pending request, and when: the escalation ladder.

A request first goes to the agent's notify targets. When nobody has answered after the
agent's wait, the next target of its escalation ladder is asked, then the next, one per
wait, until someone answers, the request expires or the ladder is climbed. With presence
on, a target whose person is at home is asked before those whose person is away (the
others keep their order).

The state of one request's escalation is plain data (`to_dict` / `from_dict`) kept with the
pending request, so a restart in the middle continues where it stopped. What is read back
is not trusted: a bad entry raises `EscalationError` and the host drops the escalation, never
the request.

Pure Python, no Home Assistant: `escalation.py` wires it to timers and phones.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

MAX_LADDER = 10
"""The most targets one ladder holds (a stored ladder longer than this is refused)."""
MAX_WAIT_MINUTES = 24 * 60
"""The longest wait between two rungs."""


class EscalationError(ValueError):
    """A stored escalation that cannot be read, or a ladder that cannot be climbed."""


def home_first(ladder: Iterable[str], home: Collection[str]) -> list[str]:
    """Return `ladder` with the targets in `home` first, each part in its own order."""
    targets = list(ladder)
    return [t for t in targets if t in home] + [t for t in targets if t not in home]


@dataclass(frozen=True, slots=True)
class Escalation:
    """The escalation of one pending request: its ladder, who was asked, when next."""

    ladder: tuple[str, ...]
    """The escalation targets, in the order the user set."""
    wait: timedelta
    """How long nobody may answer before the next target is asked."""
    asked: tuple[str, ...] = ()
    """The ladder's targets asked so far, in the order they were asked."""
    next_at: datetime | None = None
    """When the next target is asked; None once the ladder is climbed."""

    def __post_init__(self) -> None:
        """Refuse a ladder that could not be climbed or stored."""
        _check_targets(self.ladder, "ladder")
        _check_targets(self.asked, "asked")
        if len(set(self.ladder)) != len(self.ladder):
            raise EscalationError("the ladder names a target twice")
        if not set(self.asked) <= set(self.ladder):
            raise EscalationError("asked names a target that is not on the ladder")
        if len(set(self.asked)) != len(self.asked):
            raise EscalationError("asked names a target twice")
        if not timedelta(0) < self.wait <= timedelta(minutes=MAX_WAIT_MINUTES):
            raise EscalationError(
                f"the wait is more than 0 and at most {MAX_WAIT_MINUTES} minutes, "
                f"got {self.wait}"
            )
        if self.next_at is not None and self.next_at.utcoffset() is None:
            raise EscalationError("next_at has no time zone")

    @classmethod
    def begin(
        cls, ladder: Iterable[str], wait_minutes: float, now: datetime
    ) -> Escalation | None:
        """Start the escalation of a request asked at `now`; None without a ladder.

        Raises `EscalationError` for a ladder or wait that could not be climbed.
        """
        targets = tuple(dict.fromkeys(ladder))
        if not targets or wait_minutes <= 0:
            return None
        if not wait_minutes <= MAX_WAIT_MINUTES:  # also NaN
            raise EscalationError(
                f"the wait is at most {MAX_WAIT_MINUTES} minutes, got {wait_minutes!r}"
            )
        wait = timedelta(minutes=wait_minutes)
        return cls(targets, wait, next_at=now + wait)

    @property
    def waiting(self) -> tuple[str, ...]:
        """The ladder's targets not asked yet, in the ladder's order."""
        return tuple(t for t in self.ladder if t not in self.asked)

    def is_due(self, now: datetime) -> bool:
        """Whether the next target is to be asked at `now`."""
        return self.next_at is not None and now >= self.next_at

    def step(self, now: datetime, home: Collection[str] = ()) -> tuple[str, Escalation]:
        """Ask the next target (one whose person is at `home` first); return it and after.

        Raises `EscalationError` when nobody is left to ask.
        """
        waiting = home_first(self.waiting, home)
        if not waiting:
            raise EscalationError("everyone on the ladder was asked")
        target = waiting[0]
        left = len(waiting) > 1
        return target, replace(
            self,
            asked=(*self.asked, target),
            next_at=now + self.wait if left else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (ISO 8601 time, the wait in minutes)."""
        return {
            "ladder": list(self.ladder),
            "wait_minutes": self.wait.total_seconds() / 60,
            "asked": list(self.asked),
            "next_at": None if self.next_at is None else self.next_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: object) -> Escalation:
        """Read what `to_dict` wrote, field by field; a bad entry raises EscalationError."""
        if not isinstance(data, Mapping):
            raise EscalationError(
                f"an escalation is a mapping, got {type(data).__name__}"
            )
        wait = data.get("wait_minutes")
        if isinstance(wait, bool) or not isinstance(wait, int | float):
            raise EscalationError(f"wait_minutes is a number, got {wait!r}")
        next_at = data.get("next_at")
        when: datetime | None = None
        if next_at is not None:
            if not isinstance(next_at, str):
                raise EscalationError(f"next_at is a time, got {next_at!r}")
            try:
                when = datetime.fromisoformat(next_at)
            except ValueError as err:
                raise EscalationError(f"next_at is not a time: {next_at!r}") from err
        if not 0 < wait <= MAX_WAIT_MINUTES:  # before timedelta: nan and huge numbers
            raise EscalationError(
                f"the wait is more than 0 and at most {MAX_WAIT_MINUTES} minutes, "
                f"got {wait!r}"
            )
        return cls(
            ladder=_targets(data.get("ladder"), "ladder"),
            wait=timedelta(minutes=wait),
            asked=_targets(data.get("asked", []), "asked"),
            next_at=when,
        )


def _targets(raw: object, name: str) -> tuple[str, ...]:
    if not isinstance(raw, list | tuple):
        raise EscalationError(f"{name} is a list of targets, got {raw!r}")
    return tuple(raw)


def _check_targets(targets: tuple[object, ...], name: str) -> None:
    if len(targets) > MAX_LADDER:
        raise EscalationError(f"{name} holds at most {MAX_LADDER} targets")
    for target in targets:
        if not isinstance(target, str) or not target or len(target) > 255:
            raise EscalationError(f"{name}: {target!r} is not a target name")
