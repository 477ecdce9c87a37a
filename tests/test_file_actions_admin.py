"""File work is for administrators: the actions that read or write files refuse other users.

A real Home Assistant user without admin rights, logged in with a real access token, calls
each action through the websocket API as the frontend does (`call_service`) and is refused
("Unauthorized"); nothing is written and no flow is opened. The answers (approve, decline, undo, feedback) stay
open to that user. An export never replaces a file unless `overwrite` is on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeassistant.auth.const import GROUP_ID_USER
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.pai.const import DOMAIN
from tests.ha_fixtures import recorder_before_hass  # noqa: F401  # the real recorder

from .helpers import export_to, porch

CLIENT_ID = "https://example.com/app"


async def user_token(hass: HomeAssistant, *, admin: bool) -> str:
    """A real user (an admin, or in the ordinary users' group) and an access token."""
    if admin:
        user = await hass.auth.async_create_user("Owner", group_ids=["system-admin"])
    else:
        user = await hass.auth.async_create_user("Guest", group_ids=[GROUP_ID_USER])
    assert user.is_admin is admin
    refresh = await hass.auth.async_create_refresh_token(user, CLIENT_ID)
    return hass.auth.async_create_access_token(refresh)


async def call_over_websocket(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    token: str,
    service: str,
    data: dict[str, Any],
) -> dict[str, Any]:
    client = await hass_ws_client(hass, token)
    await client.send_json_auto_id(
        {
            "type": "call_service",
            "domain": DOMAIN,
            "service": service,
            "service_data": data,
            "return_response": True,
        }
    )
    message: dict[str, Any] = await client.receive_json()
    await client.close()
    return message


def listing(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def file_calls(shelf: Path, entry_id: str) -> dict[str, dict[str, Any]]:
    return {
        "export_agent": {"agent": entry_id, "path": str(shelf / "stolen.pai")},
        "import_agent": {"path": str(shelf / "existing.pai")},
        "export_preferences": {"agent": entry_id, "path": str(shelf / "prefs.jsonl")},
        "import_adapter": {"agent": entry_id, "path": str(shelf / "adapter.gguf")},
    }


@pytest.mark.parametrize(
    "service", ["export_agent", "import_agent", "export_preferences", "import_adapter"]
)
async def test_a_user_who_is_not_an_admin_cannot_touch_files(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, shelf: Path, service: str
) -> None:
    entry = porch()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await export_to(hass, entry, str(shelf / "existing.pai"))
    (shelf / "adapter.gguf").write_bytes(b"GGUF" + bytes(64))
    before = listing(shelf)
    flows = hass.config_entries.flow.async_progress()

    token = await user_token(hass, admin=False)
    message = await call_over_websocket(
        hass, hass_ws_client, token, service, file_calls(shelf, entry.entry_id)[service]
    )

    # Home Assistant's admin check, as the frontend shows it.
    assert not message["success"]
    assert message["error"]["code"] == "home_assistant_error"
    assert message["error"]["message"] == "Unauthorized"
    await hass.async_block_till_done()
    assert listing(shelf) == before
    assert hass.config_entries.flow.async_progress() == flows  # no flow was opened


async def test_an_admin_exports_over_the_websocket(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, shelf: Path
) -> None:
    entry = porch()
    entry.add_to_hass(hass)
    token = await user_token(hass, admin=True)
    data = file_calls(shelf, entry.entry_id)["export_agent"]

    message = await call_over_websocket(
        hass, hass_ws_client, token, "export_agent", data
    )

    assert message["success"], message
    assert (shelf / "stolen.pai").is_file()
    assert message["result"]["response"]["path"] == str(shelf / "stolen.pai")


async def test_answers_stay_open_to_every_user(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, shelf: Path
) -> None:
    token = await user_token(hass, admin=False)
    for service, data in (
        ("approve", {"record_id": "paid_20260101_000000"}),
        ("decline", {"record_id": "paid_20260101_000000"}),
        ("undo", {"record_id": "paid_20260101_000000"}),
        ("feedback", {"record_id": "paid_20260101_000000", "feedback": "accepted"}),
    ):
        message = await call_over_websocket(hass, hass_ws_client, token, service, data)
        # Authorised: the call ran and found no such record.
        assert message["error"]["code"] == "service_validation_error", service
        assert message["error"]["translation_key"] == "unknown_record"


async def test_an_export_replaces_a_file_only_when_asked(
    hass: HomeAssistant, shelf: Path
) -> None:
    entry = porch()
    entry.add_to_hass(hass)
    target = shelf / "porch.pai"
    target.write_bytes(b"the user's own file")

    with pytest.raises(ServiceValidationError) as caught:
        await export_to(hass, entry, str(target))
    assert caught.value.translation_key == "path_exists"
    assert caught.value.translation_placeholders == {"path": str(target)}
    assert target.read_bytes() == b"the user's own file"

    response = await export_to(hass, entry, str(target), overwrite=True)
    assert response["path"] == str(target)
    assert target.read_bytes().startswith(b"PAI\x01")


async def test_preferences_replace_a_file_only_when_asked(
    recorder_mock: Recorder, hass: HomeAssistant, shelf: Path
) -> None:
    entry = porch()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    target = shelf / "prefs.jsonl"
    target.write_text("keep me\n")

    async def export(**fields: Any) -> Any:
        return await hass.services.async_call(
            DOMAIN,
            "export_preferences",
            {"agent": entry.entry_id, "path": str(target), **fields},
            blocking=True,
            return_response=True,
        )

    with pytest.raises(ServiceValidationError) as caught:
        await export()
    assert caught.value.translation_key == "path_exists"
    assert target.read_text() == "keep me\n"

    response = await export(overwrite=True)
    assert response is not None
    assert response["count"] == 0
    assert target.read_text() == ""
