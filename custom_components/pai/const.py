"""Constants shared by the PAI integration's Home Assistant modules."""

from typing import Final

DOMAIN: Final = "pai"
MANUFACTURER: Final = "PAI"

CONF_AGENT_NAME: Final = "name"
