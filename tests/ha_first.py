"""Imports Home Assistant before any other pytest plugin (`-p tests.ha_first` in pyproject.toml).

From 2026.11 on, importing `homeassistant` aliases `httpx` to `httpx2`, which must happen before
the first `import httpx`; pytest-homeassistant-custom-component's plugin imports respx (and so
httpx) before it imports Home Assistant. On 2026.10 this import changes nothing.
"""

import homeassistant  # noqa: F401
