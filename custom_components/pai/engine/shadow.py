"""Shadow versions, pure: what the live and the shadow version chose per event, and a score.

A shadow version decides beside the live one on the same events and delivers nothing. The
host keeps one `Comparison` per event (the live version's choices, each with its record id,
and the shadow's) and the user's answers to the live records (`answer_of`). `report` says
where the two disagree and scores the candidate on how the user answered the live version
in those cases: sparing a request the user declined, undid or let expire scores for it,
skipping one the user approved scores against it; going further than the live version where
the user approved (or accepted a suggestion) scores for it, where the user declined against.

`Tally` and `rollback_reason` judge a promotion: declines and undos per request since the
promotion against the previous version's rate, with a margin. No clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .records import ExecutionStatus, Feedback

MAX_COMPARISONS = 500
"""Comparisons kept (the oldest go first)."""
SHOWN_DISAGREEMENTS = 20
"""Disagreements listed in a report, newest first (all are counted)."""

_RANK = {"none": 0, "record": 0, "unbound": 0, "suggest": 1, "ask": 2, "act": 3}
"""How far a delivery reaches into the user's life: nothing, a nudge, a question, a deed."""

APPROVED = "approved"
DECLINED = "declined"
UNDONE = "undone"
REJECTED = "rejected"
IGNORED = "ignored"
NEGATIVE = frozenset({DECLINED, UNDONE, REJECTED, IGNORED})
"""Answers that say the live version should not have reached the user."""


@dataclass(frozen=True, slots=True)
class Choice:
    """One decision of one version: its action, how it is delivered, its record."""

    action: str
    delivery: str
    record_id: str = ""

    def to_dict(self) -> dict[str, str]:
        """Return the stored form."""
        return {
            "action": self.action,
            "delivery": self.delivery,
            "record_id": self.record_id,
        }

    @classmethod
    def from_dict(cls, raw: object) -> Choice | None:
        """Read a stored choice; None for anything malformed."""
        if not isinstance(raw, Mapping):
            return None
        action, delivery, record_id = (
            raw.get("action"),
            raw.get("delivery"),
            raw.get("record_id", ""),
        )
        if (
            not isinstance(action, str)
            or delivery not in _RANK
            or not isinstance(record_id, str)
        ):
            return None
        return cls(action, str(delivery), record_id)


@dataclass(slots=True)
class Comparison:
    """One event, decided by both versions."""

    event_id: str
    time: str
    kind: str
    live: list[Choice] = field(default_factory=list)
    shadow: list[Choice] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the stored form."""
        return {
            "event_id": self.event_id,
            "time": self.time,
            "kind": self.kind,
            "live": [choice.to_dict() for choice in self.live],
            "shadow": [choice.to_dict() for choice in self.shadow],
        }

    @classmethod
    def from_dict(cls, raw: object) -> Comparison | None:
        """Read a stored comparison; None for anything malformed."""
        if not isinstance(raw, Mapping):
            return None
        texts = [raw.get(key) for key in ("event_id", "time", "kind")]
        live, shadow = raw.get("live"), raw.get("shadow")
        if not all(isinstance(text, str) for text in texts) or not (
            isinstance(live, list) and isinstance(shadow, list)
        ):
            return None
        return cls(
            str(texts[0]),
            str(texts[1]),
            str(texts[2]),
            [c for c in map(Choice.from_dict, live) if c is not None],
            [c for c in map(Choice.from_dict, shadow) if c is not None],
        )


def read_comparisons(raw: object) -> list[Comparison]:
    """Read stored comparisons, dropping what is malformed (the newest MAX kept)."""
    if not isinstance(raw, list):
        return []
    read = [c for c in map(Comparison.from_dict, raw) if c is not None]
    return read[-MAX_COMPARISONS:]


def answer_of(status: str, feedback: str) -> str | None:
    """Return the user's answer to a live record (status, feedback); None: none yet."""
    if status == ExecutionStatus.DECLINED:
        return DECLINED
    if status == ExecutionStatus.UNDONE:
        return UNDONE
    if status == ExecutionStatus.EXPIRED or feedback == Feedback.IGNORED:
        return IGNORED
    if feedback == Feedback.REJECTED:
        return REJECTED
    if feedback == Feedback.ACCEPTED:
        return APPROVED
    return None


def _by_action(choices: Iterable[Choice]) -> dict[str, Choice]:
    """Return the furthest-reaching choice per action."""
    found: dict[str, Choice] = {}
    for choice in choices:
        held = found.get(choice.action)
        if held is None or _RANK[choice.delivery] > _RANK[held.delivery]:
            found[choice.action] = choice
    return found


def _judge(live: Choice | None, shadow: Choice | None, answer: str | None) -> str:
    """Judge the candidate on one disagreement (see the module's docstring)."""
    live_rank = _RANK[live.delivery] if live else 0
    shadow_rank = _RANK[shadow.delivery] if shadow else 0
    if answer is None or shadow_rank == live_rank:
        return "unanswered"
    if shadow_rank < live_rank:
        return "spared" if answer in NEGATIVE else "missed"
    return "asked_where_approved" if answer == APPROVED else "asked_where_declined"


_SCORES = {
    "spared": 1,
    "asked_where_approved": 1,
    "missed": -1,
    "asked_where_declined": -1,
    "unanswered": 0,
}


def report(
    comparisons: Iterable[Comparison], answers: Mapping[str, str]
) -> dict[str, Any]:
    """Where the versions disagree, how the user answered there, and the candidate's score.

    `answers`: the user's answer (`answer_of`) per live record id.
    """
    counts = dict.fromkeys(_SCORES, 0)
    events = agreed = 0
    listed: list[dict[str, Any]] = []
    for comparison in comparisons:
        events += 1
        live, shadow = _by_action(comparison.live), _by_action(comparison.shadow)
        differ = False
        for action in sorted(live.keys() | shadow.keys()):
            mine, theirs = live.get(action), shadow.get(action)
            live_delivery = mine.delivery if mine else "none"
            shadow_delivery = theirs.delivery if theirs else "none"
            if _RANK[live_delivery] == _RANK[shadow_delivery]:
                continue
            differ = True
            answer = answers.get(mine.record_id) if mine and mine.record_id else None
            verdict = _judge(mine, theirs, answer)
            counts[verdict] += 1
            listed.append(
                {
                    "time": comparison.time,
                    "event": comparison.kind,
                    "action": action,
                    "live": live_delivery,
                    "shadow": shadow_delivery,
                    "live_record_id": mine.record_id if mine else None,
                    "answer": answer,
                    "verdict": verdict,
                }
            )
        agreed += not differ
    score = sum(_SCORES[name] * count for name, count in counts.items())
    judged = events - agreed and sum(
        count for name, count in counts.items() if name != "unanswered"
    )
    return {
        "events": events,
        "agreed": agreed,
        "disagreed": events - agreed,
        **counts,
        "score": score,
        "verdict": (
            "no_evidence"
            if not judged
            else "better"
            if score > 0
            else "worse"
            if score < 0
            else "even"
        ),
        "disagreements": list(reversed(listed))[:SHOWN_DISAGREEMENTS],
    }


@dataclass(slots=True)
class Tally:
    """Requests (ASK, or ACT done) and how many of them the user declined or undid."""

    requests: int = 0
    negatives: int = 0

    @property
    def rate(self) -> float:
        """Declines and undos per request; 0 without requests."""
        return self.negatives / self.requests if self.requests else 0.0

    def to_dict(self) -> dict[str, int]:
        """Return the stored form."""
        return {"requests": self.requests, "negatives": self.negatives}

    @classmethod
    def from_dict(cls, raw: object) -> Tally:
        """Read a stored tally; what is malformed reads as zero."""
        if not isinstance(raw, Mapping):
            return cls()

        def count(key: str) -> int:
            value = raw.get(key)
            return value if type(value) is int and value >= 0 else 0

        return cls(count("requests"), min(count("negatives"), count("requests")))


def rollback_reason(
    before: Tally, since: Tally, margin: float, min_requests: int
) -> str | None:
    """Why the promoted version should be rolled back, or None while it does well enough.

    Rolled back when, over at least `min_requests` requests, its rate of declines and undos
    exceeds the previous version's by more than `margin` (a fraction: 0.2 is 20 points).
    """
    if since.requests < min_requests or since.rate <= before.rate + margin:
        return None
    return (
        f"{since.negatives} of {since.requests} requests were declined or undone "
        f"since the promotion ({since.rate:.0%}), against {before.rate:.0%} "
        f"for the previous version ({before.negatives} of {before.requests}); "
        f"the margin is {margin:.0%}"
    )
