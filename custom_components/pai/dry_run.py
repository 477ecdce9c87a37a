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
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
import itertools
import time
from typing import Any

from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util

from .const import CONF_AGENT, DEFAULT_INTERRUPTION_COST, DOMAIN
from .engine.agent import AgentDefinition, AgentDefinitionError
from .engine.models import Event, SurvivalPolicy
from .engine.rules import RuleBrain
from .engine.simulate import Change, Firing, Simulation, Skipped, TriggerPlan, summary
from .review import cap_webhooks, consented_webhooks
from .settings import AgentSettings
from .survival import SurvivalLayer
from .triggers import TriggerSpec, perceive, trigger_specs

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
) -> dict[str, Any]:
    """Replay the last `days` of history through the agent; return the report.

    Raises a translated HomeAssistantError when the recorder is off, `days` is beyond its
    retention, or the recorder holds no history for what the agent watches.
    """
    keep = retention_days(hass)
    if days < 1 or days > keep:
        raise _error("simulate_days_beyond_retention", days=days, keep_days=keep)
    agent = dry_run_agent(hass, name, data, options)
    end = end or dt_util.utcnow()
    started = time.monotonic()
    simulation = await async_run(hass, agent, end - timedelta(days=days), end)
    report = simulation.report()
    report.update(
        agent=name,
        days=days,
        brain=BRAIN_RULES,
        entities=len(simulation.entities),
        seconds=round(time.monotonic() - started, 3),
    )
    if brain == BRAIN_LLM:
        report["llm"] = {
            "asked": False,
            "reason": (
                "left out: the dry run decides escalated events with the rules "
                "(as when the LLM is unreachable)"
            ),
        }
    return report


async def async_run(
    hass: HomeAssistant,
    agent: DryRunAgent,
    start: datetime,
    end: datetime,
    *,
    keep_steps: bool = False,
) -> Simulation:
    """Replay (start, end] of the recorder's history through `agent`; the finished run."""
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
            hass, simulation, entity_ids, start, end, name=agent.name, days=days
        )
    simulation.finish()
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
        await _async_feed(simulation, changes)
    if not seen:
        raise _error("simulate_no_history", agent=name, days=days)


async def _async_feed(simulation: Simulation, changes: list[Change]) -> None:
    """Replay changes, handing the event loop back every few milliseconds."""
    began = time.perf_counter()
    for at in range(0, len(changes), SLICE_CHANGES):
        simulation.feed(changes[at : at + SLICE_CHANGES])
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
