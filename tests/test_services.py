"""PAI's actions as a user or an automation calls them, in a real Home Assistant.

Records are read back from the real recorder (an in-memory SQLite database), answers go
through the service registry, and every bad input must come back as a readable
ServiceValidationError, never a traceback.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.setup import async_setup_component
import probatio as vol
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
    async_mock_service,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from custom_components.pai.record_book import RECENT_RECORDS
from tests.ha_fixtures import recorder_before_hass  # noqa: F401  # the real recorder
from tests.helpers import (
    LIGHT_ON,
    agent_entry,
    light_agent,
    motion,
    rule,
    start,
    start_recording,
    statuses,
)


@pytest.fixture
async def house(hass: HomeAssistant) -> None:
    """A motion sensor and a porch light to switch, and a phone that gets notifications.

    Tests that read the recorder ask for it before this, so that it starts first.
    """
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"motion": {}, "porch_light": {}}}
    )
    async_mock_service(hass, "notify", "mobile_app_pixel")
    await hass.async_block_till_done()


def garden_agent() -> MockConfigEntry:
    """A second agent, that only observes."""
    base = agent_entry([rule("water", "sprinkle", 0, payload=[])], ha_triggers=[])
    return MockConfigEntry(
        domain=DOMAIN,
        title="Garden",
        unique_id="garden",
        data={**base.data, "name": "Garden"},
        options=dict(base.options),
    )


async def call(hass: HomeAssistant, service: str, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=True
    )


async def evaluate(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    response = await call(
        hass,
        "evaluate",
        agent=entry.entry_id,
        kind="ha.state",
        payload={"to_state": "on"},
    )
    [record] = response["records"]
    assert isinstance(record, dict)
    return record


def porch_light(hass: HomeAssistant) -> str:
    state = hass.states.get("input_boolean.porch_light")
    assert state is not None
    return state.state


async def turn_off_porch_light(hass: HomeAssistant) -> None:
    await hass.services.async_call(
        "input_boolean",
        "turn_off",
        {"entity_id": "input_boolean.porch_light"},
        blocking=True,
    )


# --- get_records ------------------------------------------------------------------------------


async def test_get_records_returns_what_the_agents_did_in_its_latest_state(
    recorder_mock: Recorder, house: None, hass: HomeAssistant
) -> None:
    porch = await start(
        hass,
        agent_entry(
            [rule("look", "note", 0), rule("ask", "light_on", 2)],
            bindings={"actions": {"light_on": LIGHT_ON}},
        ),
    )
    garden = await start(hass, garden_agent())
    await motion(hass)  # porch: "note" observed, "light_on" waits for approval
    asked = porch.runtime_data.runtime.book.last
    assert asked is not None
    await call(hass, "approve", record_id=asked["record_id"])
    watered = await evaluate(hass, garden)
    await async_wait_recording_done(hass)

    everything = (await call(hass, "get_records"))["records"]
    assert [
        (r["3_anticipation"]["action"], r["4_execution"]["status"]) for r in everything
    ] == [("sprinkle", "observed"), ("light_on", "executed"), ("note", "observed")]
    assert everything[0] == watered
    assert everything[1]["6_adaptation"]["user_feedback"] == "accepted"

    porch_records = (await call(hass, "get_records", agent=porch.entry_id))["records"]
    assert [r["3_anticipation"]["action"] for r in porch_records] == [
        "light_on",
        "note",
    ]
    executed = (await call(hass, "get_records", status="executed"))["records"]
    assert [r["record_id"] for r in executed] == [asked["record_id"]]
    assert (await call(hass, "get_records", status="pending_approval"))["records"] == []
    assert (await call(hass, "get_records", limit=1))["records"] == [watered]


async def test_get_records_refuses_an_agent_it_cannot_answer_for(
    recorder_mock: Recorder, house: None, hass: HomeAssistant
) -> None:
    garden = await start(hass, garden_agent())
    assert await hass.config_entries.async_unload(garden.entry_id)

    with pytest.raises(ServiceValidationError, match="No PAI agent has the ID nope"):
        await call(hass, "get_records", agent="nope")
    with pytest.raises(ServiceValidationError, match="The agent Garden is not loaded"):
        await call(hass, "get_records", agent=garden.entry_id)
    with pytest.raises(vol.Invalid):
        await call(hass, "get_records", status="approved")
    with pytest.raises(vol.Invalid):
        await call(hass, "get_records", limit=0)


# --- answers: feedback, decline, undo -----------------------------------------------------------


@pytest.mark.usefixtures("house")
async def test_rejected_feedback_makes_the_agent_ask_next_time(
    hass: HomeAssistant,
) -> None:
    records = await start_recording(
        hass, light_agent(3, options={"decline_penalty_threshold": 1})
    )
    await motion(hass)
    assert porch_light(hass) == "on"
    record_id = records[-1].data["record"]["record_id"]

    response = await call(hass, "feedback", record_id=record_id, feedback="rejected")

    assert response["record"]["record_id"] == record_id
    assert response["record"]["6_adaptation"]["user_feedback"] == "rejected"
    assert response["record"]["4_execution"]["status"] == "executed"
    assert records[-1].data["record"] == response["record"]

    await turn_off_porch_light(hass)
    await motion(hass, "off")
    await motion(hass)

    assert porch_light(hass) == "off"
    latest = records[-1].data["record"]
    assert latest["4_execution"]["status"] == "pending_approval"
    assert latest["3_anticipation"]["granted_level"] == 2
    assert "decline_penalty" in [r["code"] for r in latest["x_pai"]["reasons"]]


@pytest.mark.usefixtures("house")
async def test_accepted_feedback_changes_nothing_but_the_record(
    hass: HomeAssistant,
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    entry = await start(
        hass,
        agent_entry(
            [rule("hint", "light_on", 1)], options={"decline_penalty_threshold": 1}
        ),
    )
    first = await evaluate(hass, entry)

    response = await call(
        hass, "feedback", record_id=first["record_id"], feedback="accepted"
    )
    second = await evaluate(hass, entry)

    assert response["record"]["6_adaptation"]["user_feedback"] == "accepted"
    assert second["3_anticipation"]["granted_level"] == 1
    assert statuses(records) == ["suggested", "suggested", "suggested"]


@pytest.mark.usefixtures("house")
async def test_feedback_on_an_unknown_record_or_with_an_unknown_word(
    hass: HomeAssistant,
) -> None:
    entry = await start(hass, agent_entry([rule("hint", "light_on", 1)]))
    record = await evaluate(hass, entry)

    with pytest.raises(ServiceValidationError, match="paid_20260101_abcdef"):
        await call(
            hass, "feedback", record_id="paid_20260101_abcdef", feedback="rejected"
        )
    with pytest.raises(vol.Invalid):
        await call(hass, "feedback", record_id=record["record_id"], feedback="meh")


@pytest.mark.usefixtures("house")
async def test_old_pending_request_can_be_answered_but_not_rated(
    hass: HomeAssistant,
) -> None:
    entry = await start(
        hass,
        agent_entry(
            [rule("ask", "light_on", 2, payload=[]), rule("look", "note", 0)],
            bindings={"actions": {"light_on": LIGHT_ON}},
        ),
    )
    runtime = entry.runtime_data.runtime
    runtime.rate.limit = 10 * RECENT_RECORDS  # not a flood: many records on purpose
    [asked] = await runtime.async_evaluate("ha.state", {"to_state": "off"})
    for _ in range(RECENT_RECORDS):  # the request leaves the recent records
        await runtime.async_evaluate("ha.state", {"to_state": "on"})

    with pytest.raises(ServiceValidationError, match="No recent record"):
        await call(hass, "feedback", record_id=asked["record_id"], feedback="accepted")
    response = await call(hass, "approve", record_id=asked["record_id"])
    assert response["record"]["4_execution"]["status"] == "executed"
    assert porch_light(hass) == "on"


@pytest.mark.usefixtures("house")
async def test_decline_service(hass: HomeAssistant) -> None:
    records = await start_recording(hass, light_agent(2))
    await motion(hass)
    record_id = records[0].data["record"]["record_id"]

    response = await call(hass, "decline", record_id=record_id)

    assert response["record"]["4_execution"]["status"] == "declined"
    assert response["record"]["6_adaptation"]["user_feedback"] == "rejected"
    assert statuses(records) == ["pending_approval", "declined"]
    assert porch_light(hass) == "off"
    with pytest.raises(ServiceValidationError, match="already answered"):
        await call(hass, "approve", record_id=record_id)
    assert porch_light(hass) == "off"


@pytest.mark.usefixtures("house")
async def test_undo_service_restores_the_light_once(hass: HomeAssistant) -> None:
    records = await start_recording(hass, light_agent(3))
    await motion(hass)
    assert porch_light(hass) == "on"
    record_id = records[0].data["record"]["record_id"]

    response = await call(hass, "undo", record_id=record_id)

    assert porch_light(hass) == "off"
    assert response["record"]["4_execution"]["status"] == "undone"
    assert response["record"]["6_adaptation"]["user_feedback"] == "rejected"
    with pytest.raises(ServiceValidationError, match="already answered"):
        await call(hass, "undo", record_id=record_id)
    with pytest.raises(ServiceValidationError, match="nothing waiting"):
        await call(hass, "decline", record_id=record_id)


# --- replay -------------------------------------------------------------------------------------


async def test_replay_of_a_record_only_the_recorder_still_has(
    recorder_mock: Recorder, house: None, hass: HomeAssistant
) -> None:
    entry = await start(hass, light_agent(3, options={"decline_penalty_threshold": 1}))
    record = await evaluate(hass, entry)
    await call(hass, "feedback", record_id=record["record_id"], feedback="rejected")
    await turn_off_porch_light(hass)
    await async_wait_recording_done(hass)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.runtime_data.runtime.book.get(record["record_id"]) is None

    replay = await call(hass, "replay", record_id=record["record_id"])

    assert replay["record_id"] == record["record_id"]
    assert replay["old"]["granted_level"] == 3
    assert replay["old"]["status"] == "executed"
    # today the agent would ask: the rejection counts as a decline
    [new] = replay["new"]
    assert new["action"] == "light_on"
    assert new["granted_level"] == 2
    assert "decline_penalty" in [r["code"] for r in new["reasons"]]
    assert porch_light(hass) == "off"


async def test_replay_of_a_record_nobody_knows(
    recorder_mock: Recorder, house: None, hass: HomeAssistant
) -> None:
    entry = await start(hass, agent_entry([rule("hint", "light_on", 1)]))
    await evaluate(hass, entry)
    await async_wait_recording_done(hass)

    with pytest.raises(ServiceValidationError, match="paid_20260101_abcdef"):
        await call(hass, "replay", record_id="paid_20260101_abcdef")


async def test_replay_of_a_record_of_an_unloaded_agent(
    recorder_mock: Recorder, house: None, hass: HomeAssistant
) -> None:
    garden = await start(hass, garden_agent())
    record = await evaluate(hass, garden)
    await async_wait_recording_done(hass)
    assert await hass.config_entries.async_unload(garden.entry_id)

    with pytest.raises(ServiceValidationError, match="The agent Garden is not loaded"):
        await call(hass, "replay", record_id=record["record_id"])


# --- which agent ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("house")
async def test_evaluate_names_an_agent_that_is_not_a_pai_agent(
    hass: HomeAssistant,
) -> None:
    await start(hass, agent_entry([rule("hint", "light_on", 1)]))
    stranger = MockConfigEntry(domain="input_boolean", title="Not an agent")
    stranger.add_to_hass(hass)

    with pytest.raises(ServiceValidationError, match="No PAI agent has the ID"):
        await call(hass, "evaluate", agent=stranger.entry_id, kind="ha.state")


@pytest.mark.usefixtures("house")
async def test_undo_that_fails_leaves_the_record_as_it_was(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    records = await start_recording(hass, light_agent(3))
    await motion(hass)
    record_id = records[0].data["record"]["record_id"]

    with (
        patch(
            "custom_components.pai.executor.async_reproduce_state",
            side_effect=HomeAssistantError("the porch light is offline"),
        ),
        pytest.raises(ServiceValidationError) as err,
    ):
        await call(hass, "undo", record_id=record_id)

    assert err.value.translation_key == "resolve_undo_failed"
    assert err.value.translation_placeholders == {"record_id": record_id}
    assert "the porch light is offline" in caplog.text
    assert porch_light(hass) == "on"
    assert statuses(records) == ["executed"]


# --- the user's options shape what evaluate grants ------------------------------------------------


@pytest.mark.parametrize(
    ("level", "options", "granted", "reason"),
    [
        (3, {}, 3, None),
        (3, {"min_confidence": 0.99}, 0, "low_confidence"),
        (3, {"act_confidence": 0.99}, 2, "act_confidence"),
        (3, {"default_max_level": 1}, 1, "action_cap"),
        (3, {"action_max_levels": {"light_on": 2}}, 2, "action_cap"),
        (1, {"interruption_cost_template": "{{ 0.9 }}"}, 0, "interruption_cost"),
        (1, {"interruption_cost_template": "{{ 'busy' }}"}, 1, None),
        (1, {"interruption_cost_template": "{{ 'nan' }}"}, 1, None),
        (1, {"interruption_cost_template": "{{ states( }}"}, 1, None),
        (
            1,
            {"quiet_hours_start": "00:00:00", "quiet_hours_end": "23:59:59"},
            0,
            "quiet_hours",
        ),
        (
            2,
            {
                "quiet_hours_start": "00:00:00",
                "quiet_hours_end": "23:59:59",
                "urgency_override": 0.5,
            },
            1,
            "quiet_hours_urgent",
        ),
        (3, {"autonomy_ceiling": "suggest"}, 1, "ceiling"),
        (3, {"allowed_actions": ["note"]}, 0, "not_allowed"),
    ],
)
@pytest.mark.usefixtures("house")
async def test_options_limit_what_the_agent_may_do(
    hass: HomeAssistant,
    level: int,
    options: dict[str, Any],
    granted: int,
    reason: str | None,
) -> None:
    entry = await start(
        hass,
        agent_entry(
            [rule("go", "light_on", level)],
            bindings={"actions": {"light_on": LIGHT_ON}},
            options=options,
        ),
    )

    record = await evaluate(hass, entry)

    assert record["3_anticipation"]["granted_level"] == granted
    codes = [r["code"] for r in record["x_pai"]["reasons"]]
    assert (reason in codes) if reason else codes == []
    assert porch_light(hass) == ("on" if granted == 3 else "off")


@pytest.mark.usefixtures("house")
async def test_hourly_cap_and_the_user_state_the_brain_sees(
    hass: HomeAssistant,
) -> None:
    entry = await start(
        hass,
        agent_entry(
            [rule("hint", "light_on", 1)],
            options={
                "max_interruptions_per_hour": 1,
                "user_state_template": "{{ 'cooking' }}",
            },
        ),
    )

    first, second = await evaluate(hass, entry), await evaluate(hass, entry)

    assert first["2_context"]["user_current_state"] == "cooking"
    assert first["3_anticipation"]["granted_level"] == 1
    assert second["3_anticipation"]["granted_level"] == 0
    assert "hourly_cap" in [r["code"] for r in second["x_pai"]["reasons"]]
    assert entry.runtime_data.runtime.situation.interruptions_last_hour() == 1


@pytest.mark.usefixtures("house")
async def test_an_action_without_a_binding_runs_nothing(hass: HomeAssistant) -> None:
    entry = await start(hass, agent_entry([rule("act", "light_on", 3)]))

    record = await evaluate(hass, entry)

    assert record["4_execution"]["status"] == "no_action_registered"
    assert porch_light(hass) == "off"


# --- answers that come too late ---------------------------------------------------------------------


@pytest.mark.usefixtures("house")
async def test_approval_after_expiry_is_refused_and_recorded_as_ignored(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    records = await start_recording(
        hass, light_agent(2, options={"approval_expiry_minutes": 5})
    )
    await motion(hass)
    record_id = records[0].data["record"]["record_id"]
    freezer.tick(timedelta(minutes=6))  # before the periodic check notices

    with pytest.raises(ServiceValidationError, match="has expired"):
        await call(hass, "approve", record_id=record_id)

    assert statuses(records) == ["pending_approval", "expired"]
    assert records[-1].data["record"]["6_adaptation"]["user_feedback"] == "ignored"
    assert porch_light(hass) == "off"


@pytest.mark.usefixtures("house")
async def test_undo_offer_goes_when_its_window_closes(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    await start(hass, light_agent(3, options={"undo_window_minutes": 1}))
    await motion(hass)
    record_id = records[0].data["record"]["record_id"]

    freezer.tick(timedelta(minutes=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()

    assert phone[-1].data["message"] == "clear_notification"
    assert phone[-1].data["data"]["tag"] == record_id
    with pytest.raises(ServiceValidationError, match="has expired"):
        await call(hass, "undo", record_id=record_id)
    assert porch_light(hass) == "on"
    assert statuses(records) == ["executed"]
