"""Custom integrations for Home Assistant (this repository ships `pai`)."""
