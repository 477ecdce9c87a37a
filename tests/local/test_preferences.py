"""What the user accepted and rejected leaves Home Assistant as a preference dataset.

A real agent asks, the owner approves one request and declines another through the real
actions; the records reach the real recorder, and `pai.export_preferences` writes them as
JSON Lines in the seed's format ({prompt, chosen, rejected}), ready for DPO elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_mock_service,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from custom_components.pai.engine.brain import system_prompt
from custom_components.pai.engine.preferences import (
    AgentPrompt,
    preference_pairs,
    request_of,
)
from tests.ha_fixtures import recorder_before_hass  # noqa: F401  # the real recorder

from ..helpers import LIGHT_ON, agent_entry, motion, rule, start


@pytest.fixture
def shelf(hass: HomeAssistant, tmp_path: Path) -> Path:
    folder = tmp_path / "shelf"
    folder.mkdir()
    hass.config.allowlist_external_dirs = {str(folder)}
    return folder


async def call(hass: HomeAssistant, service: str, **data: Any) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=True
    )
    assert response is not None
    return dict(response)


async def ask_twice(hass: HomeAssistant) -> tuple[MockConfigEntry, list[str]]:
    """Motion twice: the agent asks twice; the first is approved, the second declined."""
    async_mock_service(hass, "notify", "mobile_app_pixel")
    entry = await start(
        hass,
        agent_entry(
            [rule("motion-at-night", "porch_light_on", 2)],
            bindings={"actions": {"porch_light_on": LIGHT_ON}},
        ),
    )
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await motion(hass)
    await motion(hass, "off")
    await motion(hass)
    asked = [r.data["record"]["record_id"] for r in records]
    assert len(asked) == 2
    await call(hass, "approve", record_id=asked[0])
    await call(hass, "decline", record_id=asked[1])
    await hass.async_block_till_done()
    await async_wait_recording_done(hass)
    return entry, asked


async def test_accepted_and_rejected_decisions_become_preference_pairs(
    recorder_mock: Recorder, house: None, hass: HomeAssistant, shelf: Path
) -> None:
    entry, _ = await ask_twice(hass)

    response = await call(
        hass,
        "export_preferences",
        agent=entry.entry_id,
        path=str(shelf / "porch.jsonl"),
    )

    assert response["count"] == 2
    assert response["path"] == str(shelf / "porch.jsonl")
    lines = (shelf / "porch.jsonl").read_text(encoding="utf-8").splitlines()
    pairs = [json.loads(line) for line in lines]
    assert [set(pair) for pair in pairs] == [{"prompt", "chosen", "rejected"}] * 2
    approved, declined = pairs  # oldest first
    # The prompt is what an LLM brain is shown: the rules, the agent's actions, the event.
    for pair in pairs:
        assert pair["prompt"].startswith("You are the reasoning part")
        assert "- porch_light_on: 3" in pair["prompt"]
        assert '"to_state": "on"' in pair["prompt"]
        assert pair["prompt"].rstrip().endswith("What should the agent do?")
    # Approved: doing it was better than staying silent; declined: the other way round.
    chosen = json.loads(approved["chosen"])["intents"]
    assert [intent["action"] for intent in chosen] == ["porch_light_on"]
    assert chosen[0]["rationale"] == "motion-at-night fired"
    assert chosen[0]["level"] == 2
    assert "event_payload" not in json.dumps(chosen)  # the parser adds it back
    assert json.loads(approved["rejected"]) == {"intents": []}
    assert json.loads(declined["chosen"]) == {"intents": []}
    assert [i["action"] for i in json.loads(declined["rejected"])["intents"]] == [
        "porch_light_on"
    ]


async def test_pending_decisions_teach_nothing(
    recorder_mock: Recorder, house: None, hass: HomeAssistant, shelf: Path
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    entry = await start(
        hass,
        agent_entry(
            [rule("motion-at-night", "porch_light_on", 2)],
            bindings={"actions": {"porch_light_on": LIGHT_ON}},
        ),
    )
    await motion(hass)  # asked, never answered
    await async_wait_recording_done(hass)

    response = await call(
        hass, "export_preferences", agent=entry.entry_id, path=str(shelf / "none.jsonl")
    )

    assert response == {"count": 0, "path": str(shelf / "none.jsonl"), "records": 1}
    assert (shelf / "none.jsonl").read_text() == ""


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("shelf/porch.json", "path_not_jsonl"),
        ("/etc/porch.jsonl", "path_not_allowed"),
        ("shelf/missing/porch.jsonl", "path_not_writable"),
    ],
)
@pytest.mark.usefixtures("recorder_mock", "house")
async def test_bad_paths_are_refused_and_nothing_is_written(
    hass: HomeAssistant,
    shelf: Path,
    path: str,
    error: str,
) -> None:
    entry = await start(hass, agent_entry([rule("r", "porch_light_on", 2)]))
    raw = path.replace("shelf", str(shelf)) if path.startswith("shelf") else path
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "export_preferences", agent=entry.entry_id, path=raw)
    assert err.value.translation_key == error
    assert await hass.async_add_executor_job(lambda: list(shelf.rglob("*"))) == []


def test_the_prompt_rebuilt_from_a_record_is_the_brains_prompt() -> None:
    """Pure: the dataset's prompt for a record uses the same system prompt as the brain."""
    record = {
        "record_id": "paid_20261121_abcdef",
        "timestamp": "2026-11-21T22:10:00+00:00",
        "1_perception": {
            "trigger_source": "motion",
            "event_type": "ha.state",
            "raw_data_summary": {"entity_id": "input_boolean.motion", "to_state": "on"},
        },
        "2_context": {
            "user_current_state": "asleep",
            "relevant_memory": ["ha.state from door"],
            "action_history": [],
        },
        "3_anticipation": {
            "action": "porch_light_on",
            "params": {"brightness": 80, "event_payload": {"to_state": "on"}},
            "confidence_score": 0.9,
            "urgency_score": 0.5,
            "requested_level": 3,
            "predicted_intent": "someone is at the door",
        },
        "6_adaptation": {"user_feedback": "modified"},
        "x_pai": {"event": {"id": "ev1", "time": "2026-11-21T22:09:59+00:00"}},
    }
    agent = AgentPrompt("Porch watch", actions=())
    request = request_of(record, agent)
    assert request.event.id == "ev1"
    assert request.context["user_state"] == "asleep"
    (pair,) = preference_pairs([record, {**record, "6_adaptation": {}}], agent)
    assert pair["prompt"].startswith(system_prompt(request))
    assert json.loads(pair["chosen"])["intents"][0]["params"] == {"brightness": 80}
