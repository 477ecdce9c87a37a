"""The gate's memory, as plain data the host persists, so that a restart forgets nothing.

The gate (`gate.decide`) keeps no counters: the host tells it how often the user was
interrupted in the last hour and how often each action was declined. paigent kept both in
memory (lost on restart, so a restart reset the hourly cap) and never counted what it did
silently. This ledger holds the times of the interruptions (granted SUGGEST and ASK), of
the silent actions (granted ACT: kept for the user to see, never counted against the hourly
cap, as in paigent) and of each action's declines, answers the gate's `GateInputs`, and
turns into JSON (ISO 8601 times) for Home Assistant's `Store`.

A stored file can be damaged or hand-edited: `from_dict` keeps what it can read and drops
the rest (logged at debug), it never raises. Times are kept in UTC and sorted, so windows
are exact across timezones and daylight-saving changes, and every list is bounded.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
import logging
from typing import Any

from .gate import INTERRUPTION_WINDOW
from .models import AutonomyLevel, Decision, GateInputs, Policy

_LOGGER = logging.getLogger(__name__)

LEDGER_VERSION = 1
"""The `version` key of `to_dict`; `from_dict` reads what it can of any version."""

MIN_KEPT = 1000
"""Each list keeps at least this many newest times (more if the hourly cap is larger)."""

_SKIPPED_EXAMPLES = 3


class LedgerError(ValueError):
    """The host passed the ledger something it cannot record (a naive time, no action)."""


class GovernanceLedger:
    """Interruptions, silent actions and declines, as UTC times, oldest first."""

    __slots__ = ("_acts", "_declines", "_interruptions", "_kept")

    def __init__(self) -> None:
        """Start empty: nothing interrupted, done or declined yet."""
        self._interruptions: list[datetime] = []
        self._acts: list[datetime] = []
        self._declines: dict[str, list[datetime]] = {}
        self._kept = MIN_KEPT

    # Recording

    def record(self, decision: Decision, now: datetime) -> None:
        """Remember a decision made at `now`: SUGGEST/ASK interrupted, ACT acted silently."""
        if not isinstance(decision, Decision):
            raise LedgerError(f"the ledger records a Decision, got {decision!r}")
        moment = _utc(now, "now")
        if decision.interrupts:
            self._add(self._interruptions, moment)
        elif decision.granted == AutonomyLevel.ACT:
            self._add(self._acts, moment)

    def record_decline(self, action: str, now: datetime) -> None:
        """Remember that the user declined `action` at `now` (a rejected ASK or nudge)."""
        if not isinstance(action, str) or not action:
            raise LedgerError(f"a decline needs the action's name, got {action!r}")
        self._add(self._declines.setdefault(action, []), _utc(now, "now"))

    def _add(self, times: list[datetime], moment: datetime) -> None:
        insort(times, moment)  # usually an append; a clock set back lands it in place
        if len(times) > self._kept:
            del times[: len(times) - self._kept]

    # What the gate and the user see

    def inputs(
        self, now: datetime, policy: Policy, interruption_cost: float = 0.3
    ) -> GateInputs:
        """Answer the gate's inputs at `now`: the last hour's interruptions, declines.

        A decline counts while it is at most `policy.decline_window_hours` old (as in
        paigent); later times count too, since clocks can be set back.
        """
        return GateInputs(
            now=now,
            interruption_cost=interruption_cost,
            recent_interruptions=self._recent_interruptions(_utc(now, "now")),
            recent_declines=self.declines_counted(now, policy),
        )

    def declines_counted(self, now: datetime, policy: Policy) -> dict[str, int]:
        """Count the declines per action that still count at `now` (see `inputs`)."""
        moment = _utc(now, "now")
        if not isinstance(policy, Policy):
            raise LedgerError(f"the ledger needs the agent's Policy, got {policy!r}")
        if not self._declines:
            return {}
        window = _decline_window(policy)
        declines: dict[str, int] = {}
        for action, times in self._declines.items():
            count = len(times) - _declined_within(times, moment, window)
            if count:
                declines[action] = count
        return declines

    def interruptions_last_hour(self, now: datetime) -> int:
        """How often the user was interrupted in the hour before `now` (for a sensor)."""
        return len(self._recent_interruptions(_utc(now, "now")))

    def _recent_interruptions(self, moment: datetime) -> tuple[datetime, ...]:
        # Less than an hour old, as the gate counts them (`now - time < 1 h`).
        times = self._interruptions
        return tuple(times[_within_the_hour(times, moment) :])

    @property
    def interruptions(self) -> tuple[datetime, ...]:
        """Every interruption still kept, oldest first."""
        return tuple(self._interruptions)

    @property
    def silent_acts(self) -> tuple[datetime, ...]:
        """Every silent action still kept, oldest first."""
        return tuple(self._acts)

    @property
    def declines(self) -> dict[str, tuple[datetime, ...]]:
        """Each declined action's times still kept, oldest first."""
        return {action: tuple(times) for action, times in self._declines.items()}

    # Keeping it small

    def prune(self, now: datetime, policy: Policy) -> None:
        """Forget what no window can need any more, and keep every list bounded.

        Interruptions and silent actions are kept for an hour, declines for the policy's
        decline window; at most max(1000, 10 x the hourly cap) newest times per list, and
        as many declined actions (those declined last are kept).
        """
        moment = _utc(now, "now")
        if not isinstance(policy, Policy):
            raise LedgerError(f"the ledger needs the agent's Policy, got {policy!r}")
        window = _decline_window(policy)
        self._kept = kept = max(MIN_KEPT, 10 * policy.max_interruptions_per_hour)
        self._interruptions = _newest(
            self._interruptions[_within_the_hour(self._interruptions, moment) :], kept
        )
        self._acts = _newest(self._acts[_within_the_hour(self._acts, moment) :], kept)
        declines = {
            action: _newest(times[_declined_within(times, moment, window) :], kept)
            for action, times in self._declines.items()
        }
        latest_first = sorted(
            (action for action, times in declines.items() if times),
            key=lambda action: declines[action][-1],
            reverse=True,
        )
        self._declines = {action: declines[action] for action in latest_first[:kept]}

    # Storage

    def to_dict(self) -> dict[str, Any]:
        """Copy into JSON-ready data: ISO 8601 UTC times, oldest first."""
        return {
            "version": LEDGER_VERSION,
            "interruptions": [moment.isoformat() for moment in self._interruptions],
            "silent_acts": [moment.isoformat() for moment in self._acts],
            "declines": {
                action: [moment.isoformat() for moment in times]
                for action, times in self._declines.items()
            },
        }

    @classmethod
    def from_dict(cls, data: object) -> GovernanceLedger:
        """Read what `to_dict` wrote, keeping what is readable; never raises.

        Anything else (not a mapping, a list that is not a list, a time that is not an
        aware ISO 8601 string, an action that is not a name) is skipped and logged at debug.
        """
        ledger = cls()
        if not isinstance(data, Mapping):
            _LOGGER.debug(
                "Ignoring a stored ledger that is not a mapping: %.200r", data
            )
            return ledger
        version = data.get("version")
        if version != LEDGER_VERSION:
            _LOGGER.debug("Reading a stored ledger of version %.50r", version)
        ledger._interruptions = _read_times(data.get("interruptions"), "interruptions")
        ledger._acts = _read_times(data.get("silent_acts"), "silent_acts")
        stored = data.get("declines")
        if stored is None:
            return ledger
        if not isinstance(stored, Mapping):
            _LOGGER.debug(
                "Ignoring stored declines that are not a mapping: %.200r", stored
            )
            return ledger
        for action, times in stored.items():
            if not isinstance(action, str) or not action:
                _LOGGER.debug("Ignoring declines of a non-action %.100r", action)
                continue
            kept = _read_times(times, f"declines[{action!r}]")
            if kept:
                ledger._declines[action] = kept
        return ledger


def _read_times(value: object, what: str) -> list[datetime]:
    """Read the aware times of a stored list: in UTC, oldest first, the newest MIN_KEPT."""
    if value is None:
        return []
    if not isinstance(value, list):
        _LOGGER.debug("Ignoring stored %s that is not a list: %.200r", what, value)
        return []
    times: list[datetime] = []
    skipped: list[object] = []
    for entry in value:
        moment = _parse(entry)
        if moment is None:
            skipped.append(entry)
        else:
            times.append(moment)
    if skipped:
        _LOGGER.debug(
            "Skipped %d stored %s that are not timezone-aware ISO 8601 times, e.g. %.200r",
            len(skipped),
            what,
            skipped[:_SKIPPED_EXAMPLES],
        )
    times.sort()
    return _newest(times, MIN_KEPT)


def _parse(entry: object) -> datetime | None:
    if not isinstance(entry, str):
        return None
    try:
        moment = datetime.fromisoformat(entry)
        if moment.utcoffset() is None:
            return None
        return moment.astimezone(UTC)
    except ValueError, OverflowError:
        return None


def _newest(times: list[datetime], kept: int) -> list[datetime]:
    return times[-kept:] if len(times) > kept else times


def _within_the_hour(times: list[datetime], moment: datetime) -> int:
    """Index of the first time less than an hour before `moment` (as the gate counts)."""
    try:
        return bisect_right(times, moment - INTERRUPTION_WINDOW)
    except OverflowError:  # an hour before the first time there is: all of them
        return 0


def _declined_within(times: list[datetime], moment: datetime, window: timedelta) -> int:
    """Index of the first time at most `window` before `moment` (as paigent counts)."""
    try:
        return bisect_left(times, moment - window)
    except OverflowError:
        return 0


def _utc(value: object, what: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise LedgerError(f"{what} must be a timezone-aware datetime, got {value!r}")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise LedgerError(f"{what} is out of range in UTC: {value!r}") from None


def _decline_window(policy: Policy) -> timedelta:
    try:
        return timedelta(hours=policy.decline_window_hours)
    except OverflowError:
        return timedelta.max
