"""An agent never wakes on what it did itself: its own entities and its own contexts.

Every action an agent runs (at ACT, on an approval, an undo) carries a Home Assistant
`Context` the agent made and remembers (the last `MAX_CONTEXTS`). A trigger that fires for
a change made in one of them, or in a context whose parent is one (an automation that the
agent's change set off), is ignored, as is a change of one of the agent's own entities (its
sensors, switch, select): otherwise an agent that reacts to what it does would feed itself.
"""

from __future__ import annotations

from collections import OrderedDict

from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import entity_registry as er

from .engine.models import Event

MAX_CONTEXTS = 1024


class OwnActivity:
    """The contexts one agent made, and the test whether an event is its own doing."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Remember nothing yet."""
        self._hass = hass
        self._entry_id = entry_id
        self._contexts: OrderedDict[str, None] = OrderedDict()

    def context(
        self, user_id: str | None = None, parent_id: str | None = None
    ) -> Context:
        """Return a new context for one of the agent's actions, and remember it.

        `parent_id`: the context of the change that caused the action (the trigger's), so
        that the logbook and traces show why it ran.
        """
        context = Context(user_id=user_id, parent_id=parent_id)
        self._contexts[context.id] = None
        while len(self._contexts) > MAX_CONTEXTS:
            self._contexts.popitem(last=False)
        return context

    def is_own(self, event: Event, context: Context | None) -> bool:
        """Whether `event` comes from the agent itself (its actions or its entities)."""
        if context is not None and (
            context.id in self._contexts or context.parent_id in self._contexts
        ):
            return True
        entity_id = event.payload.get("entity_id")
        if not isinstance(entity_id, str):
            return False
        entry = er.async_get(self._hass).async_get(entity_id)
        return entry is not None and entry.config_entry_id == self._entry_id
