"""Where answers come in: a phone's button, a spoken answer, an inbox item.

Every surface hands its answer to `async_answer`, which finds the agent that waits for the
request and gives it to that agent's one exactly-once path (the approval book's claim with
the nonce, the approvers check on the user, the same record), so two surfaces answering at
once run the action once. An answer that cannot be used (unknown record, done already,
wrong nonce, not an approver) changes nothing and is logged in one line.
"""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .answers import ResolveError
from .engine.approvals import Verb
from .runtime_data import owner_of_record

_LOGGER = logging.getLogger(__name__)

DEFAULT_SNOOZE: Final = timedelta(minutes=30)
"""How long "later" (a spoken answer, a phone's Snooze with no time typed) waits."""
MAX_SNOOZE_MINUTES: Final = 1440


def snooze_span(minutes: object) -> timedelta | None:
    """Read a snooze of `minutes` (1 to 1440, a number or its text); None for anything else."""
    if isinstance(minutes, bool) or not isinstance(minutes, int | float | str):
        return None
    try:
        value = float(minutes)
    except ValueError:
        return None
    if not 1 <= value <= MAX_SNOOZE_MINUTES:
        return None
    return timedelta(minutes=value)


async def async_answer(
    hass: HomeAssistant,
    verb: Verb,
    record_id: str,
    nonce: str | None,
    *,
    user_id: str | None,
    source: str,
    snooze_for: timedelta | None = None,
) -> bool:
    """Give an answer to the agent that waits for it; tell whether it was taken.

    `source` names the answer for the log ("phone answer PAI_APPROVE_...").
    """
    runtime = owner_of_record(hass, record_id, kind=verb.kind, nonce=nonce)
    if runtime is None:
        _LOGGER.warning("Ignored %s: no agent knows that record", source)
        return False
    try:
        if verb is Verb.SNOOZE:
            until = dt_util.utcnow() + (snooze_for or DEFAULT_SNOOZE)
            await runtime.snoozes.async_snooze(record_id, nonce, until, user_id)
        else:
            await runtime.answers.async_resolve(record_id, verb, nonce, user_id)
    except ResolveError as err:
        _LOGGER.warning("Ignored %s: %s", source, err)
        return False
    return True
