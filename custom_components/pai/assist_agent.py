"""The Assist agent: what a conversation agent proposes, governed like any PAI decision.

A conversation agent (OpenAI, Anthropic, Ollama, ... with the PAI LLM API) never calls a
service itself through PAI: it *proposes* one (`propose` tool) with a rationale. Each Home
Assistant user has their own Assist agent, a small `AgentRuntime` with no triggers and no
rules, kept in memory while Home Assistant runs: its own ledger (budgets, declines), its own
pending approvals and undo offers, persisted like any agent's (`.storage/pai.assist_<user id>`).
A proposal is an intent whose action name *is* the call, `<service> <entity,...> [<data>]`
(`light.turn_on light.kitchen {"brightness_pct":50}`), so that what the survival layer judges
(`sensitivity.py`: locks, covers, alarms and whatever a scene or script would open) is
exactly what will run, an approval hours later (or after a restart) runs the same call, and
three declines of "unlock the front door" back off that call only.

The gate, the survival layer (the Assist allowlist of domains, the ceiling, security-sensitive
calls at most ASK), quiet hours and the interruption budget decide the level; delivery is the
runtime's: a record, a nudge, an ASK on the phones, or ACT with an undo offer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
import json
from typing import Any

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event as HaEvent, HomeAssistant, valid_entity_id
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .agent_draft import minimal_sections
from .const import (
    CONF_AGENT_NAME,
    CONF_AUTONOMY_CEILING,
    CONF_MAX_INTERRUPTIONS,
    CONF_NOTIFY_TARGETS,
    DOMAIN,
    LEVEL_NAMES,
)
from .engine.agent import AgentDefinition
from .engine.models import AutonomyLevel, Event, Intent
from .runtime import AgentRuntime
from .runtime_data import ASSIST_RUNTIMES
from .survival import SurvivalLayer

ASSIST_DOMAINS: frozenset[str] = frozenset(
    {
        "alarm_control_panel",
        "climate",
        "cover",
        "fan",
        "humidifier",
        "input_boolean",
        "light",
        "lock",
        "media_player",
        "scene",
        "script",
        "switch",
        "vacuum",
        "valve",
        "water_heater",
    }
)
"""The Assist allowlist: the domains a proposal may call (sensitive ones stay at most ASK)."""

ASSIST_POLICY: Mapping[str, Any] = {
    "min_confidence": 0.4,
    "act_confidence": 0.85,
    "default_max_level": int(AutonomyLevel.ACT),
    "max_interruptions_per_hour": 6,
}
"""The Assist agent's gate: may act when sure, within the interruption budget."""

DEFAULT_CONFIDENCE = 0.9
MAX_ENTITIES = 10
MAX_DATA_KEYS = 8
MAX_NAME = 400
TARGET_KEYS = frozenset({"entity_id", "device_id", "area_id", "floor_id", "label_id"})

ASSIST_KEY: HassKey[dict[str, AssistRuntime]] = ASSIST_RUNTIMES


class ProposalError(ValueError):
    """A proposal that cannot become an action; the message names what is wrong."""


@dataclass(frozen=True, slots=True)
class Proposal:
    """One Home Assistant action call that a conversation agent proposes."""

    service: str
    entity_ids: tuple[str, ...]
    data: Mapping[str, Any]

    @property
    def name(self) -> str:
        """The action name that carries the whole call (decoded by `parse`)."""
        name = f"{self.service} {','.join(self.entity_ids)}"
        if self.data:
            name += " " + json.dumps(
                dict(self.data), sort_keys=True, separators=(",", ":")
            )
        return name

    @property
    def domain(self) -> str:
        """The service's domain."""
        return self.service.split(".", 1)[0]

    def sequence(self) -> list[dict[str, Any]]:
        """Return the action sequence that runs it, every part written out (no template)."""
        step: dict[str, Any] = {
            "action": self.service,
            "target": {"entity_id": list(self.entity_ids)},
        }
        if self.data:
            step["data"] = dict(self.data)
        return [step]

    @classmethod
    def build(cls, service: Any, entity_ids: Any, data: Any) -> Proposal:
        """Check a proposal's parts; raise ProposalError naming the first bad one."""
        if not isinstance(service, str) or service.count(".") != 1:
            raise ProposalError(
                f"action must be <domain>.<service>, got {str(service)[:60]!r}"
            )
        service = service.strip().lower()
        domain, verb = service.split(".")
        if not domain.isidentifier() or not verb.isidentifier():
            raise ProposalError(f"action {service[:60]!r} is not a service name")
        if isinstance(entity_ids, str):
            entity_ids = [entity_ids]
        if not isinstance(entity_ids, list | tuple) or not entity_ids:
            raise ProposalError("entity_ids must name at least one entity")
        if len(entity_ids) > MAX_ENTITIES:
            raise ProposalError(f"at most {MAX_ENTITIES} entities per proposal")
        ids: list[str] = []
        for entity_id in entity_ids:
            if not isinstance(entity_id, str) or not valid_entity_id(entity_id):
                raise ProposalError(
                    f"{str(entity_id)[:60]!r} is not an entity id (domain.object_id)"
                )
            ids.append(entity_id)
        data = {} if data is None else data
        if not isinstance(data, Mapping):
            raise ProposalError("data must be an object of the service's fields")
        if len(data) > MAX_DATA_KEYS:
            raise ProposalError(f"at most {MAX_DATA_KEYS} data fields")
        for key, value in data.items():
            if not isinstance(key, str) or not key.isidentifier():
                raise ProposalError(f"data field {str(key)[:40]!r} is not a field name")
            if key in TARGET_KEYS:
                raise ProposalError(
                    f"data may not name targets ({key}): use entity_ids"
                )
            if not isinstance(value, str | int | float | bool) or (
                isinstance(value, str) and ("{" in value or "%" in value)
            ):
                raise ProposalError(
                    f"data field {key} must be a plain number, text or true/false"
                )
        proposal = cls(service, tuple(sorted(set(ids))), dict(data))
        if len(proposal.name) > MAX_NAME:
            raise ProposalError("the proposal is too long")
        return proposal

    @classmethod
    def parse(cls, name: str) -> Proposal | None:
        """Read an action name back into its call, or None if it is not one."""
        parts = name.split(" ", 2)
        if len(parts) < 2:
            return None
        try:
            data = json.loads(parts[2]) if len(parts) == 3 else {}
            return cls.build(parts[0], parts[1].split(","), data)
        except ProposalError, ValueError:
            return None


class ProposalBindings(Mapping[str, list[dict[str, Any]]]):
    """The Assist agent's bindings: any valid proposal name binds to its own call.

    The same name gives the same list (the executor validates a binding once per list).
    """

    def __init__(self) -> None:
        """Start with nothing decoded."""
        self._made: dict[str, list[dict[str, Any]]] = {}

    def __getitem__(self, name: str) -> list[dict[str, Any]]:
        """Decode `name`; KeyError when it is not a proposal."""
        if (made := self._made.get(name)) is not None:
            return made
        proposal = Proposal.parse(name)
        if proposal is None:
            raise KeyError(name)
        if len(self._made) > 256:
            self._made.clear()
        self._made[name] = proposal.sequence()
        return self._made[name]

    def __iter__(self) -> Iterator[str]:
        """Iterate over the names decoded so far."""
        return iter(list(self._made))

    def __len__(self) -> int:
        """How many names were decoded so far."""
        return len(self._made)


class AssistRuntime(AgentRuntime):
    """One user's Assist agent: proposals in, governed decisions and records out."""

    def __init__(self, hass: HomeAssistant, user_id: str, user_name: str) -> None:
        """Prepare the agent of `user_id`, with the Assist policy and the phones PAI uses."""
        name = f"Assist ({user_name})"
        sections = minimal_sections(name)
        sections["policy.json"] = dict(ASSIST_POLICY)
        sections["manifest.json"]["description"] = (
            "What conversation agents propose for this user"
        )
        super().__init__(
            hass,
            f"assist_{user_id}",
            name,
            definition=AgentDefinition.from_sections(sections),
            # Any valid proposal name binds to its own call (delivery runs it from here).
            data={CONF_AGENT_NAME: name, "bindings": {"actions": ProposalBindings()}},
            options={
                CONF_AUTONOMY_CEILING: LEVEL_NAMES[AutonomyLevel.ACT],
                CONF_MAX_INTERRUPTIONS: ASSIST_POLICY["max_interruptions_per_hour"],
                CONF_NOTIFY_TARGETS: _phones(hass),
            },
        )
        self.user_id = user_id

    async def async_propose(
        self,
        proposal: Proposal,
        rationale: str,
        *,
        confidence: float = DEFAULT_CONFIDENCE,
        cause: str | None = None,
        conversation_agent: str | None = None,
    ) -> dict[str, Any]:
        """Gate and deliver one proposal; return its PAID record."""
        name = proposal.name
        self.action_bindings[name]  # decoded once: the same list runs
        event = Event(
            source="assist",
            kind="assist.proposal",
            payload={
                "action": proposal.service,
                "entity_ids": list(proposal.entity_ids),
                "data": dict(proposal.data),
                "user_id": self.user_id,
                "conversation_agent": conversation_agent or "",
            },
            time=dt_util.utcnow(),
            cause=cause,
        )
        intent = Intent(
            name,
            params={},
            confidence=max(0.0, min(1.0, confidence)),
            urgency=0.5,
            rationale=rationale,
            requested_level=AutonomyLevel.ACT,
        )
        allowed = proposal.domain in ASSIST_DOMAINS and self.hass.services.has_service(
            proposal.domain, proposal.service.split(".", 1)[1]
        )
        async with self._lock.hold():
            # The survival layer judges this very call; the allowlist is by domain.
            self.survival_layer = SurvivalLayer(
                self.hass,
                {name: proposal.sequence()},
                frozenset({name}) if allowed else frozenset(),
                frozenset(),
            )
            self.runnable = frozenset({name}) if allowed else frozenset()
            records = await self._async_decide(
                event, self.situation.context(), [intent], private=True
            )
        return records[0]


def _phones(hass: HomeAssistant) -> list[str]:
    """Return the loaded PAI agents' notification targets (where PAI already asks)."""
    targets: dict[str, None] = {}
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        for target in entry.runtime_data.runtime.settings.notify_targets:
            targets[target] = None
    return list(targets)


def _index(hass: HomeAssistant) -> Store[list[str]]:
    """Return the store listing the users with an Assist agent (and memory)."""
    return Store(hass, 1, f"{DOMAIN}.assist_users")


async def async_restore_assist(hass: HomeAssistant) -> None:
    """Start the Assist agents of earlier runs: their requests and undo offers wait on."""
    for user_id in await _index(hass).async_load() or []:
        if isinstance(user_id, str) and await hass.auth.async_get_user(user_id):
            await async_assist_runtime(hass, user_id)


async def async_assist_runtime(hass: HomeAssistant, user_id: str) -> AssistRuntime:
    """Return `user_id`'s Assist agent, started on first use (stopped with Home Assistant)."""
    runtimes = hass.data.setdefault(ASSIST_KEY, {})
    if (runtime := runtimes.get(user_id)) is not None:
        return runtime
    index = _index(hass)
    users = await index.async_load() or []
    if user_id not in users:
        await index.async_save([*users, user_id])
    user = await hass.auth.async_get_user(user_id)
    runtime = AssistRuntime(hass, user_id, (user.name if user else None) or user_id)
    if not runtimes:

        async def stop(_event: HaEvent) -> None:
            await async_stop_assist(hass)

        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, stop)
    runtimes[user_id] = runtime
    await runtime.async_start()
    return runtime


async def async_stop_assist(hass: HomeAssistant) -> None:
    """Stop every Assist agent (their memory is saved)."""
    runtimes = hass.data.pop(ASSIST_KEY, {})
    for runtime in runtimes.values():
        await runtime.async_stop()
