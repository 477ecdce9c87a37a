"""The local brain in a real Home Assistant, with the real Gemma 3 270M model and llama.cpp.

Only the phone's notify service is a recording mock (no phone exists here). Everything
else is real: the config entry, the triggers, the router, llama-cpp-python, the model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
import sys
import time

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    async_capture_events,
    async_mock_service,
)

from custom_components.pai.agent_files import AgentFile
from custom_components.pai.brains.local_gguf import async_validate, decode
from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from custom_components.pai.engine.brain import (
    ActionChoice,
    BrainError,
    BrainRequest,
    parse_answer,
)
from custom_components.pai.engine.models import AutonomyLevel, Event
from custom_components.pai.llama_runtime import (
    DATA_CHILD_ENV,
    LlamaUnavailableError,
    LoadedModel,
    model_pool,
)
from tests.local.helpers import local_brain, rules_decide

from ..helpers import motion, start
from .conftest import local_entry


def light(hass: HomeAssistant) -> str:
    state = hass.states.get("input_boolean.porch_light")
    assert state is not None
    return state.state


@pytest.mark.usefixtures("house")
async def test_the_local_model_decides_and_the_gate_still_caps_it(
    hass: HomeAssistant, agent_file: AgentFile
) -> None:
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    entry = await start(hass, local_entry(agent_file))
    brain = local_brain(entry)
    assert not brain._ready.done()  # setup did not wait for the model

    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await motion(hass)  # the rule escalates: the local model is asked
    await hass.async_block_till_done()

    outcome = entry.runtime_data.runtime.llm.last_brain
    assert outcome is not None
    assert outcome["name"] == "local", outcome
    usage = outcome["usage"]
    assert usage["input_tokens"] > 100  # the system prompt and the event
    assert usage["output_tokens"] > 0
    assert usage["cost"] == 0
    assert usage["model"] == f"gguf:{agent_file.weights[0].sha256[:12]}"
    # The model proposed with its grammar-bound answer; the records say it was the model.
    assert records, "the model proposed nothing"
    for event in records:
        record = event.data["record"]
        assert record["x_pai"]["brain"]["name"] == "local"
        assert record["3_anticipation"]["action"] == "porch_light_on"
        # The policy caps porch_light_on at ASK: whatever the model asked for, the light
        # does not go on by itself; at most the owner is asked.
        assert record["3_anticipation"]["granted_level"] <= 2
        assert record["4_execution"]["status"] in {
            "observed",
            "suggested",
            "pending_approval",
        }
    assert light(hass) == "off"
    asked = [
        r for r in records if r.data["record"]["4_execution"]["status"] != "observed"
    ]
    assert len(phone) == len(asked)


@pytest.mark.usefixtures("house")
async def test_two_agents_share_one_model_released_with_the_last(
    hass: HomeAssistant, agent_file: AgentFile
) -> None:
    one = await start(hass, local_entry(agent_file, title="Porch watch"))
    two = await start(hass, local_entry(agent_file, title="Porch twin"))
    first, second = local_brain(one), local_brain(two)
    await async_validate(hass, one.data)  # the config flow's check passes
    await first.async_ready()
    await second.async_ready()

    pool = model_pool(hass)
    assert first.key == second.key
    assert pool.loads == 1  # one load for both
    assert pool.models == {first.key: 2}
    model = await pool.async_model(first.key)
    assert model.llama._model is not None  # loaded: llama.cpp holds the weights

    assert await hass.config_entries.async_unload(one.entry_id)
    assert pool.models == {first.key: 1}  # the twin still uses it
    assert model.llama._model is not None

    assert await hass.config_entries.async_unload(two.entry_id)
    assert pool.models == {}
    assert model.llama._model.model is None  # freed now, not at garbage collection

    # Loading the agent again loads the model again.
    assert await hass.config_entries.async_setup(one.entry_id)
    await local_brain(one).async_ready()
    assert pool.loads == 2


CRASHES = {
    "SIGSEGV": "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n",
    "SIGILL": "import os, signal\nos.kill(os.getpid(), signal.SIGILL)\n",
    "exit status 1": "raise ImportError('libllama.so: cannot open shared object file')\n",
}


@pytest.mark.usefixtures("house")
@pytest.mark.parametrize("crash", list(CRASHES))
async def test_a_broken_native_module_is_a_repair_and_the_rules_decide(
    hass: HomeAssistant, tmp_path: Path, crash: str
) -> None:
    fake = tmp_path / "site" / "llama_cpp"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(CRASHES[crash])
    hass.data[DATA_CHILD_ENV] = {"PYTHONPATH": str(fake.parent)}
    loaded_before = "llama_cpp" in sys.modules
    weights = {"weights.gguf": {"sha256": "0" * 64, "size": 1}}  # never reached

    entry = await start(hass, local_entry(None, weights=weights))
    brain = local_brain(entry)
    with pytest.raises(LlamaUnavailableError):
        await brain.async_ready()

    issue = ir.async_get(hass).async_get_issue(
        DOMAIN, f"local_brain_unavailable_{entry.entry_id}"
    )
    assert issue is not None
    assert issue.translation_key == "local_brain_unavailable"
    error = issue.translation_placeholders["error"]
    assert crash in error
    if crash == "SIGILL":
        assert "another CPU" in error
    if crash == "exit status 1":
        assert "cannot open shared object file" in error  # the child's stderr tail
    # Home Assistant is unharmed, and nothing was imported into it.
    assert hass.state is CoreState.running
    assert ("llama_cpp" in sys.modules) == loaded_before
    assert entry.state is ConfigEntryState.LOADED

    # The agent runs on its rules: the escalated rule's own intent asks the owner.
    brain_info = await rules_decide(hass)
    assert any("local: unavailable" in note for note in brain_info["fallback"])

    # Unloading clears the issue with the agent.
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert (
        ir.async_get(hass).async_get_issue(
            DOMAIN, f"local_brain_unavailable_{entry.entry_id}"
        )
        is None
    )


@pytest.mark.usefixtures("house")
async def test_an_agent_without_weights_says_so_and_runs_on_rules(
    hass: HomeAssistant,
) -> None:
    entry = await start(hass, local_entry(None))
    brain = local_brain(entry)
    with pytest.raises(LlamaUnavailableError, match=r"no weights\.gguf"):
        await brain.async_ready()
    issue = ir.async_get(hass).async_get_issue(
        DOMAIN, f"local_brain_unavailable_{entry.entry_id}"
    )
    assert issue is not None
    assert "no weights.gguf" in issue.translation_placeholders["error"]
    await rules_decide(hass)


@pytest.mark.usefixtures("house")
async def test_missing_extracted_weights_are_reported(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    hass.config.config_dir = str(tmp_path)
    weights = {"weights.gguf": {"sha256": "ab" * 32, "size": 10}}
    entry = await start(hass, local_entry(None, weights=weights))
    with pytest.raises(LlamaUnavailableError, match="is missing"):
        await local_brain(entry).async_ready()
    # What the config flow asks before creating such an agent says the same.
    with pytest.raises(BrainError, match="is missing"):
        await async_validate(hass, entry.data)
    await rules_decide(hass)


@pytest.mark.usefixtures("house")
async def test_inference_is_one_at_a_time_per_model_even_when_a_caller_gives_up(
    hass: HomeAssistant, agent_file: AgentFile
) -> None:
    one = await start(hass, local_entry(agent_file, title="Porch watch"))
    two = await start(hass, local_entry(agent_file, title="Porch twin"))
    key = await local_brain(one).async_ready()
    assert await local_brain(two).async_ready() == key
    pool = model_pool(hass)
    spans: list[tuple[str, float, float]] = []

    def job(name: str) -> Callable[[LoadedModel], str]:
        def run(model: LoadedModel) -> str:
            started = time.monotonic()
            time.sleep(0.3)  # stands in for a native call that cannot be interrupted
            spans.append((name, started, time.monotonic()))
            return name

        return run

    # The first caller gives up (a router timeout) while its job is still running.
    first = hass.async_create_task(pool.async_run(key, job("first")))
    await asyncio.sleep(0.05)
    first.cancel()
    assert await pool.async_run(key, job("second")) == "second"
    with pytest.raises(asyncio.CancelledError):
        await first
    (a, a_start, a_end), (b, b_start, _) = spans
    assert (a, b) == ("first", "second")
    assert b_start >= a_end  # the second waited for the abandoned first to finish
    assert a_end > a_start


def test_a_cut_off_answer_keeps_the_intents_it_finished() -> None:
    request = BrainRequest(
        agent="Porch watch",
        event=Event(
            source="motion", kind="ha.state", payload={}, time=dt_util.utcnow()
        ),
        context={},
        actions=(
            ActionChoice("porch_light_on", AutonomyLevel.ACT),
            ActionChoice("notify_owner", AutonomyLevel.SUGGEST),
        ),
    )
    cut = (
        '{"intents": [{"action": "porch_light_on", "confidence": 0.8, "urgency": 0.6, '
        '"level": 3, "rationale": "someone is\nat the door"}, {"action": "notify_ow'
    )
    intents, dropped = parse_answer(decode(cut), request)
    assert [intent.action for intent in intents] == ["porch_light_on"]
    assert intents[0].rationale == "someone is\nat the door"
    assert dropped == ()
    with pytest.raises(BrainError):
        parse_answer(decode('{"intents": [{"action": "porch'), request)
