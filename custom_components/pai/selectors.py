"""The selectors the config flow, the options flow and the Repairs fix flows share."""

from __future__ import annotations

from collections.abc import Iterable

from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio as vol

from .const import (
    BRAIN_AI_TASK,
    BRAIN_ANTHROPIC,
    BRAIN_OPENAI,
    CONF_AI_TASK_ENTITY,
    CONF_API_KEY,
    CONF_BASE_URL,
    CONF_BRAIN_MODEL,
    LEVEL_NAMES,
)


def unit() -> NumberSelector:
    """Return a number selector from 0 to 1 (a confidence, an urgency)."""
    return NumberSelector(
        NumberSelectorConfig(min=0, max=1, step=0.01, mode=NumberSelectorMode.BOX)
    )


def count(
    maximum: int, unit_name: str | None = None, minimum: int = 0
) -> NumberSelector:
    """Return a whole-number selector, with its unit if it has one."""
    config = NumberSelectorConfig(
        min=minimum, max=maximum, step=1, mode=NumberSelectorMode.BOX
    )
    if unit_name is not None:
        config["unit_of_measurement"] = unit_name
    return NumberSelector(config)


def price_per_mtok() -> NumberSelector:
    """Return a selector of US dollars per million tokens (0: a free server)."""
    return NumberSelector(
        NumberSelectorConfig(
            min=0,
            max=1000,
            step=0.001,
            mode=NumberSelectorMode.BOX,
            unit_of_measurement="USD/1M tokens",
        )
    )


def dollars() -> NumberSelector:
    """Return a selector of US dollars (the LLM's daily budget)."""
    return NumberSelector(
        NumberSelectorConfig(
            min=0,
            max=1000,
            step=0.01,
            mode=NumberSelectorMode.BOX,
            unit_of_measurement="USD",
        )
    )


def level() -> SelectSelector:
    """Return an autonomy level selector, by name (observe, suggest, ask, act)."""
    return SelectSelector(
        SelectSelectorConfig(
            options=list(LEVEL_NAMES),
            translation_key="autonomy_level",
            mode=SelectSelectorMode.DROPDOWN,
        )
    )


def choices(values: Iterable[str]) -> list[SelectOptionDict]:
    """Return options labelled with their own value."""
    return [SelectOptionDict(value=value, label=value) for value in values]


def multi(
    options: list[SelectOptionDict] | list[str],
    *,
    custom: bool = False,
    key: str | None = None,
    mode: SelectSelectorMode | None = SelectSelectorMode.DROPDOWN,
) -> SelectSelector:
    """Return a selector of several choices (`custom`: the user may type one not listed; mode None: the UI's)."""
    config = SelectSelectorConfig(options=options, multiple=True, custom_value=custom)
    if mode is not None:
        config["mode"] = mode
    if key is not None:
        config["translation_key"] = key
    return SelectSelector(config)


def secret() -> TextSelector:
    """Return a password field (an API key)."""
    return TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))


CREDENTIAL_SCHEMAS: dict[str, vol.Schema] = {
    BRAIN_ANTHROPIC: vol.Schema(
        {
            vol.Required(CONF_API_KEY): secret(),
            vol.Required(CONF_BRAIN_MODEL): TextSelector(),
        }
    ),
    BRAIN_OPENAI: vol.Schema(
        {
            vol.Required(CONF_BASE_URL): TextSelector(
                TextSelectorConfig(type=TextSelectorType.URL)
            ),
            vol.Required(CONF_BRAIN_MODEL): TextSelector(),
            vol.Optional(CONF_API_KEY): secret(),
        }
    ),
    BRAIN_AI_TASK: vol.Schema(
        {
            vol.Required(CONF_AI_TASK_ENTITY): EntitySelector(
                EntitySelectorConfig(domain="ai_task")
            )
        }
    ),
}
"""What each brain needs to be reached; rules and the local model need nothing."""
