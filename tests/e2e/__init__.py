"""End-to-end tests: a real `hass` process on loopback, driven over HTTP."""
