"""Shadow versions beside the live one; promote, rollback and the automatic rollback.

A reconfigure may keep the new file (or brain, model, prompt, adapter) as a *shadow*
(`entry.data["shadow"]`: the candidate's entry data and options). The `ShadowRunner` decides
every event the live version perceives with the candidate's rules, policy, bindings and a
ledger of its own, and delivers nothing: it publishes its decisions as `pai_record` events
marked `shadow` (event data `shadow: true`, the record's `x_pai.shadow`), with the status
`observed` or `not_executed`. The candidate's LLM is not asked: an escalating rule's own
intent stands for its answer (the report says so).

The `VersionKeeper` (one per loaded agent; `.storage/pai.versions.<entry_id>`) pairs the two
versions' choices per event, follows the user's answers to the live records (from the
`pai_record` events), keeps the live version's tally of requests and declines/undos, and
after a promotion rolls back by itself when the new version's rate exceeds the previous
one's by the margin set in the options (`versions.py` changes the entry).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timedelta
import logging
import math
from typing import TYPE_CHECKING, Any

from homeassistant.core import Event as HaEvent, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util import dt as dt_util

from .agent_draft import installed_version, minimal_sections
from .conditions import RuleConditions
from .const import (
    CONF_AGENT,
    CONF_ROLLBACK_MARGIN,
    CONF_ROLLBACK_WINDOW,
    DEFAULT_INTERRUPTION_COST,
    DEFAULT_ROLLBACK_MARGIN,
    DEFAULT_ROLLBACK_WINDOW_HOURS,
    DOMAIN,
    EVENT_PAI_RECORD,
    ROLLBACK_MIN_REQUESTS,
)
from .engine.agent import AgentDefinition, AgentDefinitionError
from .engine.bounds import fit_record
from .engine.ledger import GovernanceLedger
from .engine.loop import Delivery, steps
from .engine.models import SECURITY_SENSITIVE_ACTIONS, Event, SurvivalPolicy
from .engine.rate import RecordRate
from .engine.records import ExecutionStatus, RecordView, build_record
from .engine.rules import RuleBrain
from .engine.shadow import (
    DECLINED,
    MAX_COMPARISONS,
    REJECTED,
    UNDONE,
    Choice,
    Comparison,
    Tally,
    answer_of,
    read_comparisons,
    report,
    rollback_reason,
)
from .review import cap_webhooks, consented_webhooks
from .sensitivity import BindingSensitivity
from .settings import AgentSettings
from .versions import CONF_PREVIOUS, CONF_SHADOW, async_rollback, versions_store

if TYPE_CHECKING:
    from .runtime import AgentRuntime
    from .runtime_data import PaiConfigEntry

_LOGGER = logging.getLogger(__name__)

SAVE_DELAY = 5.0
SEEN = 1000
"""Live record ids remembered (a record is counted once, when first seen)."""

_LIVE_DELIVERY: dict[str, Delivery] = {
    ExecutionStatus.OBSERVED: Delivery.RECORD,
    ExecutionStatus.SUGGESTED: Delivery.SUGGEST,
    ExecutionStatus.NO_ACTION_REGISTERED: Delivery.UNBOUND,
    ExecutionStatus.PENDING_APPROVAL: Delivery.ASK,
}
"""How a live record was delivered, by its first status (anything else: it ran, ACT)."""

_NEGATIVE = frozenset({DECLINED, UNDONE, REJECTED})


def _identity(kept: object) -> str | None:
    """Tell one version from another: its file's hash and version, or when it started."""
    if not isinstance(kept, Mapping):
        return None
    return "|".join(
        str(kept.get(key, "")) for key in ("file_sha256", "version", "started")
    )


def _number(value: object, default: float) -> float:
    """Return an option's number, or `default` for anything else (a hand-edited entry)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value) if math.isfinite(value) and value >= 0 else default


class ShadowRunner:
    """The candidate version, deciding beside the live one; it delivers nothing."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        name: str,
        candidate: Mapping[str, Any],
    ) -> None:
        """Read the candidate (`entry.data["shadow"]`); raises AgentDefinitionError."""
        data = candidate.get("data")
        options = candidate.get("options")
        if not isinstance(data, Mapping) or not isinstance(options, Mapping):
            raise AgentDefinitionError("shadow", "the version has no data or options")
        self.hass = hass
        self.entry_id = entry_id
        self.name = name
        self.definition = AgentDefinition.from_sections(
            data.get(CONF_AGENT) or minimal_sections(name)
        )
        self.version = installed_version(data) or "?"
        self.settings = AgentSettings.from_entry(data, options, self.definition.policy)
        bindings = data.get("bindings") or {}
        actions: Mapping[str, Any] = bindings.get("actions") or {}
        webhooks = consented_webhooks(self.definition, data)
        self.runnable = frozenset(actions) | frozenset(webhooks)
        self.policy = cap_webhooks(self.settings.policy, data, webhooks)
        self.conditions = RuleConditions(f"{name} (shadow)")
        self.rules = RuleBrain(
            self.definition.rules, extra_condition=self.conditions.judge
        )
        self.sensitivity = BindingSensitivity(hass, actions)
        self.ledger = GovernanceLedger()
        self.rate = RecordRate()
        """As many shadow records a minute as the live version may make; a flood is cut."""

    def survival(self) -> SurvivalPolicy:
        """Return the candidate's survival layer (its options, its bindings judged now)."""
        why = self.sensitivity.sensitive()
        return SurvivalPolicy(
            ceiling=self.settings.ceiling,
            allowed_actions=self.settings.allowed_actions,
            lifted_actions=self.settings.lifted_actions,
            sensitive_actions=SECURITY_SENSITIVE_ACTIONS | frozenset(why),
            sensitive_reasons=why,
        )

    def decide(
        self, event: Event, context: Mapping[str, Any], now: datetime
    ) -> list[Choice]:
        """Decide `event` as the candidate would, publish the records; deliver nothing."""
        planned = steps(
            self.rules.think(event, context),
            self.policy,
            self.ledger.inputs(now, self.policy, DEFAULT_INTERRUPTION_COST),
            self.survival(),
            self.runnable,
        )
        made = []
        for step in planned:
            if not self.rate.admit(now):
                continue  # a flood: the live version's records say so
            self.ledger.record(step.decision, now)
            record, _ = fit_record(
                build_record(
                    event,
                    step.decision,
                    context,
                    status=(
                        ExecutionStatus.OBSERVED
                        if step.delivery is Delivery.RECORD
                        else ExecutionStatus.NOT_EXECUTED
                    ),
                    extensions={
                        "ha": {"entry_id": self.entry_id, "agent": self.name},
                        "shadow": {
                            "version": self.version,
                            "delivery": str(step.delivery),
                            "llm": "not asked",
                        },
                    },
                )
            )
            self.hass.bus.async_fire(
                EVENT_PAI_RECORD,
                {
                    "entry_id": self.entry_id,
                    "agent": self.name,
                    "record": record,
                    "shadow": True,
                },
            )
            made.append(
                Choice(
                    step.decision.intent.action,
                    str(step.delivery),
                    str(record["record_id"]),
                )
            )
        return made


def live_choice(record: Mapping[str, Any]) -> Choice:
    """Return the live version's choice, read from its record."""
    view = RecordView.of(record)
    delivery = _LIVE_DELIVERY.get(view.status, Delivery.ACT)
    return Choice(view.action, str(delivery), view.record_id)


class VersionKeeper:
    """One loaded agent's versions: the shadow, the pairs, the answers, the tally."""

    def __init__(self, hass: HomeAssistant, entry: PaiConfigEntry) -> None:
        """Prepare; `async_start` loads the store and starts the shadow, if any."""
        self.hass = hass
        self.entry = entry
        self.entry_id = entry.entry_id
        self.name: str = entry.title
        self.signal = f"{DOMAIN}_{entry.entry_id}_updated"
        self.runner: ShadowRunner | None = None
        self.problem: str | None = None
        self.comparisons: OrderedDict[str, Comparison] = OrderedDict()
        self.answers: dict[str, str] = {}
        self.tally = Tally()
        self._seen: OrderedDict[str, bool] = OrderedDict()
        """Live record ids seen: True when counted as a request."""
        self._negated: set[str] = set()
        self._store = versions_store(hass, entry.entry_id)
        self._unsub: Any = None
        self._rolling_back = False
        self._live_id: str | None = None
        self._shadow_id: str | None = None

    # --- life cycle ---------------------------------------------------------------------

    async def async_start(self) -> None:
        """Load what was kept; start the shadow the entry holds; follow the records."""
        try:
            raw = await self._store.async_load()
        except (HomeAssistantError, ValueError) as err:
            _LOGGER.warning("%s: the versions store is unreadable: %s", self.name, err)
            raw = None
        stored: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        candidate = self.entry.data.get(CONF_SHADOW)
        self._shadow_id = _identity(candidate)
        self._live_id = _identity(self.entry.data.get("source"))
        self._read(stored)
        if isinstance(candidate, Mapping):
            try:
                self.runner = ShadowRunner(
                    self.hass, self.entry_id, self.name, candidate
                )
            except (AgentDefinitionError, ValueError, TypeError, AttributeError) as err:
                self.problem = str(err)
                _LOGGER.warning("%s: the shadow version cannot run: %s", self.name, err)
            else:
                await self.runner.conditions.async_prepare(
                    self.hass, self.runner.definition.rules
                )
                if isinstance(ledger := stored.get("ledger"), Mapping):
                    try:
                        self.runner.ledger = GovernanceLedger.from_dict(ledger)
                    except ValueError as err:
                        _LOGGER.warning("%s: shadow ledger dropped: %s", self.name, err)
        self._unsub = self.hass.bus.async_listen(EVENT_PAI_RECORD, self._on_record)

    async def async_stop(self) -> None:
        """Stop following records and write what is kept."""
        if self._unsub is not None:
            self._unsub()
            self._unsub = None
        if self.runner is not None:
            self.runner.conditions.async_unload()
        await self._store.async_save(self._stored())

    def _read(self, raw: Mapping[str, Any]) -> None:
        """Read the store, keeping what belongs to the versions the entry holds now.

        What another live version counted, or another shadow paired, is dropped (a
        reconfigure came in between).
        """
        if raw.get("live") != self._live_id:
            raw = {key: value for key, value in raw.items() if key != "tally"}
        if raw.get("shadow") != self._shadow_id:
            raw = {
                key: value
                for key, value in raw.items()
                if key not in ("comparisons", "answers", "ledger")
            }
        for comparison in read_comparisons(raw.get("comparisons")):
            self.comparisons[comparison.event_id] = comparison
        answers = raw.get("answers")
        if isinstance(answers, Mapping):
            self.answers = {str(k): v for k, v in answers.items() if isinstance(v, str)}
        self.tally = Tally.from_dict(raw.get("tally"))
        seen = raw.get("seen")
        if isinstance(seen, Mapping):
            for key, counted in list(seen.items())[-SEEN:]:
                self._seen[str(key)] = counted is True
        negated = raw.get("negated")
        if isinstance(negated, list):
            self._negated = {str(item) for item in negated if str(item) in self._seen}

    def _stored(self) -> dict[str, Any]:
        return {
            "comparisons": [c.to_dict() for c in self.comparisons.values()],
            "answers": self.answers,
            "tally": self.tally.to_dict(),
            "seen": dict(self._seen),
            "negated": sorted(self._negated),
            "ledger": None if self.runner is None else self.runner.ledger.to_dict(),
            "live": self._live_id,
            "shadow": self._shadow_id,
        }

    def _changed(self) -> None:
        self._store.async_delay_save(self._stored, SAVE_DELAY)
        async_dispatcher_send(self.hass, self.signal)

    async def async_reset(self, tally: Tally | None = None) -> None:
        """Forget the pairs and start a new tally (a promotion or a rollback), saved now."""
        self.comparisons.clear()
        self.answers.clear()
        self.tally = tally or Tally()
        self._seen.clear()
        self._negated.clear()
        if self.runner is not None:
            self.runner.ledger = GovernanceLedger()
        await self._store.async_save(self._stored())

    # --- the hook where the live runtime decides --------------------------------------------

    @callback
    def observe(
        self,
        event: Event,
        context: Mapping[str, Any],
        records: list[dict[str, Any]],
        *,
        first: bool,
    ) -> None:
        """Pair what the live version decided of `event` with the shadow's decision.

        `first`: the event's first decision (not an LLM's later answer).

        The shadow decides it too (once); the live records are paired with its choices.
        """
        if self.runner is None:
            return
        comparison = self.comparisons.get(event.id)
        if comparison is None:
            if not first:
                return  # the event was decided before the shadow started
            comparison = Comparison(event.id, event.time.isoformat(), event.kind)
            self.comparisons[event.id] = comparison
            while len(self.comparisons) > MAX_COMPARISONS:
                _, gone = self.comparisons.popitem(last=False)
                for choice in gone.live:
                    self.answers.pop(choice.record_id, None)
            comparison.shadow = self.runner.decide(event, context, dt_util.now())
        comparison.live += [live_choice(record) for record in records]
        self._changed()

    # --- the user's answers to the live version ---------------------------------------------

    @callback
    def _on_record(self, event: HaEvent[dict[str, Any]]) -> None:
        data = event.data
        if data.get("entry_id") != self.entry_id or data.get("shadow"):
            return
        record = data.get("record")
        if not isinstance(record, Mapping):
            return
        view = RecordView.of(record)
        record_id = view.record_id
        if not record_id:
            return
        if record_id not in self._seen:
            counted = view.status == ExecutionStatus.PENDING_APPROVAL or (
                view.granted_level == 3 and view.status == ExecutionStatus.EXECUTED
            )
            self._seen[record_id] = counted
            self.tally.requests += counted
            while len(self._seen) > SEEN:
                gone, _ = self._seen.popitem(last=False)
                self._negated.discard(gone)
        answer = answer_of(view.status, view.feedback)
        if answer is not None and any(
            choice.record_id == record_id
            for comparison in self.comparisons.values()
            for choice in comparison.live
        ):
            self.answers[record_id] = answer
        if (
            answer in _NEGATIVE
            and self._seen.get(record_id)
            and record_id not in self._negated
        ):
            self._negated.add(record_id)
            self.tally.negatives += 1
            if self.runner is not None:  # the user would decline the shadow's too
                self.runner.ledger.record_decline(view.action, dt_util.now())
            self._check_rollback()
        self._changed()

    def _check_rollback(self) -> None:
        """After a promotion, within the window: roll back when the rate is too high."""
        previous = self.entry.data.get(CONF_PREVIOUS)
        if self._rolling_back or not isinstance(previous, Mapping):
            return
        promoted = dt_util.parse_datetime(str(previous.get("promoted_at") or ""))
        options = self.entry.options
        hours = _number(
            options.get(CONF_ROLLBACK_WINDOW), DEFAULT_ROLLBACK_WINDOW_HOURS
        )
        if promoted is None or dt_util.utcnow() - promoted > timedelta(hours=hours):
            return
        reason = rollback_reason(
            Tally.from_dict(previous.get("baseline")),
            self.tally,
            _number(options.get(CONF_ROLLBACK_MARGIN), DEFAULT_ROLLBACK_MARGIN),
            ROLLBACK_MIN_REQUESTS,
        )
        if reason is None:
            return
        self._rolling_back = True
        _LOGGER.warning("%s: rolling back: %s", self.name, reason)
        self.hass.async_create_task(
            self._async_roll_back(reason), f"{DOMAIN} {self.name} automatic rollback"
        )

    async def _async_roll_back(self, reason: str) -> None:
        try:
            await async_rollback(self.hass, self.entry, reason=reason)
        except HomeAssistantError as err:  # the previous version went meanwhile
            _LOGGER.warning("%s: the automatic rollback failed: %s", self.name, err)
            self._rolling_back = False

    # --- the report ------------------------------------------------------------------------

    def report(self, *, full: bool = True) -> dict[str, Any]:
        """Where the versions disagree and the candidate's score (`full`: with the list)."""
        made = report(self.comparisons.values(), self.answers)
        if not full:
            made.pop("disagreements")
        previous = self.entry.data.get(CONF_PREVIOUS)
        return {
            "live_version": installed_version(self.entry.data),
            "shadow_version": None if self.runner is None else self.runner.version,
            "shadow_problem": self.problem,
            "previous_version": (
                previous.get("version") if isinstance(previous, Mapping) else None
            ),
            "llm": "the shadow decides with its rules: its LLM is not asked",
            "tally": {**self.tally.to_dict(), "rate": round(self.tally.rate, 4)},
            **made,
        }


async def async_start_versions(
    hass: HomeAssistant, entry: PaiConfigEntry, runtime: AgentRuntime
) -> VersionKeeper:
    """Start the agent's version keeper; it stops when the entry unloads."""
    keeper = VersionKeeper(hass, entry)
    await keeper.async_start()
    entry.async_on_unload(keeper.async_stop)
    runtime.shadow = keeper  # the hook where the live version decides
    return keeper
