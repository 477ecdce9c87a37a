"""The LLM tier: when an agent's LLM chain is asked, and what it is told.

An LLM is asked only for escalated events. Within the minimum interval, or while a call is
out, the newest escalated event is held and a burst of them coalesces into one later call.
The call runs without the agent's lock; its answer is decided (gated and delivered) under
it, through the callback the runtime gives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
import contextlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .engine.agent import AgentDefinition
from .engine.brain import ActionChoice, BrainRequest
from .engine.gate import highest_level
from .engine.models import Event, Intent, Policy, SurvivalPolicy
from .engine.router import BrainRouter, RouteOutcome
from .engine.rules import Rule
from .privacy import PrivacyGuard

type Records = list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Held:
    """An escalated event waiting for the LLM, as it was perceived."""

    event: Event
    context: Mapping[str, Any]
    private: bool
    escalated: list[Intent]
    coalesced: int = 0


type DecideAnswer = Callable[[Held, RouteOutcome], Awaitable[Records]]
"""Gate and deliver an LLM's answer to a held event (the runtime, under its lock)."""


class LlmTier:
    """Asks an agent's LLM chain, one call at a time, within its interval and budgets."""

    def __init__(
        self,
        hass: HomeAssistant,
        name: str,
        router: BrainRouter,
        definition: AgentDefinition,
        *,
        choices: Callable[[], tuple[ActionChoice, ...]],
        locked: Callable[[], contextlib.AbstractAsyncContextManager[None]],
        decide: DecideAnswer,
        reauth: Callable[[], None],
    ) -> None:
        """Keep what the tier needs of its agent.

        `choices`: the actions offered now; `locked`: the agent's lock; `decide`: the
        runtime's way to gate and deliver an answer; `reauth`: a refused key's flow.
        """
        self.hass = hass
        self.name = name
        self.router = router
        self.definition = definition
        self._choices = choices
        self._locked = locked
        self._decide = decide
        self._reauth = reauth
        self._guidance = guidance(definition)
        self.last_brain: dict[str, Any] | None = None
        self._held: Held | None = None
        self._timer: CALLBACK_TYPE | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._thinking = False

    def must_hold(self) -> bool:
        """Whether an escalated event must wait (interval not over, or a call out)."""
        return self._thinking or bool(self.router.wait(dt_util.utcnow()))

    def hold(self, held: Held) -> None:
        """Keep the newest escalated event for the next allowed call (a burst costs one).

        Its context is the one it came with: the LLM hears what happened before it, not
        the event itself as history. While a call is out, the timer is set when it ends.
        """
        if self._held is not None:
            held = replace(held, coalesced=self._held.coalesced + 1)
        self._held = held
        if self._timer is None and not self._thinking:
            self._timer = async_call_later(
                self.hass, self.router.wait(dt_util.utcnow()), self._release
            )

    def think(self, held: Held) -> Coroutine[Any, Any, Records]:
        """Ask about `held` (call under the agent's lock; await it after releasing it).

        From now on, other escalations wait their turn.
        """
        self._thinking = True
        return self._async_think(held)

    def in_background(self, thinking: Coroutine[Any, Any, Records]) -> None:
        """Let `think`'s call run as a task of its own (the trigger worker goes on)."""
        self._track(
            self.hass.async_create_task(thinking, f"{DOMAIN} {self.name} thinking")
        )

    async def async_stop(self) -> None:
        """Drop the held event and cancel what is out."""
        if self._timer is not None:
            self._timer()
            self._timer = None
        self._held = None
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @callback
    def _release(self, _now: datetime) -> None:
        self._timer = None
        if self._thinking:  # a call went out meanwhile: its end sets the timer again
            return
        self._thinking = True
        self._track(
            self.hass.async_create_task(
                self._async_think_held(), f"{DOMAIN} {self.name} held event"
            )
        )

    async def _async_think_held(self) -> None:
        async with self._locked():
            held, self._held = self._held, None
        if held is None:
            self._thinking = False
            return
        # The event is in the short memory already (remembered when it was held).
        await self._async_think(held)

    async def _async_think(self, held: Held) -> Records:
        """Ask the chain, then have the answer decided; the next held event follows."""
        try:
            return await self._decide(held, await self._async_ask(held))
        finally:
            self._thinking = False
            if self._held is not None and self._timer is None:
                self._timer = async_call_later(
                    self.hass, self.router.wait(dt_util.utcnow()), self._release
                )

    async def _async_ask(self, held: Held) -> RouteOutcome:
        """Ask the LLM chain; the rules' escalated intents are the fallback."""
        request = brain_request(
            self.name, self.definition, held, self._choices(), self._guidance
        )
        outcome = await self.router.async_route(
            request, held.escalated, now=dt_util.utcnow(), private=held.private
        )
        if held.coalesced:
            outcome = replace(
                outcome,
                notes=(*outcome.notes, f"{held.coalesced} earlier events coalesced"),
            )
        if outcome.auth_failed:
            self._reauth()
        self.last_brain = outcome.to_dict()
        return outcome


def guidance(definition: AgentDefinition) -> tuple[str, ...]:
    """Return the agent's rules in words: the stable part of every request."""
    return tuple(rule_in_words(rule) for rule in definition.rules)


def brain_request(
    name: str,
    definition: AgentDefinition,
    held: Held,
    actions: tuple[ActionChoice, ...],
    rules_in_words: tuple[str, ...],
) -> BrainRequest:
    """Return what the LLM chain is told about an escalated event (live or dry run)."""
    return BrainRequest(
        agent=name,
        event=held.event,
        context=held.context,
        actions=actions,
        user_profile=definition.brain.user_profile,
        description=definition.manifest.description,
        hints=tuple(held.escalated),
        guidance=rules_in_words,
    )


def offered_actions(
    runnable: frozenset[str],
    policy: Policy,
    survival: SurvivalPolicy,
    describe: Callable[[str], str],
) -> tuple[ActionChoice, ...]:
    """Return the actions an LLM may propose: runnable and allowed.

    Each comes with the highest level the gate can grant it (`gate.highest_level`).
    """
    names = runnable
    if survival.allowed_actions is not None:
        names &= survival.allowed_actions
    return tuple(
        ActionChoice(name, highest_level(name, policy, survival), describe(name))
        for name in sorted(names)
    )


def describe_binding(
    action: str,
    bindings: Mapping[str, list[dict[str, Any]]],
    webhooks: Mapping[str, str],
    privacy: PrivacyGuard,
) -> str:
    """Say what an action does in Home Assistant terms (services and entities)."""
    if action in webhooks:
        return "calls a web hook"
    parts = []
    for step in bindings.get(action, []):
        service = step.get("action") or step.get("service")
        if not isinstance(service, str):
            continue
        target = step.get("target") or {}
        entities = target.get("entity_id") if isinstance(target, Mapping) else None
        if isinstance(entities, str):
            entities = [entities]
        if entities:  # a labelled entity's id never goes out in a description
            entities = [
                "a private entity" if privacy.entity_is_private(str(eid)) else str(eid)
                for eid in entities
            ]
        parts.append(service + (f" on {', '.join(entities)}" if entities else ""))
    return "; ".join(parts)


def rule_in_words(rule: Rule) -> str:
    """One rule as a line of the LLM's stable prefix."""
    when = " and ".join(
        f"{cond.field} {cond.op} {cond.value!r}" for cond in rule.conditions
    )
    origin = " ".join(
        part
        for part in (
            rule.kind or "any event",
            f"from {rule.source}" if rule.source else "",
        )
        if part
    )
    return (
        f"{rule.name}: on {origin}{f' where {when}' if when else ''} -> {rule.action} "
        f"(level {int(rule.level)}){f': {rule.rationale}' if rule.rationale else ''}"
    )
