"""One agent at work: triggers -> brains -> the decision loop -> delivery -> PAID records.

The runtime is the stateful shell around the pure decision loop (`engine/loop.py`, as
pi-agent-core's stateful agent over its pure `agent_loop`): it owns the agent's queue, its
persisted memory (the gate's ledger, pending approvals and undo offers, action history), the
LLM tier and the Home Assistant side effects; it asks the loop for the steps and carries them
out (notify, ask, run under a child of the trigger's context), then publishes one record per
step. Events are processed one at a time, in order, by a background task, so a flood of state
changes collapses in the queue instead of piling up tasks.
"""

from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator, Mapping
import contextlib
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
import logging
import math
from typing import Any

from homeassistant.core import CALLBACK_TYPE, Context, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, TemplateError
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_call_later, async_track_time_interval
from homeassistant.helpers.start import async_at_started
from homeassistant.helpers.template import Template
from homeassistant.util import dt as dt_util

from .action_text import describe_sequence, with_quote
from .conditions import RuleConditions
from .const import DEFAULT_INTERRUPTION_COST, DOMAIN, EVENT_PAI_RECORD
from .engine.agent import AgentDefinition, FileWatchTrigger
from .engine.approvals import (
    ApprovalBook,
    ApprovalError,
    ClaimOutcome,
    PendingItem,
    PendingKind,
    Verb,
    new_nonce,
)
from .engine.bounds import fit_record
from .engine.brain import ActionChoice, Brain, BrainRequest
from .engine.event_queue import CollapsingQueue
from .engine.gate import highest_level
from .engine.ledger import GovernanceLedger
from .engine.loop import Delivery, Step, steps
from .engine.models import (
    SECURITY_SENSITIVE_ACTIONS,
    AutonomyLevel,
    Decision,
    Event,
    Intent,
    SurvivalPolicy,
)
from .engine.rate import RecordRate
from .engine.records import (
    ActionTaken,
    ExecutionStatus,
    Feedback,
    RecordView,
    build_record,
    new_record_id,
    perception,
    with_execution,
    with_feedback,
)
from .engine.router import BrainRouter, RouteOutcome
from .engine.rules import Rule, RuleBrain, action_params
from .escalation import Escalator, Notice
from .executor import ActionExecutor, ExecutionResult
from .loops import OwnActivity
from .memory import async_load_memory, memory_store, stored_memory
from .notifications import Notifier, PhoneStyle
from .privacy import PrivacyGuard
from .repairs import (
    MEMORY_PROBLEMS,
    RULE_CONDITIONS,
    TRIGGER_PROBLEMS,
    clear_reported,
    report_problems,
    report_record_too_large,
)
from .review import cap_webhooks, consented_webhooks, webhook_payload
from .sensitivity import BindingSensitivity
from .settings import AgentSettings
from .triggers import (
    PerceivedEvent,
    TriggerSpec,
    async_attach,
    async_validate,
    trigger_specs,
)
from .undo import changed_since, describe as describe_undo, plan as undo_plan

_LOGGER = logging.getLogger(__name__)

RECENT_RECORDS = 200
RECENT_EVENTS = 10
EXPIRY_CHECK = timedelta(seconds=30)
SAVE_DELAY = 1.0

RATE_LIMITED_ACTION = "pai.rate_limited"
"""The action name of the record that says a flood was cut short."""

_LOCK_HOLDER: ContextVar[object | None] = ContextVar("pai_lock_holder", default=None)
"""Which hold of an agent's lock the running code descends from (see `_locked`)."""


@dataclass(frozen=True, slots=True)
class _Held:
    """An escalated event waiting for the next allowed LLM call, as it was perceived."""

    event: Event
    context: Mapping[str, Any]
    private: bool
    escalated: list[Intent]
    coalesced: int = 0


class ResolveError(Exception):
    """An approval, decline or undo that cannot be carried out; the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        """Keep a stable reason code (for translations) and a sentence for logs."""
        super().__init__(message)
        self.reason = reason


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
        self.settings = AgentSettings.from_entry(data, options, definition.policy)
        bindings = data.get("bindings", {})
        self.metrics: Mapping[str, str] = bindings.get("metrics", {})
        self.action_bindings: Mapping[str, list[dict[str, Any]]] = bindings.get(
            "actions", {}
        )
        self.ha_triggers: list[dict[str, Any]] = list(data.get("ha_triggers", []))
        # Webhooks run without a Home Assistant binding (see _execute), and only those the
        # user ticked in the review, capped at ASK unless lifted (review.py).
        self.webhooks: Mapping[str, str] = consented_webhooks(definition, data)
        self.runnable = frozenset(self.action_bindings) | frozenset(self.webhooks)
        """The actions a step can run: bound in Home Assistant, or a consented web hook."""
        self.policy = cap_webhooks(self.settings.policy, data, self.webhooks)
        # Rules' `condition`s are Home Assistant conditions, judged by Home Assistant.
        self.conditions = RuleConditions(name)
        self.rules = RuleBrain(definition.rules, extra_condition=self.conditions.judge)
        self._guidance = tuple(_rule_in_words(rule) for rule in definition.rules)
        self.router = BrainRouter(brains or [], self.settings.limits)
        self.privacy = PrivacyGuard(hass, self.settings.privacy_label)
        self.last_brain: dict[str, Any] | None = None
        self._held: _Held | None = None
        self._held_timer: CALLBACK_TYPE | None = None
        self._held_task: asyncio.Task[None] | None = None
        self._think_task: asyncio.Task[list[dict[str, Any]]] | None = None
        self.rate = RecordRate()
        self._in_flight: dict[str, dict[str, Any]] = {}
        self._rate_timer: CALLBACK_TYPE | None = None
        self.own = OwnActivity(hass, entry_id)
        self._thinking = False
        self._lock = asyncio.Lock()
        self._lock_hold: object | None = None
        self.queue = CollapsingQueue()
        self.ledger = GovernanceLedger()
        self.approvals = ApprovalBook()
        style = PhoneStyle.of_agent(
            entry_id,
            urgency_override=self.settings.policy.urgency_override,
            critical=self.settings.critical_notifications,
        )
        self.notifier = Notifier(hass, list(self.settings.notify_targets), style)
        self.escalator = Escalator(
            hass,
            name,
            self.settings,
            style,
            book=lambda: self.approvals,
            save=lambda: self._store.async_save(self._stored()),
        )
        self.executor = ActionExecutor(hass, DOMAIN)
        self.active = True
        self.last_record: dict[str, Any] | None = None
        self.trigger_problems: list[str] = []
        self._records: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._recent_events: deque[str] = deque(maxlen=RECENT_EVENTS)
        self._history: dict[str, Counter[str]] = {}
        self._store = memory_store(hass, entry_id)
        self._unsubs: list[CALLBACK_TYPE] = []
        self._stopped = False
        self._worker: asyncio.Task[None] | None = None
        self.sensitivity = BindingSensitivity(hass, self.action_bindings)
        self._survival = SurvivalPolicy(
            allowed_actions=self.settings.allowed_actions,
            lifted_actions=self.settings.lifted_actions,
        )

    # --- life cycle ---------------------------------------------------------------------

    async def async_start(self) -> None:
        """Load the persisted memory, attach the triggers and start the worker."""
        # Read field by field: a bad part is dropped (and reported), never fatal.
        memory = await async_load_memory(self._store)
        self.ledger = memory.ledger
        self.approvals = memory.approvals
        self.active = memory.active
        self.router.load(memory.router)
        self._history = memory.history
        self._in_flight = memory.in_flight
        # Which parts of the stored memory were dropped.
        self._report(MEMORY_PROBLEMS, memory.problems, "%s: memory: %s", shown=20)
        specs, self.trigger_problems = trigger_specs(
            self.definition.triggers, self.metrics, self.ha_triggers
        )
        if any(isinstance(t, FileWatchTrigger) for t in self.definition.triggers) and (
            "folder_watcher" not in self.hass.config.components
        ):
            self.trigger_problems.append(
                "a filewatch trigger needs the Folder Watcher integration, "
                "which is not set up"
            )
        self._report(TRIGGER_PROBLEMS, self.trigger_problems)  # the rest still run
        await self.conditions.async_prepare(self.hass, self.definition.rules)
        # Rules whose condition is bad are refused.
        self._report(
            RULE_CONDITIONS, self.conditions.problems, "%s: %s; the rule is refused"
        )
        # Checked now (a bad trigger fails the set-up), attached once Home Assistant runs.
        configs = await async_validate(self.hass, specs)
        self._stopped = False

        async def attach(_hass: HomeAssistant) -> None:
            await self._async_attach(specs, configs)

        self._unsubs.append(async_at_started(self.hass, attach))
        self._unsubs.append(
            async_track_time_interval(self.hass, self._async_expire, EXPIRY_CHECK)
        )
        await self._async_expire(dt_util.utcnow())
        await self.escalator.async_start()
        await self._async_interrupted()

    def _report(
        self,
        kind: str,
        problems: list[str],
        line: str = "%s: %s",
        shown: int | None = None,
    ) -> None:
        """Log the agent's `problems` and have Repairs keep its issue `kind` in step.

        `shown`: at most so many listed in the issue (all are logged).
        """
        for problem in problems:
            _LOGGER.warning(line, self.name, problem)
        report_problems(self.hass, kind, self.entry_id, self.name, problems[:shown])

    async def _async_interrupted(self) -> None:
        """Say which approved actions were running when the agent stopped (interrupted)."""
        if not self._in_flight:
            return
        while self._in_flight:
            record_id, flight = self._in_flight.popitem()
            record = with_execution(flight["record"], ExecutionStatus.INTERRUPTED)
            self._publish(record)
            await self.notifier.async_suggest(
                record_id,
                f"{self.name}: check {RecordView.of(record).action}",
                f"Home Assistant stopped while it ran ({flight['verdict']}); "
                "it may or may not have happened. Check it.",
            )
        self._changed(save=True)

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
        self.escalator.stop()
        while self._unsubs:
            self._unsubs.pop()()
        self.queue.clear()
        if self._held_timer is not None:
            self._held_timer()
            self._held_timer = None
        if self._rate_timer is not None:
            self._rate_timer()
            self._rate_timer = None
        self._held = None
        for task in (self._worker, self._held_task, self._think_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._worker = self._held_task = self._think_task = None
        await self._store.async_save(self._stored())

    # --- state the entities show ----------------------------------------------------------

    @property
    def ceiling(self) -> AutonomyLevel:
        """The most this agent may do, set by the user (options / the select entity)."""
        return self.settings.ceiling

    @property
    def survival(self) -> SurvivalPolicy:
        """The survival layer: the user's limits, never the agent's."""
        # Judged on what the bindings will run now (scripts and scenes can change).
        why = self.sensitivity.sensitive()
        if (
            self._survival.ceiling != self.ceiling
            or self._survival.sensitive_reasons != why
        ):
            self._survival = replace(
                self._survival,
                ceiling=self.ceiling,
                sensitive_actions=SECURITY_SENSITIVE_ACTIONS | frozenset(why),
                sensitive_reasons=why,
            )
        return self._survival

    @property
    def pending_approvals(self) -> int:
        """Approvals waiting for an answer."""
        return len(self.approvals.pending("approval"))

    def interruptions_last_hour(self) -> int:
        """SUGGEST and ASK decisions granted in the last hour."""
        return self.ledger.interruptions_last_hour(dt_util.utcnow())

    def in_quiet_hours(self) -> bool:
        """Whether the agent's quiet hours are on now (local time)."""
        quiet = self.policy.quiet_hours
        return quiet is not None and quiet.contains(
            dt_util.now().time().replace(tzinfo=None)
        )

    async def async_set_active(self, active: bool) -> None:
        """Pause or resume perception; a paused agent ignores its triggers."""
        self.active = active
        self._changed(save=True)

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
        self._changed()

    # --- perception ---------------------------------------------------------------------

    @callback
    def _perceive(self, perceived: PerceivedEvent, context: Context | None) -> None:
        if not self.active or self.own.is_own(perceived.event, context):
            return
        self.queue.put(perceived.event, perceived.collapse_key)
        if self._worker is None or self._worker.done():
            self._worker = self.hass.async_create_task(
                self._async_drain(), f"{DOMAIN} agent {self.name}", eager_start=False
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
        if self._lock_hold is not None and _LOCK_HOLDER.get() is self._lock_hold:
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

    # --- thinking and deciding ------------------------------------------------------------

    async def async_process(
        self, event: Event, *, escalate: bool = False, background: bool = False
    ) -> list[dict[str, Any]]:
        """Brain -> gate -> delivery for one event; returns the records made.

        The rules judge first. An LLM brain is asked only when a matching rule escalates,
        the caller asks (`escalate`) or the options send every event; within the minimum
        interval, or while another call is out, the event is held, and a burst of them
        coalesces into one later call. The rules' settled intents are delivered before
        an LLM is awaited, and the agent's lock is not held while it thinks; with
        `background` (the trigger worker) the call runs as its own task, so the next
        event does not wait for it (its records are then not returned).
        """
        async with self._locked():
            settled, escalated = self.rules.assess(event)
            context = self._context(event)
            # Privacy only matters where an LLM may later see the event (its summary).
            private = self.router.has_llm and self.privacy.is_private(event)
            wants_llm = self.router.has_llm and (
                bool(escalated) or escalate or self.settings.llm_every_event
            )
            if not wants_llm:
                return await self._async_decide(
                    event, context, private, settled + escalated
                )
            wait = self.router.wait(dt_util.utcnow())
            if wait or self._thinking:
                self._hold(_Held(event, context, private, escalated), wait)
                return await self._async_decide(event, context, private, settled)
            records = await self._async_decide(event, context, private, settled)
            self._thinking = True  # from here on, other escalations wait their turn
        think = self._async_think(event, context, private, escalated)
        if background:
            self._think_task = self.hass.async_create_task(
                think, f"{DOMAIN} {self.name} thinking"
            )
            return records
        return records + await think

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        """Hold the agent's lock: one event at a time, decided and delivered in order.

        Approvals and undos (`async_resolve`) do not take it, so a pending ASK never
        waits on it. The hold is marked in a context variable, which the tasks an action
        starts inherit; `async_evaluate` uses it to refuse an action of this agent that
        evaluates this agent (it would wait for itself). An automation that such an action
        triggers and that evaluates this agent before the action ends is refused too.
        """
        async with self._lock:
            self._lock_hold = hold = object()
            token = _LOCK_HOLDER.set(hold)
            try:
                yield
            finally:
                _LOCK_HOLDER.reset(token)
                self._lock_hold = None

    async def _async_decide(
        self,
        event: Event,
        context: Mapping[str, Any],
        private: bool,
        settled: list[Intent],
        outcome: RouteOutcome | None = None,
        *,
        remember: bool = True,
    ) -> list[dict[str, Any]]:
        """Gate and deliver the rules' settled intents, then the LLM tier's answer.

        Only the answer's records carry the brain block (`x_pai.brain`). `remember`:
        add the event to the brain's short memory (once per event).
        """
        records = []
        sourced: list[tuple[Intent, RouteOutcome | None]] = [(i, None) for i in settled]
        if outcome is not None:
            sourced += [(intent, outcome) for intent in outcome.intents]
        now = dt_util.now()
        admitted = []
        for intent, source in sourced:
            if self.rate.admit(now):
                admitted.append((intent, source))
            else:  # a flood: counted, told once (_rate_note)
                self._schedule_rate_note(now)
        if admitted:
            inputs = self.ledger.inputs(now, self.policy, self._interruption_cost())
            planned = steps(
                [intent for intent, _ in admitted],
                self.policy,
                inputs,
                self.survival,
                self.runnable,
            )
            for step, (_, source) in zip(planned, admitted, strict=True):
                self.ledger.record(step.decision, now)
                records.append(await self._deliver(event, step, context, source))
        if remember:
            self._recent_events.append(event.kind if private else _summary(event))
        self._changed(save=True)
        return records

    def _schedule_rate_note(self, now: datetime) -> None:
        if self._rate_timer is None:
            self._rate_timer = async_call_later(
                self.hass, max(1.0, self.rate.free_in(now)), self._rate_note
            )

    @callback
    def _rate_note(self, _now: datetime) -> None:
        """Make the one record that says how many decisions a flood skipped."""
        self._rate_timer = None
        if not (skipped := self.rate.take_skipped()):
            return
        message = (
            f"{skipped} decisions were skipped: more than {self.rate.limit} "
            "records in a minute"
        )
        _LOGGER.warning("%s: %s", self.name, message)
        intent = Intent(
            RATE_LIMITED_ACTION,
            rationale=message,
            confidence=1.0,
            requested_level=AutonomyLevel.OBSERVE,
        )
        event = Event(
            source=DOMAIN,
            kind=RATE_LIMITED_ACTION,
            payload={"skipped": skipped, "limit": self.rate.limit},
            time=dt_util.utcnow(),
        )
        decision = Decision(intent, AutonomyLevel.OBSERVE, AutonomyLevel.OBSERVE)
        self._publish(
            build_record(
                event,
                decision,
                status=ExecutionStatus.OBSERVED,
                extensions={"ha": {"entry_id": self.entry_id, "agent": self.name}},
            ),
            announce=True,
        )

    # --- the LLM tier -----------------------------------------------------------------------

    def _hold(self, held: _Held, wait: float) -> None:
        """Keep the newest escalated event for the next allowed call (a burst costs one).

        Its context is the one it came with: the LLM hears what happened before it, not
        the event itself as history. While a call is out, the timer is set when it ends
        (`_async_think`).
        """
        if self._held is not None:
            held = replace(held, coalesced=self._held.coalesced + 1)
        self._held = held
        if self._held_timer is None and not self._thinking:
            self._held_timer = async_call_later(self.hass, wait, self._release_held)

    @callback
    def _release_held(self, _now: datetime) -> None:
        self._held_timer = None
        if self._thinking:  # a call went out meanwhile: its end sets the timer again
            return
        self._thinking = True
        self._held_task = self.hass.async_create_task(
            self._async_process_held(), f"{DOMAIN} {self.name} held event"
        )

    async def _async_process_held(self) -> None:
        async with self._locked():
            if self._held is None:
                self._thinking = False
                return
            held, self._held = self._held, None
        # The event is in the short memory already (remembered when it was held).
        await self._async_think(
            held.event,
            held.context,
            held.private,
            held.escalated,
            coalesced=held.coalesced,
        )

    async def _async_think(
        self,
        event: Event,
        context: Mapping[str, Any],
        private: bool,
        escalated: list[Intent],
        *,
        coalesced: int = 0,
    ) -> list[dict[str, Any]]:
        """Ask the LLM chain without the agent's lock, then gate and deliver its answer.

        The caller set `_thinking`; it is cleared here, and an event held meanwhile gets
        its turn.
        """
        try:
            outcome = await self._async_ask(
                event, context, private, escalated, coalesced=coalesced
            )
            async with self._locked():
                return await self._async_decide(
                    event, context, private, [], outcome, remember=False
                )
        finally:
            self._thinking = False
            if self._held is not None and self._held_timer is None:
                self._held_timer = async_call_later(
                    self.hass, self.router.wait(dt_util.utcnow()), self._release_held
                )

    async def _async_ask(
        self,
        event: Event,
        context: Mapping[str, Any],
        private: bool,
        escalated: list[Intent],
        *,
        coalesced: int = 0,
    ) -> RouteOutcome:
        """Ask the LLM chain; the rules' escalated intents are the fallback."""
        request = BrainRequest(
            agent=self.name,
            event=event,
            context=context,
            actions=self.action_choices(),
            user_profile=self.definition.brain.user_profile,
            description=self.definition.manifest.description,
            hints=tuple(escalated),
            guidance=self._guidance,
        )
        outcome = await self.router.async_route(
            request,
            escalated,
            now=dt_util.utcnow(),
            private=private,
        )
        if coalesced:
            outcome = replace(
                outcome,
                notes=(*outcome.notes, f"{coalesced} earlier events coalesced"),
            )
        if outcome.auth_failed and (
            entry := self.hass.config_entries.async_get_entry(self.entry_id)
        ):
            entry.async_start_reauth(self.hass)
        self.last_brain = outcome.to_dict()
        return outcome

    def action_choices(self) -> tuple[ActionChoice, ...]:
        """Return the actions an LLM may propose: runnable, allowed, capped by the gate.

        Each comes with the highest level the gate can grant it (`gate.highest_level`).
        """
        survival = self.survival
        names = self.runnable
        if survival.allowed_actions is not None:
            names &= survival.allowed_actions
        return tuple(
            ActionChoice(
                name, highest_level(name, self.policy, survival), self._describe(name)
            )
            for name in sorted(names)
        )

    def _describe(self, action: str) -> str:
        """Say what an action does in Home Assistant terms (services and entities)."""
        if action in self.webhooks:
            return "calls a web hook"
        parts = []
        for step in self.action_bindings.get(action, []):
            service = step.get("action") or step.get("service")
            if not isinstance(service, str):
                continue
            target = step.get("target") or {}
            entities = target.get("entity_id") if isinstance(target, Mapping) else None
            if isinstance(entities, str):
                entities = [entities]
            if entities:  # a labelled entity's id never goes out in a description
                entities = [
                    "a private entity"
                    if self.privacy.entity_is_private(str(eid))
                    else str(eid)
                    for eid in entities
                ]
            parts.append(service + (f" on {', '.join(entities)}" if entities else ""))
        return "; ".join(parts)

    def _context(self, event: Event) -> dict[str, Any]:
        now = dt_util.now()
        return {
            "user_state": self._render(self.settings.user_state_template, "unknown"),
            "recent_events": list(reversed(self._recent_events)),
            "action_history": [
                {"action": action, **counts} for action, counts in self._history.items()
            ],
            "declines": self.ledger.inputs(now, self.policy).recent_declines,
            "time_of_day": now.strftime("%H:%M"),
            "quiet_hours": self.in_quiet_hours(),
        }

    def _interruption_cost(self) -> float:
        rendered = self._render(
            self.settings.interruption_cost_template,
            str(DEFAULT_INTERRUPTION_COST),
        )
        try:
            cost = float(rendered)
        except ValueError:
            _LOGGER.warning(
                "%s: interruption cost template gave %r, not a number; using %s",
                self.name,
                rendered,
                DEFAULT_INTERRUPTION_COST,
            )
            return DEFAULT_INTERRUPTION_COST
        return (
            min(1.0, max(0.0, cost))
            if math.isfinite(cost)
            else DEFAULT_INTERRUPTION_COST
        )

    def _render(self, template: str | None, default: str) -> str:
        if not template:
            return default
        try:
            return str(Template(template, self.hass).async_render(parse_result=False))
        except TemplateError as err:
            _LOGGER.warning("%s: template failed: %s", self.name, err)
            return default

    # --- delivery ---------------------------------------------------------------------------

    async def _deliver(
        self,
        event: Event,
        step: Step,
        context: Mapping[str, Any],
        outcome: RouteOutcome | None = None,
    ) -> dict[str, Any]:
        """Carry out one step of the loop and publish its record."""
        decision = step.decision
        intent = decision.intent
        extensions: dict[str, Any] = {
            "ha": {"entry_id": self.entry_id, "agent": self.name}
        }
        if outcome is not None:
            extensions["brain"] = outcome.to_dict()
        title = f"{self.name}: {intent.action}"
        message = intent.rationale or intent.action

        def record_with(
            status: ExecutionStatus,
            taken: list[ActionTaken] | None = None,
            **ids: Any,
        ) -> dict[str, Any]:
            return build_record(
                event,
                decision,
                context,
                status=status,
                actions_taken=taken or (),
                extensions=extensions,
                **ids,
            )

        if step.delivery in (Delivery.RECORD, Delivery.UNBOUND):
            return self._publish(record_with(step.status))

        if step.delivery is Delivery.SUGGEST:
            record = self._fit(record_with(step.status))
            await self.notifier.async_suggest(
                record["record_id"], title, message, urgency=intent.urgency
            )
            return self._publish(record, fitted=True)

        if step.delivery is Delivery.ASK:
            record = self._fit(record_with(step.status))
            # Say what will really run, from the binding; the model's words only quoted.
            title = self.what_runs(record)
            message = with_quote(title, self.name, intent.rationale)
            sensitive = intent.action in self.survival.sensitive_actions
            notice = Notice(title, message, intent.urgency, sensitive)
            try:
                nonce = await self._async_wait_for_answer(
                    record["record_id"],
                    "approval",
                    self.settings.approval_expiry_minutes,
                    {"record": record, "event": event.to_dict(), "cause": event.cause}
                    | self.escalator.begin(dt_util.utcnow(), notice),
                )
            except ApprovalError as err:  # never replace what waits under this id
                _LOGGER.warning("%s: %s", self.name, err)
                return self._publish(
                    with_execution(
                        record,
                        ExecutionStatus.FAILED,
                        [ActionTaken(intent.action, "failed", str(err))],
                    )
                )
            await self.notifier.async_ask(
                record["record_id"],
                nonce,
                title,
                message,
                urgency=intent.urgency,
                sensitive=sensitive,
            )
            self.escalator.schedule()
            return self._publish(record)

        # Run first, then make the record once, with what the run did.
        now = dt_util.utcnow()
        record_id = new_record_id(now)
        result = await self._async_run(
            intent.action,
            intent.params,
            perception(event),
            record_id,
            self.own.context(parent_id=event.cause),
        )
        record = self._fit(
            record_with(
                ExecutionStatus(result.status),
                [ActionTaken(intent.action, result.status, result.result)],
                record_id=record_id,
                now=now,
            )
        )
        await self._async_offer_undo(record, result)
        return self._publish(record, fitted=True)

    def what_runs(self, record: Mapping[str, Any]) -> str:
        """Say what the record's action will run ("Unlock: Front door (lock.unlock)")."""
        view = RecordView.of(record)
        action = view.action
        if action not in self.action_bindings and action in self.webhooks:
            return f"Post to {self.webhooks[action]} (web hook {action})"
        return describe_sequence(
            self.hass,
            self.action_bindings.get(action, []),
            {
                "params": action_params(view.params),
                "event": view.perception,
                "record_id": view.record_id,
            },
        )

    async def _async_run(
        self,
        action: str,
        params: Mapping[str, Any],
        perceived: Mapping[str, Any],
        record_id: str,
        context: Context,
    ) -> ExecutionResult:
        """Run an action's binding (or post its web hook) now, under `context`."""
        sequence = self.action_bindings.get(action)
        if sequence is not None or action not in self.webhooks:
            return await self.executor.async_execute(
                sequence,
                params=params,
                event=perceived,
                record_id=record_id,
                context=context,
            )
        # The documented minimal payload; never for an event about private things.
        if self.privacy.payload_is_private(perceived.get("raw_data_summary")):
            return ExecutionResult(
                ExecutionStatus.NOT_EXECUTED,
                "not posted: the event is about an entity labelled private",
            )
        return await self.executor.async_post_webhook(
            self.webhooks[action],
            webhook_payload(
                self.name, record_id, perceived, action, action_params(params)
            ),
            record_id,
        )

    async def _execute(
        self, record: dict[str, Any], context: Context
    ) -> dict[str, Any]:
        """Run an approved record's action now; offer an undo on the phones when it ran."""
        view = RecordView.of(record)
        action = view.action
        result = await self._async_run(
            action, view.params, view.perception, view.record_id, context
        )
        record = with_execution(
            record,
            ExecutionStatus(result.status),
            [ActionTaken(action, result.status, result.result)],
        )
        await self._async_offer_undo(record, result)
        return record

    async def _async_offer_undo(
        self, record: dict[str, Any], result: ExecutionResult
    ) -> None:
        """Offer an undo of what ran, on the phones, saying what it will put back.

        Only for what an undo may do alone (never opening anything).
        """
        if result.status == ExecutionStatus.EXECUTED and result.snapshot:
            undo = undo_plan(self.hass, result.snapshot)
            if undo.restore:
                nonce = await self._async_wait_for_answer(
                    record["record_id"],
                    "undo",
                    self.settings.undo_window_minutes,
                    {"snapshot": undo.restore, "left": undo.left, "record": record},
                )
                await self.notifier.async_offer_undo(
                    record["record_id"],
                    nonce,
                    f"{self.name} did: {self.what_runs(record)}",
                    describe_undo(self.hass, undo),
                )

    async def _async_wait_for_answer(
        self,
        record_id: str,
        kind: PendingKind,
        minutes: float,
        payload: dict[str, Any],
    ) -> str:
        """Keep an approval or undo offer (saved before it is sent); return its nonce."""
        now = dt_util.utcnow()
        nonce = new_nonce()
        pushed_out = self.approvals.add(
            PendingItem(
                record_id, kind, nonce, now, now + timedelta(minutes=minutes), payload
            )
        )
        if pushed_out:  # the book is full: the oldest expire now, and say so
            await self._async_expired(pushed_out)
        await self._store.async_save(self._stored())
        return nonce

    # --- answers from the user ----------------------------------------------------------------

    def waits_for(self, record_id: str, kind: PendingKind, nonce: str) -> bool:
        """Whether this agent waits for an answer to `record_id` with this nonce."""
        item = self.approvals.get(record_id, kind)
        return item is not None and item.nonce == nonce

    def has_record(self, record_id: str) -> bool:
        """Whether this agent made the record (recently, or has it pending)."""
        return record_id in self._records or any(
            item.record_id == record_id for item in self.approvals.pending()
        )

    async def async_resolve(
        self,
        record_id: str,
        verdict: str,
        nonce: str | None = None,
        user_id: str | None = None,
    ) -> dict[str, Any]:
        """Approve, decline or undo a record, exactly once. Raises ResolveError."""
        approvers = self.settings.approvers
        if approvers and user_id not in approvers:
            raise ResolveError(
                "not_an_approver", f"user {user_id} may not answer {record_id}"
            )
        kind = Verb(verdict).kind
        # nonce None: an authenticated Home Assistant action, not a phone tap.
        claim = self.approvals.claim(record_id, kind, nonce, dt_util.utcnow())
        if claim.outcome is ClaimOutcome.EXPIRED and claim.item is not None:
            await self._async_expired([claim.item])
        if claim.outcome is not ClaimOutcome.OK or claim.item is None:
            raise ResolveError(
                str(claim.outcome), f"{verdict} of {record_id}: {claim.outcome}"
            )
        item = claim.item
        record: dict[str, Any] = item.payload["record"]
        # Persist the claim before acting: a crash now must not run it twice, and a
        # crash before it is done brings the record back as interrupted.
        self._in_flight[record_id] = {"record": record, "verdict": verdict}
        await self._store.async_save(self._stored())
        try:
            return await self._async_carry_out(
                record_id, verdict, item, record, user_id
            )
        finally:
            self._in_flight.pop(record_id, None)
            self._changed(save=True)

    async def _async_carry_out(
        self,
        record_id: str,
        verdict: str,
        item: PendingItem,
        record: dict[str, Any],
        user_id: str | None,
    ) -> dict[str, Any]:
        """Run what a won claim asks (approve, decline or undo) and publish it."""
        action = RecordView.of(record).action
        now = dt_util.now()
        context = self.own.context(user_id, parent_id=item.payload.get("cause"))
        await self.notifier.async_dismiss(record_id)
        await self.escalator.async_withdraw(item)
        if verdict == "approve":
            record = await self._execute(record, context)
            record = with_feedback(record, Feedback.ACCEPTED)
        elif verdict == "decline":
            record = with_feedback(
                with_execution(record, ExecutionStatus.DECLINED), Feedback.REJECTED
            )
            self.ledger.record_decline(action, now)
        else:
            await self._async_check_undo(record_id, item.payload)
            undone = await self.executor.async_undo(item.payload["snapshot"], context)
            if undone.status != ExecutionStatus.EXECUTED:
                raise ResolveError(
                    "undo_failed", f"undo of {record_id}: {undone.result}"
                )
            record = with_feedback(
                with_execution(record, ExecutionStatus.UNDONE), Feedback.REJECTED
            )
            self.ledger.record_decline(action, now)
        return self._publish(record, announce=True)

    async def _async_check_undo(
        self, record_id: str, payload: Mapping[str, Any]
    ) -> None:
        """Refuse (and tell the user) an undo of entities changed since PAI left them."""
        left = payload.get("left")
        if not isinstance(left, Mapping):
            return  # an offer kept before undo checked states: nothing to compare with
        undo = undo_plan(self.hass, payload.get("snapshot") or [])
        changed = changed_since(self.hass, left)
        if not changed and not undo.withheld:
            return
        why = (
            f"changed since: {', '.join(changed)}"
            if changed
            else f"it would open {', '.join(undo.withheld)}"
        )
        await self.notifier.async_suggest(
            record_id, f"{self.name}: nothing was undone", f"Nothing was undone: {why}"
        )
        raise ResolveError("undo_changed", f"undo of {record_id}: {why}")

    async def async_feedback(
        self, record_id: str, feedback: Feedback
    ) -> dict[str, Any]:
        """Record what the user thought of a decision; a rejection counts as a decline."""
        record = self._records.get(record_id)
        if record is None:
            raise ResolveError("unknown_record", f"no recent record {record_id}")
        record = with_feedback(record, feedback)
        if feedback == Feedback.REJECTED:
            self.ledger.record_decline(RecordView.of(record).action, dt_util.now())
        return self._publish(record, announce=True)

    async def _async_expire(self, now: datetime) -> None:
        if expired := self.approvals.expire(dt_util.utcnow()):
            await self._async_expired(expired)

    async def _async_expired(self, expired: list[PendingItem]) -> None:
        """Expired approvals are ignored requests; expired undo offers just go.

        Each is handled on its own: one that cannot be read does not keep the others.
        """
        for item in expired:
            try:
                if item.kind == "approval":
                    record = with_feedback(
                        with_execution(item.payload["record"], ExecutionStatus.EXPIRED),
                        Feedback.IGNORED,
                    )
                    self._publish(record)
            except (KeyError, TypeError, ValueError) as err:
                _LOGGER.warning(
                    "%s: the expired %s of %s could not be recorded: %s",
                    self.name,
                    item.kind,
                    item.record_id,
                    err,
                )
            await self.notifier.async_dismiss(item.record_id)
            await self.escalator.async_withdraw(item)
        self._changed(save=True)
        await self._store.async_save(self._stored())

    # --- replay -------------------------------------------------------------------------------

    def replay(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Run a recorded event through today's brain and policy; nothing is executed."""
        old = RecordView.of(record)
        event = Event(
            source=old.trigger_source or "replay",
            kind=old.event_type or "replay",
            payload=dict(old.payload),
            time=dt_util.parse_datetime(old.event_time) or dt_util.utcnow(),
            id=old.event_id or "replay",
        )
        inputs = self.ledger.inputs(
            dt_util.now(), self.policy, self._interruption_cost()
        )
        planned = steps(
            self.rules.think(event, self._context(event)),
            self.policy,
            inputs,
            self.survival,
            self.runnable,
        )
        new = [
            {
                "action": step.decision.intent.action,
                "granted_level": int(step.decision.granted),
                "reasons": [reason.to_dict() for reason in step.decision.reasons],
            }
            for step in planned
        ]
        return {
            "record_id": old.record_id,
            "old": {
                "action": old.action,
                "granted_level": old.granted_level,
                "status": old.status,
                "reasons": list(old.reasons),
            },
            "new": new,
        }

    def recent_record(self, record_id: str) -> dict[str, Any] | None:
        """Return a record this agent made recently, in its latest state."""
        return self._records.get(record_id)

    def recent_records(self) -> list[dict[str, Any]]:
        """Return the records this agent made recently, oldest first, in their latest state."""
        return list(self._records.values())

    # --- bookkeeping ----------------------------------------------------------------------

    def _publish(
        self, record: dict[str, Any], *, announce: bool = False, fitted: bool = False
    ) -> dict[str, Any]:
        """Remember the record's latest state and fire `pai_record`.

        The entities are told once per event (`announce`, or `_changed` by the caller), not
        once per record: each update rewrites every entity of the agent.
        """
        if not fitted:
            record = self._fit(record)
        record_id = record["record_id"]
        self._records[record_id] = record
        self._records.move_to_end(record_id)
        while len(self._records) > RECENT_RECORDS:
            self._records.popitem(last=False)
        self.last_record = record
        view = RecordView.of(record)
        self._history.setdefault(view.action, Counter())[view.status] += 1
        self.hass.bus.async_fire(
            EVENT_PAI_RECORD,
            {"entry_id": self.entry_id, "agent": self.name, "record": record},
        )
        if announce:
            self._changed(save=True)
        return record

    def _fit(self, record: dict[str, Any]) -> dict[str, Any]:
        """Cut a record to what the recorder keeps; warn (and Repairs) if it cannot."""
        fitted, fits = fit_record(record)
        if not fits:
            _LOGGER.warning(
                "%s: record %s is too large for the recorder even cut down; "
                "it is kept here but will be missing from the history",
                self.name,
                record["record_id"],
            )
            report_record_too_large(
                self.hass, self.entry_id, self.name, record["record_id"]
            )
        return fitted

    @callback
    def _changed(self, *, save: bool = False) -> None:
        if save:
            self._store.async_delay_save(self._stored, SAVE_DELAY)
        async_dispatcher_send(self.hass, self.signal)

    def _stored(self) -> dict[str, Any]:
        return stored_memory(
            ledger=self.ledger,
            approvals=self.approvals,
            in_flight=self._in_flight,
            active=self.active,
            router=self.router.to_dict(),
            history=self._history,
        )


def _summary(event: Event) -> str:
    """One line per event, for the brain's short memory."""
    details = " ".join(
        f"{key}={value}" for key, value in event.payload.items() if key != "attributes"
    )
    return f"{event.kind} from {event.source}: {details}".strip()


def _rule_in_words(rule: Rule) -> str:
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
