"""Checking a brain: its service takes the credentials and answers in time, or not.

The config flow checks a brain before it is saved, setup checks a keyed cloud brain before the
agent starts, and the Repairs fix flow checks it again; all three ask here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
import logging
from typing import Any

from homeassistant.core import HomeAssistant

from ..const import BRAIN_ANTHROPIC, BRAIN_OPENAI, CONF_BRAIN_KIND
from ..engine.brain import Brain, BrainError, FailureKind
from . import create_brain

_LOGGER = logging.getLogger(__name__)

VALIDATE_TIMEOUT = 10.0
"""Seconds a brain gets to answer the check (config flow, setup, the fix flow)."""

KEYED_BRAINS = (BRAIN_ANTHROPIC, BRAIN_OPENAI)
"""Brains whose key is checked at setup (a server in the home without a key is not)."""

ERROR_FOR_KIND = {
    FailureKind.AUTH: "invalid_auth",
    FailureKind.UNAVAILABLE: "cannot_connect",
    FailureKind.TIMEOUT: "cannot_connect",
}
"""The config flow's form error for each way a check fails."""


async def async_validate(brain: Brain) -> None:
    """Ask the brain's service whether it takes the credentials; raise `BrainError` if not.

    A brain without a check (nothing to reach) passes; one that does not answer in
    `VALIDATE_TIMEOUT` seconds counts as unreachable.
    """
    check: Callable[[], Any] | None = getattr(brain, "async_validate", None)
    if check is None:
        return
    try:
        async with asyncio.timeout(VALIDATE_TIMEOUT):
            await check()
    except TimeoutError as err:
        raise BrainError(
            FailureKind.TIMEOUT, f"no answer in {VALIDATE_TIMEOUT:g} s"
        ) from err


async def async_brain_problem(
    hass: HomeAssistant, config: Mapping[str, Any], model: str | None
) -> tuple[str, str] | None:
    """Build the brain `config` describes and check it: None, or (form error, detail)."""
    try:
        brain = create_brain(hass, config, model)
        if brain is not None:
            await async_validate(brain)
    except BrainError as err:
        return ERROR_FOR_KIND.get(err.kind, "unknown"), str(err)
    except Exception as err:  # a brain's bug must not break the form
        _LOGGER.exception("Checking the %s brain failed", config.get(CONF_BRAIN_KIND))
        return "unknown", str(err)
    return None
