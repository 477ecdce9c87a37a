"""Checking a brain before it is kept: what the config flow, setup and Repairs show.

A server that never answers is a form error after the check's time, a brain with nothing to
check passes, and a brain that breaks while checked is an error on the form, not a crash.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from homeassistant.core import HomeAssistant
import pytest

from custom_components.pai.brains import checks
from custom_components.pai.brains.checks import async_brain_problem, async_validate
from tests.loopback import serving
from tests.scripted_brain import ScriptedBrain


async def test_a_server_that_never_answers_is_a_form_error_in_time(
    hass: HomeAssistant, socket_enabled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checks, "VALIDATE_TIMEOUT", 0.2)
    released = asyncio.Event()

    async def models(request: web.Request) -> web.Response:
        await released.wait()  # accepted, never answered
        return web.json_response({"data": []})

    app = web.Application()
    app.router.add_get("/v1/models", models)
    async with serving(app) as base:
        config = {"kind": "openai", "base_url": f"{base}/v1"}
        problem = await async_brain_problem(hass, config, "gemma")
        released.set()
    assert problem == ("cannot_connect", "no answer in 0.2 s")


async def test_rules_and_brains_without_a_check_pass(hass: HomeAssistant) -> None:
    assert await async_brain_problem(hass, {"kind": "rules"}, None) is None
    await async_validate(
        ScriptedBrain("scripted")
    )  # nothing to reach: nothing to refuse


async def test_a_brain_that_breaks_while_checked_is_an_error_not_a_crash(
    hass: HomeAssistant,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("the brain's own bug")

    monkeypatch.setattr(checks, "create_brain", broken)
    problem = await async_brain_problem(hass, {"kind": "openai"}, None)
    assert problem == ("unknown", "the brain's own bug")
    assert "Checking the openai brain failed" in caplog.text
