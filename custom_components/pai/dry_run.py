"""The dry run on history: the recorder's states through an agent, nothing carried out.

`pai.simulate` and the config flow's preview ask `async_simulate`: it builds the agent as the
runtime would from its entry's data and options (its triggers as Home Assistant trigger
configs, its rules, the policy with the options on top, the survival layer with the
bindings' sensitive actions), reads the state history of the entities its triggers watch
from the recorder, in the recorder's executor and in bounded chunks (the next chunk is read
while the last one is replayed, and the replay yields to the event loop every few
milliseconds), and replays it through the pure simulation (`engine/simulate.py`). Fired
triggers become events through `triggers.perceive`, the function the live triggers use, so
the rules see exactly what they would have seen. Nothing runs, nothing is sent, nothing is
stored: the report is the only result.

With `brain: llm` (the user's explicit choice: a cloud brain costs money), the agent's LLM
chain is asked about the events the rules escalate, as the live agent would: the simulation
holds each escalated event (its settled intents decided), the replay stops there, the chain
is asked (awaited, off the replay's slices) and its answer is decided through the same loop
at that simulated moment. The calls go through a fresh `BrainRouter` over the same brains
with the agent's limits on the simulated clock, so the live agent's budget is never spent,
and one dry run makes at most `LLM_CALLS_CAP` calls. Events past the cap, the budget or the
minimum interval, private ones for a cloud brain, and those whose call failed are decided by
the rules' intents (as when the LLM is unreachable) and counted in the report.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
import itertools
import math
import time
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util

from .const import CONF_AGENT, DEFAULT_INTERRUPTION_COST, DOMAIN
from .engine.agent import AgentDefinition, AgentDefinitionError
from .engine.brain import ActionChoice
from .engine.models import Event, Intent, SurvivalPolicy
from .engine.router import RULES, BrainRouter
from .engine.rules import RuleBrain
from .engine.simulate import (
    Change,
    Escalation,
    Firing,
    Simulation,
    Skipped,
    TriggerPlan,
    summary,
)
from .llm_tier import Held, brain_request, guidance
from .review import cap_webhooks, consented_webhooks
from .settings import AgentSettings
from .survival import SurvivalLayer
from .triggers import TriggerSpec, perceive, trigger_specs

if TYPE_CHECKING:
    from .runtime_data import PaiConfigEntry

_EVENT_IDS = itertools.count()

BRAIN_RULES = "rules"
BRAIN_LLM = "llm"
PREVIEW_DAYS = 7
"""The config flow's preview: the last week (or the recorder's retention, if shorter)."""
CHUNK = timedelta(hours=1)
"""How much history one read in the recorder's executor covers."""
SLICE_S = 0.001
"""The replay gives the event loop back after this long."""
SLICE_CHANGES = 16
LLM_CALLS_CAP = 50
"""The most LLM calls one dry run makes (`brain: llm`), whatever the agent's budgets allow:
a week of history must not cost a fortune. Escalated events past it are decided by the rules."""
ERRORS_KEPT = 5


def _error(key: str, **placeholders: Any) -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={k: str(v) for k, v in placeholders.items()} or None,
    )


@dataclass(frozen=True, slots=True)
class DryRunAgent:
    """An agent as the dry run replays it: built from its entry as the runtime builds it."""

    name: str
    specs: list[TriggerSpec]
    rules: RuleBrain
    settings: AgentSettings
    survival: SurvivalPolicy
    runnable: frozenset[str]
    skipped: list[Skipped]

    @property
    def plans(self) -> list[TriggerPlan]:
        """The triggers, as the simulation reads them."""
        return [
            TriggerPlan(spec.config, spec.source, spec.kind, spec.extra)
            for spec in self.specs
        ]

    def make_event(
        self, plan: TriggerPlan, firing: Firing
    ) -> tuple[Event, str | None] | None:
        """Return the event the live trigger would have made, and its collapse key."""
        perceived = perceive(
            self.specs[firing.index],
            firing.variables(),
            at=firing.when.astimezone(UTC),
            event_id=f"dry{next(_EVENT_IDS):09d}",  # no random id per simulated event
        )
        if perceived is None:
            return None
        return perceived.event, perceived.collapse_key


def dry_run_agent(
    hass: HomeAssistant, name: str, data: Mapping[str, Any], options: Mapping[str, Any]
) -> DryRunAgent:
    """Build the agent from an entry's data and options (or a flow's draft of them)."""
    try:
        definition = AgentDefinition.from_sections(data.get(CONF_AGENT) or {})
    except AgentDefinitionError as err:
        raise _error("simulate_bad_agent", agent=name, error=str(err)) from err
    settings = AgentSettings.from_entry(data, options, definition.policy)
    bindings = data.get("bindings", {})
    actions: Mapping[str, Any] = bindings.get("actions", {})
    webhooks = consented_webhooks(definition, data)
    survival = SurvivalLayer(
        hass, actions, settings.allowed_actions, settings.lifted_actions
    ).policy(settings.ceiling)
    specs, problems = trigger_specs(
        definition.triggers,
        bindings.get("metrics", {}),
        list(data.get("ha_triggers", [])),
    )
    skipped = [Skipped("agent", problem) for problem in problems]
    # A rule's `condition` is judged by Home Assistant on the states of now, not of then.
    rules = []
    for rule in definition.rules:
        if rule.condition is not None:
            skipped.append(
                Skipped(
                    f"rule {rule.name}",
                    "its Home Assistant condition cannot be judged on history; "
                    "the rule is left out",
                )
            )
            continue
        rules.append(rule)
    policy = cap_webhooks(settings.policy, data, webhooks)
    return DryRunAgent(
        name=name,
        specs=specs,
        rules=RuleBrain(rules),
        settings=replace(settings, policy=policy),
        survival=survival,
        runnable=frozenset(actions) | frozenset(webhooks),
        skipped=skipped,
    )


@dataclass(frozen=True, slots=True)
class LiveBrains:
    """What the dry run takes of the running agent to ask its LLM chain (read only)."""

    router: BrainRouter
    """The live router: its brains and limits are used, its budget is not touched."""
    definition: AgentDefinition
    choices: Callable[[], tuple[ActionChoice, ...]]
    is_private: Callable[[Event], bool]


def live_brains(entry: PaiConfigEntry) -> LiveBrains | None:
    """Return the running agent's LLM chain, or None when it is not loaded."""
    if entry.state is not ConfigEntryState.LOADED:
        return None
    runtime = entry.runtime_data.runtime
    return LiveBrains(
        runtime.router,
        runtime.llm.definition,
        runtime.action_choices,
        runtime.privacy.is_private,
    )


class DryRunLlm:
    """Asks the agent's LLM chain about held escalated events, on a budget of its own."""

    def __init__(self, name: str, live: LiveBrains, cap: int = LLM_CALLS_CAP) -> None:
        """Make a fresh router over the live brains, with the agent's limits."""
        self.name = name
        self.live = live
        self.cap = cap
        self.router = BrainRouter(list(live.router.brains), live.router.limits)
        self._guidance = guidance(live.definition)
        self._actions = live.choices()
        self.calls = 0
        self.answered = 0
        self.tokens: Counter[str] = Counter()
        self.cost = 0.0
        self.left: Counter[str] = Counter()
        self.errors: list[str] = []

    async def async_resolve(self, simulation: Simulation) -> None:
        """Ask about each held event in order and decide the answer at its moment."""
        for escalation in simulation.take_held():
            intents, brain = await self._async_ask(simulation, escalation)
            simulation.decide(
                escalation.event, intents, escalation.when, answer=True, brain=brain
            )

    async def _async_ask(
        self, simulation: Simulation, escalation: Escalation
    ) -> tuple[list[Intent], str]:
        """Return the chain's intents and brain, or the rules' (and count why)."""
        when, router = escalation.when, self.router
        if self.calls >= self.cap:
            return self._left("cap", escalation)
        if spent := router.over_budget(when):
            return self._left(
                "calls_per_hour" if spent == "calls" else "cost_per_day", escalation
            )
        if router.wait(when):
            return self._left("min_interval", escalation)
        local = when.astimezone(simulation.zone)
        quiet = simulation.policy.quiet_hours
        context = {
            "user_state": "unknown",
            "recent_events": [],
            "action_history": [],
            "declines": simulation.ledger.declines_counted(when, simulation.policy),
            "time_of_day": f"{local.hour:02d}:{local.minute:02d}",
            "quiet_hours": quiet is not None
            and quiet.contains(local.time().replace(tzinfo=None)),
        }
        private = self.live.is_private(escalation.event)
        held = Held(escalation.event, context, private, escalation.intents)
        request = brain_request(
            self.name, self.live.definition, held, self._actions, self._guidance
        )
        before = len(router.calls)
        outcome = await router.async_route(
            request, escalation.intents, now=when, private=private
        )
        self.calls += len(router.calls) - before
        for note in outcome.notes:
            if note not in self.errors and len(self.errors) < ERRORS_KEPT:
                self.errors.append(note)
        if (usage := outcome.usage) is None:
            made = len(router.calls) > before
            private_only = all("private data" in note for note in outcome.notes)
            reason = "private" if private_only and not made else "errors"
            return self._left(reason, escalation)
        self.answered += 1
        self.tokens.update(
            input=usage.input_tokens,
            output=usage.output_tokens,
            cached=usage.cached_tokens,
        )
        if math.isfinite(usage.cost) and usage.cost > 0:
            self.cost += usage.cost
        return list(outcome.intents), outcome.brain

    def _left(self, reason: str, escalation: Escalation) -> tuple[list[Intent], str]:
        self.left[reason] += 1
        return escalation.intents, RULES

    def report(self) -> dict[str, Any]:
        """Return the report's `llm` block: calls, cost, what the rules kept."""
        limits = self.router.limits
        return {
            "asked": True,
            "brains": [brain.name for brain in self.router.brains],
            "calls": self.calls,
            "answered": self.answered,
            "cap": self.cap,
            "calls_per_hour": limits.max_calls_per_hour,
            "cost_per_day": limits.max_cost_per_day,
            "input_tokens": self.tokens["input"],
            "output_tokens": self.tokens["output"],
            "cached_tokens": self.tokens["cached"],
            "cost_usd": round(self.cost, 6),
            "left_to_rules": dict(sorted(self.left.items())),
            "errors": self.errors,
        }


def retention_days(hass: HomeAssistant) -> int:
    """Return the recorder's retention (purge_keep_days); raise when it is off."""
    if "recorder" not in hass.config.components:
        raise _error("simulate_no_recorder")
    from homeassistant.helpers.recorder import get_instance  # noqa: PLC0415

    return int(get_instance(hass).keep_days)


def _change(state: State) -> Change:
    return Change(
        state.entity_id, state.state, state.last_updated, state.attributes, state
    )


def _read_chunk(
    hass: HomeAssistant,
    entity_ids: list[str],
    start: datetime,
    end: datetime,
    first: bool,
) -> tuple[list[Change], list[Change]]:
    """(states at `start`, changes in (start, end]), time-ordered; in the recorder's thread."""
    from homeassistant.components.recorder import history  # noqa: PLC0415

    found = history.get_significant_states(
        hass,
        start,
        end + timedelta(microseconds=1),  # the recorder's end is exclusive
        entity_ids,
        None,
        first,
        False,  # every change, attribute changes too (triggers see them)
        False,
        False,
    )
    initial: list[Change] = []
    changes: list[Change] = []
    for states in found.values():
        for state in states:
            if not isinstance(state, State):
                continue
            change = _change(state)
            if change.when <= start:
                if first:
                    initial.append(change)
            elif change.when <= end:
                changes.append(change)
    changes.sort(key=lambda change: change.when)
    return initial, changes


async def async_read_history(
    hass: HomeAssistant, entity_ids: list[str], start: datetime, end: datetime
) -> tuple[list[Change], list[list[Change]]]:
    """Read the whole window at once (in chunks); the benchmark's baseline uses it."""
    from homeassistant.helpers.recorder import get_instance  # noqa: PLC0415

    recorder = get_instance(hass)
    chunks: list[list[Change]] = []
    initial: list[Change] = []
    moment, first = start, True
    while moment < end:
        until = min(end, moment + CHUNK)
        got_initial, changes = await recorder.async_add_executor_job(
            _read_chunk, hass, entity_ids, moment, until, first
        )
        if first:
            initial = got_initial
        chunks.append(changes)
        moment, first = until, False
    return initial, chunks


async def async_simulate(
    hass: HomeAssistant,
    name: str,
    data: Mapping[str, Any],
    options: Mapping[str, Any],
    days: int,
    *,
    brain: str = BRAIN_RULES,
    end: datetime | None = None,
    live: LiveBrains | None = None,
) -> dict[str, Any]:
    """Replay the last `days` of history through the agent; return the report.

    With `brain: llm` and `live` (the running agent) holding an LLM chain, escalated events
    are asked of it (`DryRunLlm`); otherwise the report's `llm` block says why not.
    Raises a translated HomeAssistantError when the recorder is off, `days` is beyond its
    retention, or the recorder holds no history for what the agent watches.
    """
    keep = retention_days(hass)
    if days < 1 or days > keep:
        raise _error("simulate_days_beyond_retention", days=days, keep_days=keep)
    agent = dry_run_agent(hass, name, data, options)
    end = end or dt_util.utcnow()
    started = time.monotonic()
    llm: DryRunLlm | None = None
    why_not = ""
    if brain == BRAIN_LLM:
        if live is None:
            why_not = "the agent is not running"
        elif not live.router.has_llm:
            why_not = "the agent has no LLM brain"
        else:
            llm = DryRunLlm(name, live, LLM_CALLS_CAP)
    simulation = await async_run(hass, agent, end - timedelta(days=days), end, llm=llm)
    report = simulation.report()
    report.update(
        agent=name,
        days=days,
        brain=BRAIN_LLM if llm is not None else BRAIN_RULES,
        entities=len(simulation.entities),
        seconds=round(time.monotonic() - started, 3),
    )
    if llm is not None:
        report["llm"] = llm.report()
    elif brain == BRAIN_LLM:
        report["llm"] = {
            "asked": False,
            "reason": f"{why_not}: escalated events are decided by the rules",
        }
    return report


async def async_run(
    hass: HomeAssistant,
    agent: DryRunAgent,
    start: datetime,
    end: datetime,
    *,
    keep_steps: bool = False,
    llm: DryRunLlm | None = None,
) -> Simulation:
    """Replay (start, end] of the recorder's history through `agent`; the finished run.

    With `llm`, escalated events are held and asked of it as the replay reaches them.
    """
    simulation = Simulation(
        agent.plans,
        agent.rules,
        agent.settings.policy,
        agent.survival,
        agent.runnable,
        make_event=agent.make_event,
        start=start,
        end=end,
        zone=dt_util.get_default_time_zone(),
        interruption_cost=DEFAULT_INTERRUPTION_COST,
        skipped=agent.skipped,
        keep_steps=keep_steps,
        hold_escalated=llm is not None,
    )
    if agent.settings.interruption_cost_template:
        simulation.skipped.append(
            Skipped(
                "interruption cost template",
                f"not rendered on history; the default {DEFAULT_INTERRUPTION_COST} "
                "is used",
            )
        )
    days = max(1, round((end - start) / timedelta(days=1)))
    if not simulation.matchers:
        raise _error("simulate_no_history", agent=agent.name, days=days)
    if entity_ids := sorted(simulation.entities):
        await _async_replay(
            hass,
            simulation,
            entity_ids,
            start,
            end,
            name=agent.name,
            days=days,
            llm=llm,
        )
    while not simulation.finish() and llm is not None:
        await llm.async_resolve(simulation)
    return simulation


async def _async_replay(
    hass: HomeAssistant,
    simulation: Simulation,
    entity_ids: list[str],
    start: datetime,
    end: datetime,
    *,
    name: str,
    days: int,
    llm: DryRunLlm | None = None,
) -> None:
    """Read chunk after chunk in the recorder's executor and replay each on the loop."""
    from homeassistant.helpers.recorder import get_instance  # noqa: PLC0415

    recorder = get_instance(hass)

    def read(moment: datetime, first: bool) -> asyncio.Future[Any]:
        until = min(end, moment + CHUNK)
        return recorder.async_add_executor_job(
            _read_chunk, hass, entity_ids, moment, until, first
        )

    moment, first = start, True
    pending: asyncio.Future[Any] | None = read(moment, first)
    seen = 0
    while pending is not None:
        initial, changes = await pending
        if first:
            simulation.set_initial(initial)
            seen += len(initial)
        moment, first = min(end, moment + CHUNK), False
        # The next chunk is read while this one is replayed.
        pending = read(moment, False) if moment < end else None
        seen += len(changes)
        await _async_feed(simulation, changes, llm)
    if not seen:
        raise _error("simulate_no_history", agent=name, days=days)


async def _async_feed(
    simulation: Simulation, changes: list[Change], llm: DryRunLlm | None = None
) -> None:
    """Replay changes, handing the event loop back every few milliseconds.

    With `llm`, the replay stops at each held escalated event until it is decided.
    """
    began = time.perf_counter()
    for at in range(0, len(changes), SLICE_CHANGES):
        part = changes[at : at + SLICE_CHANGES]
        while part:
            part = part[simulation.feed(part) :]
            if llm is not None:
                await llm.async_resolve(simulation)
        if time.perf_counter() - began > SLICE_S:
            await asyncio.sleep(0)
            began = time.perf_counter()


async def async_preview(
    hass: HomeAssistant, name: str, data: Mapping[str, Any], options: Mapping[str, Any]
) -> dict[str, str]:
    """Say in words what the agent did on the last week (the config flow's preview).

    Returns the form's description placeholders (`days`, `summary`); a dry run that cannot
    be made says why in `summary` instead of failing the flow.
    """
    try:
        days = min(PREVIEW_DAYS, retention_days(hass))
        report = await async_simulate(hass, name, data, options, days)
    except HomeAssistantError as err:
        return {"days": str(PREVIEW_DAYS), "summary": str(err)}
    lines = summary(report).splitlines()
    return {"days": str(days), "summary": "\n".join(f"- {line}" for line in lines)}


def can_preview(hass: HomeAssistant) -> bool:
    """Whether the flow offers the preview: only with the recorder loaded."""
    return "recorder" in hass.config.components
