"""A rule's `condition`, judged by Home Assistant.

A rule may carry a `condition`: a Home Assistant condition, written as one item of an
automation's `conditions` (`{"condition": "state", "entity_id": "group.family", "state":
"home"}`, a template, `and`/`or`/`not`...). The engine's
rules only match the event (`engine/rules.py` is pure); this module is the judge the host
gives them. A condition is validated when the file is read (an invalid one is refused,
naming the rule) and again when the agent starts; it is checked with Home Assistant's
condition helper each time its rule matches, the event in its variables (`event`,
`trigger.event`). A condition that cannot be checked, because it is not valid or its
check fails, refuses the rule: it is never ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import logging
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import condition as ha_condition, config_validation as cv
import probatio as vol

from .engine.models import Event
from .engine.rules import Rule

_LOGGER = logging.getLogger(__name__)


async def _async_validate(hass: HomeAssistant, rule: Rule) -> list[Any]:
    """Validate `rule`'s condition; raises `vol.Invalid` or `HomeAssistantError`."""
    configs = cv.CONDITIONS_SCHEMA(dict(rule.condition or {}))
    return list(await ha_condition.async_validate_conditions_config(hass, configs))


def _problem(rule: Rule, err: Exception) -> str:
    return (
        f"rule {rule.name!r}: its condition is not a Home Assistant condition ({err})"
    )


async def async_condition_problems(
    hass: HomeAssistant, rules: Iterable[Rule]
) -> list[str]:
    """One line per rule whose condition Home Assistant cannot check."""
    problems = []
    for rule in rules:
        if rule.condition is None:
            continue
        try:
            await _async_validate(hass, rule)
        except (vol.Invalid, HomeAssistantError) as err:
            problems.append(_problem(rule, err))
    return problems


class RuleConditions:
    """The checkers of one agent's rule conditions; the `extra_condition` of its rules."""

    def __init__(self, name: str) -> None:
        """Judge nothing yet: until prepared, every conditioned rule is refused."""
        self._name = name
        self._checkers: dict[int, Any] = {}
        self.problems: list[str] = []

    async def async_prepare(self, hass: HomeAssistant, rules: Iterable[Rule]) -> None:
        """Validate and build a checker for every rule with a condition."""
        self.async_unload()
        self.problems = []
        for rule in rules:
            if rule.condition is None:
                continue
            try:
                configs = await _async_validate(hass, rule)
                checker = await ha_condition.async_conditions_from_config(
                    hass, configs, _LOGGER, f"{self._name}: rule {rule.name}"
                )
            except (vol.Invalid, HomeAssistantError) as err:
                self.problems.append(_problem(rule, err))
                continue
            self._checkers[id(rule)] = checker

    def judge(self, rule: Rule, event: Event) -> bool:
        """Whether `rule`'s condition holds now; one that cannot be checked does not."""
        checker = self._checkers.get(id(rule))
        if checker is None:
            _LOGGER.debug(
                "%s: rule %r refused: its condition cannot be checked",
                self._name,
                rule.name,
            )
            return False
        data = event.to_dict()
        variables: Mapping[str, Any] = {
            "event": data,
            "trigger": {**dict(event.payload), "platform": "pai", "event": data},
        }
        # A check that fails says False (Home Assistant logs why); one that raises
        # anything else is logged by the rule brain, which skips the rule.
        return checker(variables) is True

    def async_unload(self) -> None:
        """Release the checkers (some hold listeners)."""
        for checker in self._checkers.values():
            checker.async_unload()
        self._checkers = {}
