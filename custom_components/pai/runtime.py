"""One agent at work: triggers -> brains -> the decision loop -> delivery -> PAID records.

The runtime is the stateful shell around the pure decision loop (`engine/loop.py`, as
pi-agent-core's stateful agent over its pure `agent_loop`): it owns the agent's life cycle,
its queue and its lock; it asks the rule brain (and the LLM tier, `llm_tier.py`) for
intents, the loop for the steps, and has them carried out (`delivery.py`). The user's answers
are `answers.py`'s; records go out through `record_book.py`. Events are processed one at a
time, in order, by a background task, so a flood of state changes collapses in the queue
instead of piling up tasks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
import contextlib
from dataclasses import replace
from datetime import datetime, timedelta
import logging
from typing import TYPE_CHECKING, Any

from homeassistant.core import CALLBACK_TYPE, Context, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.start import async_at_started
from homeassistant.util import dt as dt_util

from .agent_lock import AgentLock
from .answers import Answers
from .conditions import RuleConditions
from .const import DOMAIN
from .delivery import DeliveryParts, StepDelivery
from .engine.agent import AgentDefinition
from .engine.approvals import ApprovalBook
from .engine.brain import ActionChoice, Brain
from .engine.event_queue import CollapsingQueue
from .engine.loop import Step, recorded_event, replay_report, steps
from .engine.models import AutonomyLevel, Event, Intent, SurvivalPolicy
from .engine.records import RecordView
from .engine.router import BrainRouter, RouteOutcome
from .engine.rules import RuleBrain
from .executor import ActionExecutor
from .llm_tier import Held, LlmTier, describe_binding, offered_actions
from .loops import OwnActivity
from .memory import MemoryKeeper
from .notifications import Notifier
from .pending import PendingRequests
from .privacy import PrivacyGuard
from .record_book import FloodGuard, RecordBook
from .repairs import (
    MEMORY_PROBLEMS,
    RULE_CONDITIONS,
    TRIGGER_PROBLEMS,
    clear_reported,
    report_problems,
)
from .review import cap_webhooks, consented_webhooks
from .settings import AgentSettings
from .situation import Situation
from .survival import SurvivalLayer
from .triggers import (
    PerceivedEvent,
    TriggerSpec,
    async_attach,
    async_validate,
    trigger_specs,
)

if TYPE_CHECKING:
    from .shadow import VersionKeeper

_LOGGER = logging.getLogger(__name__)

EXPIRY_CHECK = 30.0
"""Seconds between checks for expired requests."""


class AgentRuntime:
    """The live agent behind one config entry."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        name: str,
        *,
        definition: AgentDefinition,
        data: Mapping[str, Any],
        options: Mapping[str, Any],
        brains: list[Brain] | None = None,
    ) -> None:
        """Prepare the agent; nothing runs until `async_start`.

        `brains` is the LLM chain (rules are always the last resort, not listed).
        """
        self.hass = hass
        self.entry_id = entry_id
        self.name = name
        self.signal = f"{DOMAIN}_{entry_id}_updated"
        self.definition = definition
        self.settings = settings = AgentSettings.from_entry(
            data, options, definition.policy
        )
        bindings = data.get("bindings", {})
        self.metrics: Mapping[str, str] = bindings.get("metrics", {})
        self.action_bindings: Mapping[str, list[dict[str, Any]]] = bindings.get(
            "actions", {}
        )
        self.ha_triggers: list[dict[str, Any]] = list(data.get("ha_triggers", []))
        # Webhooks run without a Home Assistant binding, and only those the user ticked
        # in the review, capped at ASK unless lifted (review.py).
        self.webhooks: Mapping[str, str] = consented_webhooks(definition, data)
        self.runnable = frozenset(self.action_bindings) | frozenset(self.webhooks)
        """The actions a step can run: bound in Home Assistant, or a consented web hook."""
        self.policy = cap_webhooks(settings.policy, data, self.webhooks)
        # Rules' `condition`s are Home Assistant conditions, judged by Home Assistant.
        self.conditions = RuleConditions(name)
        self.rules = RuleBrain(definition.rules, extra_condition=self.conditions.judge)
        self.router = BrainRouter(brains or [], settings.limits)
        self.privacy = PrivacyGuard(hass, settings.privacy_label)
        self.keeper = MemoryKeeper(hass, entry_id, self.signal, self.router.to_dict)
        self.book = RecordBook(hass, entry_id, name, self.keeper)
        self.notifier = Notifier(hass, list(settings.notify_targets))
        self.own = OwnActivity(hass, entry_id)
        self.executor = ActionExecutor(hass, DOMAIN)
        parts = DeliveryParts(
            book=self.book,
            pending=PendingRequests(name, self.keeper, self.book, self.notifier),
            notifier=self.notifier,
            executor=self.executor,
            own=self.own,
            privacy=self.privacy,
        )
        self.pending = parts.pending
        self.delivery = StepDelivery(
            hass,
            name,
            entry_id,
            settings=settings,
            bindings=self.action_bindings,
            webhooks=self.webhooks,
            parts=parts,
        )
        self.answers = Answers(name, settings, self.keeper, self.delivery, parts)
        self.situation = Situation(hass, name, settings, self.policy, self.keeper)
        self._lock = AgentLock()
        self.shadow: VersionKeeper | None = None
        """The agent's versions: a shadow deciding beside it (set by shadow.py)."""
        self.llm = LlmTier(
            hass,
            name,
            self.router,
            definition,
            choices=self.action_choices,
            locked=self._lock.hold,
            decide=self._async_decide_answer,
            reauth=self._reauth,
        )
        self.flood = FloodGuard[tuple[Intent, RouteOutcome | None]](hass, self.book)
        self.rate = self.flood.rate
        self.queue = CollapsingQueue()
        self.trigger_problems: list[str] = []
        self._unsubs: list[CALLBACK_TYPE] = []
        self._stopped = False
        self._worker: asyncio.Task[None] | None = None
        self.survival_layer = SurvivalLayer(
            hass,
            self.action_bindings,
            settings.allowed_actions,
            settings.lifted_actions,
        )

    # --- life cycle ---------------------------------------------------------------------

    async def async_start(self) -> None:
        """Load the persisted memory, attach the triggers and start the worker."""
        # Read field by field: a bad part is dropped (and reported), never fatal.
        memory = await self.keeper.async_load()
        self.router.load(memory.router)
        self._report(MEMORY_PROBLEMS, memory.problems, line="%s: memory: %s", shown=20)
        specs, self.trigger_problems = trigger_specs(
            self.definition.triggers,
            self.metrics,
            self.ha_triggers,
            folder_watcher="folder_watcher" in self.hass.config.components,
        )
        self._report(TRIGGER_PROBLEMS, self.trigger_problems)  # the rest still run
        await self.conditions.async_prepare(self.hass, self.definition.rules)
        self._report(
            RULE_CONDITIONS,
            self.conditions.problems,
            line="%s: %s; the rule is refused",
        )
        # Checked now (a bad trigger fails the set-up), attached once Home Assistant runs.
        configs = await async_validate(self.hass, specs)
        self._stopped = False

        async def attach(_hass: HomeAssistant) -> None:
            await self._async_attach(specs, configs)

        self._unsubs.append(async_at_started(self.hass, attach))
        self._unsubs.append(
            async_track_time_interval(
                self.hass, self.pending.async_expire, timedelta(seconds=EXPIRY_CHECK)
            )
        )
        await self.pending.async_expire()
        await self.answers.async_interrupted()

    def _report(self, kind: str, problems: list[str], **how: Any) -> None:
        report_problems(self.hass, kind, self.entry_id, self.name, problems, **how)

    async def _async_attach(
        self, specs: list[TriggerSpec], configs: list[dict[str, Any]]
    ) -> None:
        """Attach the triggers (Home Assistant has started: what fires now happened)."""
        unsub = await async_attach(self.hass, specs, self.name, self._perceive, configs)
        if unsub is not None and self._stopped:
            unsub()  # stopped while attaching
        elif unsub is not None:
            self._unsubs.append(unsub)

    async def async_stop(self) -> None:
        """Detach everything and write the memory to disk."""
        clear_reported(self.hass, self.entry_id)
        self.conditions.async_unload()
        self._stopped = True
        while self._unsubs:
            self._unsubs.pop()()
        self.queue.clear()
        self.flood.stop()
        await self.llm.async_stop()
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._worker = None
        await self.executor.async_unload()
        await self.keeper.async_save()

    def _reauth(self) -> None:
        if entry := self.hass.config_entries.async_get_entry(self.entry_id):
            entry.async_start_reauth(self.hass)

    # --- state the entities show ----------------------------------------------------------

    @property
    def ceiling(self) -> AutonomyLevel:
        """The most this agent may do, set by the user (options / the select entity)."""
        return self.settings.ceiling

    @property
    def survival(self) -> SurvivalPolicy:
        """The survival layer: the user's limits, never the agent's."""
        return self.survival_layer.policy(self.ceiling)

    @property
    def active(self) -> bool:
        """Whether the agent perceives (a paused agent ignores its triggers)."""
        return self.keeper.memory.active

    @property
    def approvals(self) -> ApprovalBook:
        """The requests waiting for an answer."""
        return self.keeper.memory.approvals

    async def async_set_active(self, active: bool) -> None:
        """Pause or resume perception; a paused agent ignores its triggers."""
        self.keeper.memory.active = active
        self.keeper.changed()

    async def async_set_ceiling(self, level: AutonomyLevel) -> None:
        """Change the autonomy ceiling (kept in the entry's options)."""
        entry = self.hass.config_entries.async_get_entry(self.entry_id)
        if entry is None:
            return
        self.settings = replace(self.settings, options=entry.options).with_ceiling(
            level
        )
        self.hass.config_entries.async_update_entry(
            entry, options=dict(self.settings.options)
        )
        self.keeper.changed(save=False)

    def action_choices(self) -> tuple[ActionChoice, ...]:
        """Return the actions an LLM may propose, with the highest level the gate grants."""
        return offered_actions(
            self.runnable,
            self.policy,
            self.survival,
            lambda action: describe_binding(
                action, self.action_bindings, self.webhooks, self.privacy
            ),
        )

    # --- perception ---------------------------------------------------------------------

    @callback
    def _perceive(self, perceived: PerceivedEvent, context: Context | None) -> None:
        if not self.active or self.own.is_own(perceived.event, context):
            return
        self.queue.put(perceived.event, perceived.collapse_key)
        if self._worker is None or self._worker.done():
            self._worker = self.hass.async_create_task(
                self._async_drain(), f"{DOMAIN} agent {self.name}", eager_start=True
            )

    async def _async_drain(self) -> None:
        """Process waiting events one at a time, in order, until the queue is empty."""
        while len(self.queue):
            event = self.queue.pop()
            try:
                await self.async_process(event, background=True)
            except Exception:
                _LOGGER.exception("%s: failed to process %s", self.name, event.kind)
            await asyncio.sleep(0)  # let the rest of Home Assistant run between events

    async def async_evaluate(
        self,
        kind: str,
        payload: Mapping[str, Any],
        source: str = "service",
        *,
        escalate: bool = False,
        cause: str | None = None,
    ) -> list[dict[str, Any]]:
        """Run one event through the agent now (the `pai.evaluate` action).

        `cause`: the context id of the call; what the agent runs is its child.
        """
        if self._lock.held_here():
            # One of this agent's own actions asks it to evaluate: waiting for the
            # lock would wait for itself forever.
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="evaluate_own_action",
                translation_placeholders={"agent": self.name},
            )
        return await self.async_process(
            Event(
                source=source,
                kind=kind,
                payload=dict(payload),
                time=dt_util.utcnow(),
                cause=cause,
            ),
            escalate=escalate,
        )

    # --- deciding -------------------------------------------------------------------------

    async def async_process(
        self, event: Event, *, escalate: bool = False, background: bool = False
    ) -> list[dict[str, Any]]:
        """Rules -> (LLM tier) -> the loop -> delivery for one event; the records made.

        The rules judge first. The LLM tier is asked only when a matching rule escalates,
        the caller asks (`escalate`) or the options send every event; the rules' settled
        intents are delivered before an LLM is awaited, and the agent's lock is not held
        while it thinks. With `background` (the trigger worker) the call runs as its own
        task, so the next event does not wait for it (its records are then not returned).
        """
        async with self._lock.hold():
            settled, escalated = self.rules.assess(event)
            context = self.situation.context()
            # Once per event, where an LLM may hear of it (now, or in the recent events).
            private = self.router.has_llm and self.privacy.is_private(event)
            if not self.router.has_llm or not (
                escalated or escalate or self.settings.llm_every_event
            ):
                return await self._async_decide(
                    event, context, settled + escalated, private
                )
            held = Held(event, context, private, escalated)
            if self.llm.must_hold():
                self.llm.hold(held)
                return await self._async_decide(event, context, settled, private)
            records = await self._async_decide(event, context, settled, private)
            thinking = self.llm.think(held)
        if background:
            self.llm.in_background(thinking)
            return records
        return records + await thinking

    async def _async_decide_answer(
        self, held: Held, outcome: RouteOutcome
    ) -> list[dict[str, Any]]:
        """Gate and deliver an LLM's answer (its records carry the brain block)."""
        async with self._lock.hold():
            return await self._async_decide(
                held.event, held.context, [], outcome=outcome
            )

    async def _async_decide(
        self,
        event: Event,
        context: Mapping[str, Any],
        intents: list[Intent],
        private: bool = False,
        *,
        outcome: RouteOutcome | None = None,
    ) -> list[dict[str, Any]]:
        """Gate and deliver the rules' intents, or the LLM tier's answer (`outcome`).

        `private`: whether the event is remembered by its kind only; with `outcome`, it
        was remembered when it was first decided.
        """
        sourced: list[tuple[Intent, RouteOutcome | None]] = [(i, None) for i in intents]
        if outcome is not None:
            sourced += [(intent, outcome) for intent in outcome.intents]
        now = dt_util.now()
        admitted = self.flood.admit(sourced, now)  # a flood: counted, told once
        records = []
        if admitted:
            planned = self._plan([intent for intent, _ in admitted], now)
            for step, (_, source) in zip(planned, admitted, strict=True):
                self.keeper.memory.ledger.record(step.decision, now)
                records.append(
                    await self.delivery.async_deliver(event, step, context, source)
                )
        if self.shadow is not None:  # a shadow version decides beside it (shadow.py)
            self.shadow.observe(event, context, records, first=outcome is None)
        if outcome is None:
            self.situation.remember(event, private)
        self.keeper.changed()
        return records

    def _plan(self, intents: list[Intent], now: datetime) -> list[Step]:
        """Ask the loop for the steps, with the gate's inputs as they are `now`."""
        return steps(
            intents,
            self.policy,
            self.keeper.memory.ledger.inputs(
                now, self.policy, self.situation.interruption_cost()
            ),
            self.survival,
            self.runnable,
        )

    # --- replay ---------------------------------------------------------------------------

    def replay(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Run a recorded event through today's rules and policy; nothing is executed."""
        old = RecordView.of(record)
        event = recorded_event(old, dt_util.utcnow())
        intents = self.rules.think(event, self.situation.context())
        return replay_report(old, self._plan(intents, dt_util.now()))
