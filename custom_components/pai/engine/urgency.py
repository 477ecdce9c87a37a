"""How loudly a notification interrupts, from the intent's urgency.

Four levels, as the Companion app's iOS `push.interruption-level` names them: *passive* (no
sound, the screen stays dark), *active* (the default), *time-sensitive* (through Focus and the
summary) and *critical* (through Do Not Disturb and the mute switch, with sound). Critical is
never chosen unless the user opted in for the agent, and then only for an urgency at or
above the policy's urgency override, the same line the gate uses to break through quiet hours.

Pure Python, no Home Assistant: `notifications.py` turns a level into the phone's fields.
"""

from __future__ import annotations

from enum import StrEnum
import math

PASSIVE_BELOW = 0.3
"""An urgency below this interrupts nobody (passive)."""
TIME_SENSITIVE_FROM = 0.7
"""An urgency from this on is time-sensitive (or from the urgency override, when lower)."""


class Interruption(StrEnum):
    """The interruption levels, by the iOS name the Companion app takes."""

    PASSIVE = "passive"
    ACTIVE = "active"
    TIME_SENSITIVE = "time-sensitive"
    CRITICAL = "critical"


def interruption(
    urgency: float | None, override: float, *, critical_allowed: bool = False
) -> Interruption:
    """Return the interruption level for an intent's `urgency` (None: not known, active).

    `override` is the policy's urgency override; `critical_allowed` the agent's opt-in.
    A value that is not a number in [0, 1] reads as active: never louder than asked.
    """
    if (
        urgency is None
        or not isinstance(urgency, int | float)
        or isinstance(urgency, bool)
    ):
        return Interruption.ACTIVE
    if math.isnan(urgency) or not 0 <= urgency <= 1:
        return Interruption.ACTIVE
    if critical_allowed and urgency >= override:
        return Interruption.CRITICAL
    if urgency >= min(TIME_SENSITIVE_FROM, override):
        return Interruption.TIME_SENSITIVE
    if urgency < PASSIVE_BELOW:
        return Interruption.PASSIVE
    return Interruption.ACTIVE
