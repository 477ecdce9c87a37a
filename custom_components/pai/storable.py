"""Whether a config entry's data can be kept by Home Assistant's own storage.

Config entries are saved, all of them together, with Home Assistant's JSON encoder (orjson).
One value it cannot encode (a lone surrogate, an integer beyond 64 bits, nesting past its
limit) makes every later save of `core.config_entries` fail, for every integration, and
what was changed since is lost at the next restart. So an entry's data is checked before it
is created or updated: the engine's strict check (what a `.pai` reader refuses), then a
round trip through Home Assistant's encoder and decoder, which must give the data back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.helpers.json import json_bytes
from homeassistant.util.json import json_loads

from .engine.container import check_json_value

ENTRY_MAX_DEPTH = 64
"""How deep entry data may nest: file sections (32) sit a few levels down in it."""


def storable_problem(data: Mapping[str, Any]) -> str | None:
    """Return one line saying why `data` cannot be stored unchanged, or None if it can."""
    try:
        check_json_value(dict(data), max_depth=ENTRY_MAX_DEPTH)
        decoded = json_loads(json_bytes(data))
    except (ValueError, TypeError) as err:  # orjson's errors are both
        return str(err).splitlines()[0] if str(err) else type(err).__name__
    if decoded != _as_json(data):
        return "the data changes when Home Assistant stores it"
    return None


def _as_json(value: Any) -> Any:
    """Return the JSON shape of plain data: tuples become lists, as encoders write them."""
    if isinstance(value, Mapping):
        return {key: _as_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_as_json(item) for item in value]
    return value
