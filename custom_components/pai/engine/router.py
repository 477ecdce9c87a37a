"""The brain router: rules first, an LLM only when it is worth it, rules again when it fails.

Two tiers, as in the seed's design: the rules judge every event; an LLM brain is woken only
for events a rule marks `escalate` (or a trigger configured to escalate). The chain of LLM
brains is tried in order, each one skipped when

- the event carries private data and the brain is not local (privacy),
- the agent is over its budget (calls per hour, estimated dollars per day; a brain the
  user priced, such as an OpenAI-compatible server, counts at that price per token),
- its circuit is open (it failed `failure_threshold` times in a row; it rests a while
  instead of being retried on every event),

and the rules' own intents are the answer when no brain gives one. The minimum interval
between calls is enforced by the caller (it holds and coalesces events, see `wait`).

Pure and clock-injected: no Home Assistant import, so the policy is tested in isolation.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import logging
import math
from typing import Any

from .brain import Brain, BrainError, BrainRequest, FailureKind, Usage, priced
from .models import Intent

_LOGGER = logging.getLogger(__name__)

RULES = "rules"


@dataclass(frozen=True, slots=True)
class RouterLimits:
    """The user's limits on LLM use (options)."""

    min_interval: timedelta = timedelta(seconds=30)
    max_calls_per_hour: int = 60
    max_cost_per_day: float = 1.0
    timeout: float = 30.0
    failure_threshold: int = 3
    open_for: timedelta = timedelta(minutes=5)
    prices: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    """Brain name -> the user's (input, output) US dollars per million tokens; a brain
    named here is counted at that price instead of its own estimate (0: a free server)."""


@dataclass(frozen=True, slots=True)
class RouteOutcome:
    """Which brain answered, what it proposed, and why others were passed over."""

    intents: tuple[Intent, ...]
    brain: str = RULES
    usage: Usage | None = None
    notes: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    auth_failed: tuple[str, ...] = ()
    """Brains whose credentials were refused (the user must re-authenticate)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the record's `x_pai.brain` block."""
        out: dict[str, Any] = {"name": self.brain}
        if self.usage is not None:
            out["usage"] = self.usage.to_dict()
        if self.notes:
            out["fallback"] = list(self.notes)
        if self.dropped:
            out["dropped"] = list(self.dropped)
        return out


@dataclass(slots=True)
class Circuit:
    """Consecutive failures of one brain; open (resting) after too many."""

    failures: int = 0
    open_until: datetime | None = None
    last_error: str = ""

    def is_open(self, now: datetime) -> bool:
        """Whether the brain is resting now (half-open once the rest is over)."""
        return self.open_until is not None and now < self.open_until


@dataclass(slots=True)
class BrainRouter:
    """Chooses and calls LLM brains for escalated events; keeps budget and circuits."""

    brains: Sequence[Brain]
    limits: RouterLimits = field(default_factory=RouterLimits)
    circuits: dict[str, Circuit] = field(default_factory=dict)
    calls: deque[tuple[datetime, float]] = field(default_factory=deque)
    """(time, estimated cost) of each LLM call in the last day."""
    last_call: datetime | None = None

    @property
    def has_llm(self) -> bool:
        """Whether any LLM brain is configured (otherwise the rules decide alone)."""
        return bool(self.brains)

    # --- limits ------------------------------------------------------------------------

    def wait(self, now: datetime) -> float:
        """Seconds until the minimum interval allows the next call (0: call now)."""
        if self.last_call is None:
            return 0.0
        remaining = self.last_call + self.limits.min_interval - now
        # Never longer than the interval, even when the clock went back since.
        return min(
            max(0.0, remaining.total_seconds()),
            self.limits.min_interval.total_seconds(),
        )

    def calls_last_hour(self, now: datetime) -> int:
        """LLM calls made in the last hour."""
        self._forget(now)
        hour_ago = now - timedelta(hours=1)
        return sum(1 for when, _ in self.calls if when > hour_ago)

    def cost_today(self, now: datetime) -> float:
        """Estimated dollars spent in the last 24 hours."""
        self._forget(now)
        return sum(cost for _, cost in self.calls)

    def over_budget(self, now: datetime) -> str | None:
        """Which budget is spent (`calls` or `cost`), or None."""
        if self.calls_last_hour(now) >= self.limits.max_calls_per_hour:
            return "calls"
        if self.cost_today(now) >= self.limits.max_cost_per_day:
            return "cost"
        return None

    def open_circuits(self, now: datetime) -> dict[str, str]:
        """Brains resting now, with their last error."""
        return {
            name: circuit.last_error
            for name, circuit in self.circuits.items()
            if circuit.is_open(now)
        }

    def _forget(self, now: datetime) -> None:
        day_ago = now - timedelta(days=1)
        while self.calls and self.calls[0][0] <= day_ago:
            self.calls.popleft()

    # --- routing -----------------------------------------------------------------------

    async def async_route(
        self,
        request: BrainRequest,
        fallback: Iterable[Intent],
        *,
        now: datetime,
        private: bool = False,
    ) -> RouteOutcome:
        """Ask the chain about an escalated event; `fallback` is what the rules said."""
        notes: list[str] = []
        auth_failed: list[str] = []
        for brain in self.brains:
            if private and not brain.is_local:
                notes.append(f"{brain.name}: private data is not sent to a cloud brain")
                continue
            circuit = self.circuits.setdefault(brain.name, Circuit())
            if circuit.is_open(now):
                notes.append(
                    f"{brain.name}: resting after errors ({circuit.last_error})"
                )
                continue
            if spent := self.over_budget(now):
                notes.append(f"{brain.name}: over the {spent} budget")
                continue
            self.last_call = now
            try:
                async with asyncio.timeout(self.limits.timeout):
                    result = await brain.async_think(request)
            except Exception as err:  # a brain's bug must not lose the event either
                if not isinstance(err, BrainError | TimeoutError):
                    _LOGGER.exception("LLM brain %s failed unexpectedly", brain.name)
                why = self._why(err)
                self._failed(circuit, now, why)
                notes.append(f"{brain.name}: {why}")
                if isinstance(err, BrainError) and err.kind is FailureKind.AUTH:
                    auth_failed.append(brain.name)
                self.calls.append((now, 0.0))
                continue
            if circuit.failures >= self.limits.failure_threshold:
                _LOGGER.info("LLM brain %s answers again", brain.name)
            circuit.failures = 0
            circuit.open_until = None
            usage = result.usage
            if (price := self.limits.prices.get(brain.name)) is not None:
                usage = priced(usage, *price)
            cost = usage.cost
            self.calls.append((now, cost if math.isfinite(cost) and cost > 0 else 0.0))
            return RouteOutcome(
                intents=result.intents,
                brain=brain.name,
                usage=usage,
                notes=tuple(notes),
                dropped=result.dropped,
            )
        return RouteOutcome(
            intents=tuple(fallback),
            notes=tuple(notes),
            auth_failed=tuple(auth_failed),
        )

    def _why(self, err: Exception) -> str:
        """Return why a call failed, in words for the record."""
        if isinstance(err, BrainError):
            return f"{err.kind}: {err}"
        if isinstance(err, TimeoutError):
            return f"no answer in {self.limits.timeout:g} s"
        return f"unexpected error: {err!r:.120}"

    def _failed(self, circuit: Circuit, now: datetime, error: str) -> None:
        circuit.failures += 1
        circuit.last_error = error
        if circuit.failures >= self.limits.failure_threshold:
            circuit.open_until = now + self.limits.open_for
            # One warning when the brain goes, one info line when it is back (above);
            # the rests in between are only debug lines.
            gone = circuit.failures == self.limits.failure_threshold
            (_LOGGER.warning if gone else _LOGGER.debug)(
                "LLM brain failed %s times (%s); resting until %s",
                circuit.failures,
                error,
                circuit.open_until.isoformat(),
            )

    # --- memory --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return the budget's memory, persisted with the agent (survives restarts)."""
        return {
            "calls": [[when.isoformat(), cost] for when, cost in self.calls],
            "last_call": self.last_call.isoformat() if self.last_call else None,
        }

    def load(self, data: Mapping[str, Any] | None) -> None:
        """Restore `to_dict`'s output; junk is skipped, never fatal."""
        if not isinstance(data, Mapping):
            return
        calls = data.get("calls")
        restored = [
            call
            for item in (calls if isinstance(calls, list) else [])
            if (call := _stored_call(item)) is not None
        ]
        self.calls.extend(sorted(restored, key=lambda call: call[0]))
        self.last_call = _aware_time(data.get("last_call"))


def _aware_time(value: Any) -> datetime | None:
    """Return a stored ISO time with its timezone, or None for anything else."""
    try:
        when = datetime.fromisoformat(value)
    except TypeError, ValueError:
        return None
    return when if when.tzinfo is not None else None


def _stored_call(item: Any) -> tuple[datetime, float] | None:
    """Return one stored `[time, cost]`, or None when it is not one."""
    if not isinstance(item, list | tuple) or len(item) != 2:
        return None
    when = _aware_time(item[0])
    try:
        cost = float(item[1])
    except TypeError, ValueError:
        return None
    if when is None or not math.isfinite(cost) or cost < 0:
        return None
    return when, cost
