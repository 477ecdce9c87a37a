"""The config flow's forms: their fields, the brains offered, and the error a refused file shows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from homeassistant.helpers.selector import (
    ActionSelector,
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    FileSelector,
    FileSelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
import probatio as vol  # Home Assistant 2026.9+ validates with probatio

from . import selectors
from .agent_draft import CONF_ACTION, CONF_CONFIDENCE, CONF_LEVEL
from .agent_files import NotEnoughSpaceError
from .const import (
    BRAIN_AI_TASK,
    BRAIN_ANTHROPIC,
    BRAIN_OPENAI,
    BRAIN_RULES,
    CONF_AGENT_NAME,
    CONF_API_KEY,
    CONF_BRAIN_KIND,
    LEVEL_NAMES,
)
from .engine.agent import AgentDefinitionError, MissingAgentSectionError
from .engine.container import (
    BadMagicError,
    ChecksumError,
    DecompressionError,
    InvalidJsonError,
    MissingSectionError,
    PaiFormatError,
    SectionBoundsError,
    SectionTableError,
    SectionTooLargeError,
    TooManySectionsError,
    TruncatedError,
    UnsafeSectionNameError,
    UnsupportedFlagsError,
    UnsupportedVersionError,
)
from .engine.signing import SignatureError

CONF_FILE = "pai_file"
CONF_ENTITIES = "entities"
CONF_MINUTES = "minutes"
# Checked in order: the first class the error is an instance of names its form error.
FILE_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (BadMagicError, "bad_magic"),
    (UnsupportedVersionError, "unsupported_version"),
    (UnsupportedFlagsError, "unsupported_version"),
    (TruncatedError, "truncated"),
    (UnsafeSectionNameError, "unsafe_name"),
    (TooManySectionsError, "too_large"),
    (SectionTooLargeError, "too_large"),
    (SectionTableError, "invalid_table"),
    (SectionBoundsError, "invalid_table"),
    (ChecksumError, "checksum"),
    (SignatureError, "checksum"),
    (DecompressionError, "checksum"),
    (MissingSectionError, "missing_section"),
    (MissingAgentSectionError, "missing_section"),
    (InvalidJsonError, "invalid_section"),
    (AgentDefinitionError, "invalid_agent"),
    (NotEnoughSpaceError, "no_space"),
    (PaiFormatError, "invalid_file"),
)

UPLOAD_SCHEMA = vol.Schema(
    {vol.Required(CONF_FILE): FileSelector(FileSelectorConfig(accept=".pai"))}
)
CONF_AS_SHADOW = "as_shadow"
RECONFIGURE_SCHEMA = vol.Schema(
    {
        vol.Optional(CONF_FILE): FileSelector(FileSelectorConfig(accept=".pai")),
        vol.Optional(CONF_AS_SHADOW, default=False): BooleanSelector(),
    }
)
"""Reconfigure: a new file, or none to change only the brain; live now, or as a shadow."""

CLOUD_BRAINS = (BRAIN_RULES, BRAIN_ANTHROPIC, BRAIN_OPENAI, BRAIN_AI_TASK)
"""The brains any agent can use; the local model needs weights in the agent file."""

WEIGHTS_SECTION = "weights.gguf"


def brain_kind_selector(engines: Iterable[str]) -> SelectSelector:
    """Return the list of brains to choose from."""
    return SelectSelector(
        SelectSelectorConfig(
            options=list(engines),
            translation_key="brain_engine",
            mode=SelectSelectorMode.LIST,
        )
    )


REAUTH_SCHEMA = vol.Schema({vol.Required(CONF_API_KEY): selectors.secret()})


def valid_url(url: str) -> bool:
    """Whether `url` is an http(s) address with a host."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def error_key(err: Exception) -> str:
    """Return the form error that names what is wrong with a refused file."""
    return next(key for kind, key in FILE_ERRORS if isinstance(err, kind))


ACTION_FIELDS: dict[vol.Marker, Any] = {
    vol.Optional(CONF_ACTION): ActionSelector(),
    vol.Required(CONF_LEVEL, default=LEVEL_NAMES[1]): selectors.level(),
    vol.Required(CONF_CONFIDENCE, default=0.9): NumberSelector(
        NumberSelectorConfig(min=0, max=1, step=0.05, mode=NumberSelectorMode.SLIDER)
    ),
}
"""One action an agent made here may propose: what it does, its cap and its confidence."""

CREATE_ACTION_SCHEMA = vol.Schema(ACTION_FIELDS)

CREATE_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_AGENT_NAME): TextSelector(),
        vol.Optional(CONF_ENTITIES): EntitySelector(
            EntitySelectorConfig(multiple=True)
        ),
        vol.Optional(CONF_MINUTES): selectors.count(59, "min", minimum=1),
        **ACTION_FIELDS,
        vol.Required(CONF_BRAIN_KIND, default=BRAIN_RULES): brain_kind_selector(
            CLOUD_BRAINS
        ),
    }
)
