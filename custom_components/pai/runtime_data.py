"""What a loaded PAI agent keeps in `entry.runtime_data`, and which agent made a record.

The pure package's values (events, intents, decisions, policy) are in `engine/models.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant

from .const import DOMAIN
from .engine.approvals import PendingKind

if TYPE_CHECKING:
    from .runtime import AgentRuntime
    from .shadow import VersionKeeper


@dataclass(slots=True)
class PaiRuntimeData:
    """What a loaded agent keeps in `entry.runtime_data`."""

    runtime: AgentRuntime
    versions: VersionKeeper | None = None
    """The shadow version, its report, and the watch after a promotion (shadow.py)."""


type PaiConfigEntry = ConfigEntry[PaiRuntimeData]


def owner_of_record(
    hass: HomeAssistant,
    record_id: str,
    *,
    kind: PendingKind | None = None,
    nonce: str | None = None,
) -> AgentRuntime | None:
    """Return the loaded agent that made `record_id`, or None.

    With a nonce (a phone's answer), the agent waiting for that nonce comes first: a record
    id alone could be another agent's (ids are random, not unique across agents).
    """
    runtimes = [
        entry.runtime_data.runtime
        for entry in hass.config_entries.async_loaded_entries(DOMAIN)
    ]
    if kind is not None and nonce is not None:
        runtimes.sort(
            key=lambda runtime: not runtime.answers.waits_for(record_id, kind, nonce)
        )
    return next((r for r in runtimes if r.answers.has_record(record_id)), None)
