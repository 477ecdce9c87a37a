"""What an agent knows of the moment: the context brains see and records keep.

The user's state and the interruption cost come from the user's templates; the recent
events are the brain's short memory (an event about something private is remembered only
by its kind).
"""

from __future__ import annotations

from collections import deque
import logging
import math
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import TemplateError
from homeassistant.helpers.template import Template
from homeassistant.util import dt as dt_util

from .const import DEFAULT_INTERRUPTION_COST
from .engine.models import Event, Policy
from .memory import MemoryKeeper
from .settings import AgentSettings

_LOGGER = logging.getLogger(__name__)

RECENT_EVENTS = 10


class Situation:
    """The agent's view of now: templates, quiet hours, recent events and history."""

    def __init__(
        self,
        hass: HomeAssistant,
        name: str,
        settings: AgentSettings,
        policy: Policy,
        keeper: MemoryKeeper,
    ) -> None:
        """`policy`: the agent's effective policy (quiet hours, decline window)."""
        self.hass = hass
        self.name = name
        self.settings = settings
        self.policy = policy
        self._keeper = keeper
        self._recent: deque[str] = deque(maxlen=RECENT_EVENTS)
        self._templates: dict[str, Template] = {}

    def remember(self, event: Event, private: bool) -> None:
        """Add an event to the brain's short memory (private ones by kind only)."""
        self._recent.append(event.kind if private else summary(event))

    def context(self) -> dict[str, Any]:
        """Return the context of a decision, as brains see it and records keep it."""
        now = dt_util.now()
        memory = self._keeper.memory
        return {
            "user_state": self._render(self.settings.user_state_template, "unknown"),
            "recent_events": list(reversed(self._recent)),
            "action_history": [
                {"action": action, **counts}
                for action, counts in memory.history.items()
            ],
            "declines": memory.ledger.declines_counted(now, self.policy),
            "time_of_day": f"{now.hour:02d}:{now.minute:02d}",
            "quiet_hours": self.in_quiet_hours(),
        }

    def interruptions_last_hour(self) -> int:
        """SUGGEST and ASK decisions granted in the last hour."""
        return self._keeper.memory.ledger.interruptions_last_hour(dt_util.utcnow())

    def in_quiet_hours(self) -> bool:
        """Whether the agent's quiet hours are on now (local time)."""
        quiet = self.policy.quiet_hours
        return quiet is not None and quiet.contains(
            dt_util.now().time().replace(tzinfo=None)
        )

    def interruption_cost(self) -> float:
        """Return the user's interruption cost now (template), between 0 and 1."""
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
        if (compiled := self._templates.get(template)) is None:
            compiled = self._templates[template] = Template(template, self.hass)
        try:
            return str(compiled.async_render(parse_result=False))
        except TemplateError as err:
            _LOGGER.warning("%s: template failed: %s", self.name, err)
            return default


def summary(event: Event) -> str:
    """One line per event, for the brain's short memory."""
    details = " ".join(
        f"{key}={value}" for key, value in event.payload.items() if key != "attributes"
    )
    return f"{event.kind} from {event.source}: {details}".strip()
