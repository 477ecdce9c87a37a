"""The export_agent and import_agent actions: .pai files by path, inside allowed directories."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
import pai  # paigent, the reference implementation
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pai import export
from custom_components.pai.config_flow import PaiConfigFlow
from custom_components.pai.const import DOMAIN
from custom_components.pai.engine.container import PaiReader
from tests.helpers import export_to, porch

WEIGHTS = b"GGUF" + bytes(range(256)) * 64
WEIGHTS_SHA = hashlib.sha256(WEIGHTS).hexdigest()


def keep_weights(hass: HomeAssistant, content: bytes = WEIGHTS) -> None:
    folder = Path(hass.config.path("pai", "weights"))
    folder.mkdir(parents=True)
    (folder / f"{WEIGHTS_SHA}.gguf").write_bytes(content)


async def test_paigent_loads_the_export(hass: HomeAssistant, shelf: Path) -> None:
    entry = porch()
    entry.add_to_hass(hass)
    target = shelf / "porch.pai"

    response = await export_to(hass, entry, str(target))

    assert response == {
        "path": str(target),
        "sections": [
            "manifest.json",
            "policy.json",
            "triggers.json",
            "rules.json",
            "actions.json",
            "ha_bindings.json",
        ],
        "size": target.stat().st_size,
        "missing_weights": [],
    }
    loaded = pai.load_agent(str(target))
    assert loaded["manifest"]["name"] == "Porch watch"
    assert loaded["rules"] == entry.data["agent"]["rules.json"]
    assert loaded["has_weights"] is False
    with PaiReader(target) as reader:
        assert reader.read_json("ha_bindings.json") == {
            "bindings": entry.data["bindings"],
            "ha_triggers": entry.data["ha_triggers"],
            "options": {
                "notify_targets": ["notify.mobile_app_pixel"],
                "min_confidence": 0.5,
            },
        }


async def test_relative_path_is_under_the_config_directory(
    hass: HomeAssistant, shelf: Path
) -> None:
    hass.config.allowlist_external_dirs.add(hass.config.config_dir)
    entry = porch()
    entry.add_to_hass(hass)

    response = await export_to(hass, entry, " porch.pai ")

    assert response["path"] == hass.config.path("porch.pai")
    assert response["size"] > 0


async def test_an_agent_made_in_home_assistant_exports_too(
    hass: HomeAssistant, shelf: Path
) -> None:
    entry = MockConfigEntry(domain=DOMAIN, title="Night", data={"name": "Night"})
    entry.add_to_hass(hass)

    await export_to(hass, entry, str(shelf / "night.pai"))

    loaded = pai.load_agent(str(shelf / "night.pai"))
    assert loaded["manifest"]["name"] == "Night"
    assert loaded["rules"] == []


async def test_weights_go_along_when_asked(hass: HomeAssistant, shelf: Path) -> None:
    keep_weights(hass)
    entry = porch(
        weights={
            "weights.gguf": {"sha256": WEIGHTS_SHA, "size": len(WEIGHTS)},
            "adapters/lost.bin": {"sha256": "0" * 64, "size": 3},
            "adapters/odd.bin": {"sha256": "../../etc/passwd"},
        }
    )
    entry.add_to_hass(hass)

    without = await export_to(hass, entry, str(shelf / "light.pai"))
    response = await export_to(
        hass, entry, str(shelf / "heavy.pai"), include_weights=True
    )

    assert "weights.gguf" not in without["sections"]
    assert response["sections"][-1] == "weights.gguf"
    assert response["missing_weights"] == ["adapters/lost.bin", "adapters/odd.bin"]
    assert pai.load_agent(str(shelf / "heavy.pai"))["has_weights"] is True
    with PaiReader(shelf / "heavy.pai") as reader:
        assert reader.read("weights.gguf") == WEIGHTS


async def test_weights_that_changed_are_not_exported(
    hass: HomeAssistant, shelf: Path
) -> None:
    keep_weights(hass, b"GGUF tampered")
    entry = porch(weights={"weights.gguf": {"sha256": WEIGHTS_SHA, "size": 1}})
    entry.add_to_hass(hass)

    with pytest.raises(HomeAssistantError) as caught:
        await export_to(hass, entry, str(shelf / "heavy.pai"), include_weights=True)

    assert caught.value.translation_key == "export_failed"
    assert "weights.gguf changed" in str(caught.value.translation_placeholders)
    assert not (shelf / "heavy.pai").exists()


async def test_a_failed_write_is_reported(
    hass: HomeAssistant, shelf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "write_pai", disk_full)
    entry = porch()
    entry.add_to_hass(hass)

    with pytest.raises(HomeAssistantError) as caught:
        await export_to(hass, entry, str(shelf / "porch.pai"))

    assert caught.value.translation_key == "export_failed"
    assert "No space left" in caught.value.translation_placeholders["error"]


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("{shelf}/porch.txt", "path_not_pai"),
        ("{shelf}/../porch.pai", "path_not_allowed"),
        ("/etc/porch.pai", "path_not_allowed"),
        ("{shelf}/missing/porch.pai", "path_not_writable"),
        ("{shelf}/folder.pai", "path_not_writable"),
    ],
)
async def test_export_refuses_paths(
    hass: HomeAssistant, shelf: Path, path: str, key: str
) -> None:
    (shelf / "folder.pai").mkdir()
    entry = porch()
    entry.add_to_hass(hass)

    with pytest.raises(ServiceValidationError) as caught:
        await export_to(hass, entry, path.format(shelf=shelf))

    assert caught.value.translation_key == key
    assert caught.value.translation_placeholders == {"path": path.format(shelf=shelf)}


async def test_export_of_an_unknown_agent(hass: HomeAssistant, shelf: Path) -> None:
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(
            DOMAIN,
            "export_agent",
            {"agent": "nope", "path": str(shelf / "x.pai")},
            blocking=True,
            return_response=True,
        )
    assert caught.value.translation_key == "unknown_agent"


async def import_from(hass: HomeAssistant, path: str) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN, "import_agent", {"path": path}, blocking=True, return_response=True
    )
    assert response is not None
    return dict(response)


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("{shelf}/agent.zip", "path_not_pai"),
        ("/etc/agent.pai", "path_not_allowed"),
        ("{shelf}/absent.pai", "path_not_a_file"),
        ("{shelf}/folder.pai", "path_not_a_file"),
    ],
)
async def test_import_refuses_paths(
    hass: HomeAssistant, shelf: Path, path: str, key: str
) -> None:
    (shelf / "folder.pai").mkdir()
    (shelf / "agent.zip").write_bytes(b"PK")

    with pytest.raises(ServiceValidationError) as caught:
        await import_from(hass, path.format(shelf=shelf))

    assert caught.value.translation_key == key


async def exported(hass: HomeAssistant, shelf: Path) -> Path:
    entry = porch()
    entry.add_to_hass(hass)
    await export_to(hass, entry, str(shelf / "porch.pai"))
    await hass.config_entries.async_remove(entry.entry_id)
    return shelf / "porch.pai"


def stand_in_step(
    monkeypatch: pytest.MonkeyPatch, outcome: str
) -> list[dict[str, Any]]:
    """A config flow step that records what it got and ends as `outcome`."""
    seen: list[dict[str, Any]] = []

    async def async_step_import_file(
        self: PaiConfigFlow, data: dict[str, Any]
    ) -> ConfigFlowResult:
        seen.append(data)
        if outcome == "abort":
            return self.async_abort(reason="already_configured")
        if outcome == "form":
            return self.async_show_form(step_id="import_file")
        return self.async_create_entry(title="Porch watch", data={"name": "Porch"})

    monkeypatch.setattr(
        PaiConfigFlow, "async_step_import_file", async_step_import_file, raising=False
    )
    return seen


async def test_import_hands_the_file_to_the_config_flow(
    hass: HomeAssistant, shelf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = await exported(hass, shelf)
    seen = stand_in_step(monkeypatch, "form")

    response = await import_from(hass, str(path))

    assert seen == [{"path": str(path)}]
    assert response == {
        "flow_id": response["flow_id"],
        "type": "form",
        "step_id": "import_file",
    }
    [flow] = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == "import_file"


async def test_import_that_creates_the_agent_at_once(
    hass: HomeAssistant, shelf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = await exported(hass, shelf)
    stand_in_step(monkeypatch, "create")

    response = await import_from(hass, str(path))

    assert response["type"] == "create_entry"
    assert hass.config_entries.async_get_entry(response["entry_id"]) is not None


async def test_import_abort_says_why(
    hass: HomeAssistant, shelf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = await exported(hass, shelf)
    stand_in_step(monkeypatch, "abort")

    with pytest.raises(HomeAssistantError) as caught:
        await import_from(hass, str(path))

    assert caught.value.translation_key == "import_aborted"
    assert caught.value.translation_placeholders == {
        "path": str(path),
        "reason": "already_configured",
    }


async def test_the_real_config_flow_reads_the_imported_file(
    hass: HomeAssistant, shelf: Path
) -> None:
    path = await exported(hass, shelf)

    response = await import_from(hass, str(path))

    assert response["type"] in ("form", "create_entry")
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    if response["type"] == "form":
        assert flows[0]["context"]["source"] == "import_file"


def test_bindings_document_is_json() -> None:
    document = export.bindings_document({"name": "x"}, {})
    assert json.loads(json.dumps(document)) == {
        "bindings": {},
        "ha_triggers": [],
        "options": {},
    }
