"""Shadow versions, promote and rollback, in a real Home Assistant.

The night watch asks before switching the porch light on; its candidate (1.1.0) only
suggests it. Real state changes drive both; the user answers the live version through the
real actions; the entry is unloaded and set up again (a restart) between the steps.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from homeassistant.auth.const import GROUP_ID_USER
from homeassistant.components.recorder import Recorder
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import Context, HomeAssistant, ServiceCall
from homeassistant.exceptions import ServiceValidationError, Unauthorized
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_mock_service,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    RecorderInstanceContextManager,
)

from custom_components.pai.agent_files import weights_dir
from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from custom_components.pai.logbook import describe_record_event
from tests.helpers import (
    LIGHT_ON,
    OPENAI_KEY,
    ModelServer,
    Uploads,
    agent_entry,
    configure,
    import_agent,
    motion,
    pack,
    pai_files,
    rule,
    start,
    start_reconfigure,
)

SENSOR = "sensor.porch_watch_shadow_version"


@pytest.fixture
def mock_recorder_before_hass(
    async_test_recorder: RecorderInstanceContextManager,
) -> None:
    """Prepare the recorder's database before `hass` starts (records are read back)."""


@pytest.fixture
async def phone(hass: HomeAssistant, house: None) -> list[ServiceCall]:
    """The phone's notify action: what the user would see arrive."""
    return async_mock_service(hass, "notify", "mobile_app_pixel")


def night_watch(
    live_level: int = 2,
    shadow_level: int | None = 1,
    *,
    previous: dict[str, Any] | None = None,
) -> MockConfigEntry:
    """The porch agent (1.0.0, asks) with its candidate 1.1.0 as a shadow (suggests)."""
    bindings = {"actions": {"porch_light": LIGHT_ON}}
    live = agent_entry([rule("porch", "porch_light", live_level)], bindings=bindings)
    data = dict(live.data)
    if shadow_level is not None:
        candidate = copy.deepcopy(
            dict(
                agent_entry(
                    [rule("porch", "porch_light", shadow_level)], bindings=bindings
                ).data
            )
        )
        candidate["agent"]["manifest.json"]["version"] = "1.1.0"
        data["shadow"] = {
            "data": candidate,
            "options": {**live.options, "max_interruptions_per_hour": 50},
            "version": "1.1.0",
            "started": "2026-12-01T00:00:00+00:00",
        }
    if previous is not None:
        data["previous"] = previous
    return MockConfigEntry(
        domain=DOMAIN,
        title=live.title,
        unique_id=live.unique_id,
        data=data,
        options=dict(live.options),
    )


async def call(hass: HomeAssistant, service: str, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=True
    )


async def restart(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def motion_again(hass: HomeAssistant) -> None:
    await motion(hass, "off")
    await motion(hass, "on")


def asked(records: list[Any]) -> list[str]:
    """The record ids the live version asked about (waiting for an answer)."""
    return [
        event.data["record"]["record_id"]
        for event in records
        if not event.data.get("shadow")
        and event.data["record"]["4_execution"]["status"] == "pending_approval"
    ]


# --- the shadow decides, delivers nothing, and is marked ----------------------------------


async def test_the_shadow_decides_beside_the_live_version_and_delivers_nothing(
    hass: HomeAssistant, recorder_mock: Recorder, phone: list[ServiceCall]
) -> None:
    entry = await start(hass, night_watch(live_level=2, shadow_level=3))
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await motion(hass)

    live = [e.data["record"] for e in records if not e.data.get("shadow")]
    shadow = [e.data["record"] for e in records if e.data.get("shadow")]
    assert [r["4_execution"]["status"] for r in live] == ["pending_approval"]
    # The candidate would act at once; it ran nothing and sent nothing.
    assert [r["4_execution"]["status"] for r in shadow] == ["not_executed"]
    assert shadow[0]["x_pai"]["shadow"]["version"] == "1.1.0"
    assert shadow[0]["x_pai"]["shadow"]["delivery"] == "act"
    assert shadow[0]["x_pai"]["event"] == live[0]["x_pai"]["event"]  # the same event
    assert hass.states.get("input_boolean.porch_light").state == "off"
    assert len(phone) == 1  # the live version's question only
    # The logbook tells them apart.
    _, line, _ = describe_record_event(
        next(e.data for e in records if e.data.get("shadow"))
    )
    assert line.startswith("shadow 1.1.0 would act: porch_light → not_executed")
    # A shadow record cannot be answered.
    with pytest.raises(ServiceValidationError):
        await call(hass, "approve", record_id=shadow[0]["record_id"])
    assert hass.states.get("input_boolean.porch_light").state == "off"
    # The history keeps both, the shadow's marked; a filter reads either side.
    await async_wait_recording_done(hass)
    kept = await call(hass, "get_records", agent=entry.entry_id)
    assert {bool(r["x_pai"].get("shadow")) for r in kept["records"]} == {True, False}


# --- the report -----------------------------------------------------------------------------


async def test_the_report_scores_a_shadow_that_spares_declined_requests(
    hass: HomeAssistant, phone: list[ServiceCall]
) -> None:
    entry = await start(hass, night_watch())
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await motion(hass)
    await call(hass, "decline", record_id=asked(records)[0])
    await hass.async_block_till_done()

    report = await call(hass, "get_shadow_report", agent=entry.entry_id)
    assert report["live_version"] == "1.0.0"
    assert report["shadow_version"] == "1.1.0"
    assert report["disagreed"] == 1
    assert report["spared"] == 1
    assert report["verdict"] == "better"
    (case,) = report["disagreements"]
    assert (case["live"], case["shadow"], case["answer"]) == (
        "ask",
        "suggest",
        "declined",
    )
    state = hass.states.get(SENSOR)
    assert state.state == "better"
    assert state.attributes["spared"] == 1

    await restart(hass, entry)  # all of it survives a restart
    again = await call(hass, "get_shadow_report", agent=entry.entry_id)
    assert again["disagreements"] == report["disagreements"]
    assert hass.states.get(SENSOR).state == "better"
    # A later approval (of a new question) is paired too: the shadow would have missed it.
    records.clear()
    await motion_again(hass)
    await call(hass, "approve", record_id=asked(records)[0])
    await hass.async_block_till_done()
    after = await call(hass, "get_shadow_report", agent=entry.entry_id)
    assert (after["spared"], after["missed"], after["verdict"]) == (1, 1, "even")


async def test_no_shadow_no_report(hass: HomeAssistant, house: None) -> None:
    entry = await start(hass, night_watch(shadow_level=None))
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "get_shadow_report", agent=entry.entry_id)
    assert err.value.translation_key == "no_shadow_version"
    assert hass.states.get(SENSOR) is None
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "get_shadow_report", agent="nope")
    assert err.value.translation_key == "unknown_agent"


# --- promote and rollback -------------------------------------------------------------------


async def test_promote_makes_the_shadow_live_and_rollback_restores_it(
    hass: HomeAssistant, phone: list[ServiceCall]
) -> None:
    entry = await start(hass, night_watch())
    live_data = {k: v for k, v in entry.data.items() if k != "shadow"}
    live_options = dict(entry.options)

    promoted = await call(hass, "promote", agent=entry.entry_id)
    await hass.async_block_till_done()
    assert promoted == {"live_version": "1.1.0", "previous_version": "1.0.0"}
    assert entry.data["agent"]["manifest.json"]["version"] == "1.1.0"
    assert "shadow" not in entry.data
    assert entry.data["previous"]["data"] == live_data
    assert entry.options["max_interruptions_per_hour"] == 50  # the candidate's options
    assert hass.states.get(SENSOR) is None  # no shadow now

    await restart(hass, entry)
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await motion(hass)  # the new version suggests instead of asking
    assert [e.data["record"]["4_execution"]["status"] for e in records] == ["suggested"]

    rolled = await call(hass, "rollback", agent=entry.entry_id)
    await hass.async_block_till_done()
    assert rolled["live_version"] == "1.0.0"
    assert rolled["reason"] == "asked by the user"
    assert dict(entry.data) == live_data  # file, bindings, triggers, brain
    assert dict(entry.options) == live_options
    records.clear()
    await motion_again(hass)
    assert asked(records)  # it asks again
    # Each step is a PAID record with its reason.
    await restart(hass, entry)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "rollback", agent=entry.entry_id)
    assert err.value.translation_key == "no_previous_version"


async def test_bad_version_actions_change_nothing(
    hass: HomeAssistant, house: None
) -> None:
    entry = await start(hass, night_watch(shadow_level=None))
    before = (dict(entry.data), dict(entry.options))
    for service, key in (
        ("promote", "no_shadow_version"),
        ("rollback", "no_previous_version"),
    ):
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, service, agent=entry.entry_id)
        assert err.value.translation_key == key
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "promote", agent="no-such-agent")
    assert err.value.translation_key == "unknown_agent"
    assert (dict(entry.data), dict(entry.options)) == before


async def test_a_hostile_shadow_leaves_the_live_version_running(
    hass: HomeAssistant, phone: list[ServiceCall]
) -> None:
    base = night_watch(shadow_level=None)
    hostile = MockConfigEntry(
        domain=DOMAIN,
        title=base.title,
        unique_id=base.unique_id,
        data={**base.data, "shadow": {"data": "nope", "options": {}}},
        options=dict(base.options),
    )
    entry = await start(hass, hostile)
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await motion(hass)
    assert asked(records)  # the live version works
    assert not [e for e in records if e.data.get("shadow")]
    report = await call(hass, "get_shadow_report", agent=entry.entry_id)
    assert report["shadow_problem"]
    before = dict(entry.data)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "promote", agent=entry.entry_id)
    assert err.value.translation_key == "version_unreadable"
    assert dict(entry.data) == before


async def test_rollback_rescues_a_promoted_version_that_fails_to_set_up(
    hass: HomeAssistant, phone: list[ServiceCall]
) -> None:
    good = night_watch(shadow_level=None)
    broken = MockConfigEntry(
        domain=DOMAIN,
        title=good.title,
        unique_id=good.unique_id,
        data={
            **good.data,
            "agent": {**good.data["agent"], "rules.json": "not rules"},
            "previous": {
                "data": dict(good.data),
                "options": dict(good.options),
                "version": "1.0.0",
                "promoted_at": "2026-12-01T00:00:00+00:00",
                "baseline": {"requests": 0, "negatives": 0},
            },
        },
        options=dict(good.options),
    )
    broken.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(broken.entry_id)
    assert broken.state is ConfigEntryState.SETUP_ERROR
    rolled = await call(hass, "rollback", agent=broken.entry_id)
    await hass.async_block_till_done()
    assert rolled["live_version"] == "1.0.0"
    assert broken.state is ConfigEntryState.LOADED
    assert dict(broken.data) == dict(good.data)


async def test_versions_are_for_administrators(
    hass: HomeAssistant, phone: list[ServiceCall]
) -> None:
    entry = await start(hass, night_watch())
    await hass.auth.async_create_user("Owner", group_ids=["system-admin"])  # the first
    guest = await hass.auth.async_create_user("Guest", group_ids=[GROUP_ID_USER])
    assert not guest.is_admin
    for service in ("promote", "rollback"):
        with pytest.raises(Unauthorized):
            await hass.services.async_call(
                DOMAIN,
                service,
                {"agent": entry.entry_id},
                blocking=True,
                context=Context(user_id=guest.id),
            )
    assert entry.data["shadow"]["version"] == "1.1.0"  # nothing changed
    # The report only reads: anyone may ask for it.
    report = await hass.services.async_call(
        DOMAIN,
        "get_shadow_report",
        {"agent": entry.entry_id},
        blocking=True,
        return_response=True,
        context=Context(user_id=guest.id),
    )
    assert report is not None
    assert report["shadow_version"] == "1.1.0"


# --- the automatic rollback -----------------------------------------------------------------


async def test_a_promoted_version_declined_too_often_rolls_back_by_itself(
    hass: HomeAssistant, phone: list[ServiceCall]
) -> None:
    # The live version asks and is approved: its rate of declines is 0.
    entry = await start(
        hass, night_watch(live_level=1, shadow_level=2)
    )  # live suggests; the candidate asks
    hass.config_entries.async_update_entry(
        entry,
        data={
            **entry.data,
            "shadow": {
                **entry.data["shadow"],
                "options": {
                    **entry.data["shadow"]["options"],
                    "rollback_window_hours": 2,
                    "rollback_margin": 0.3,
                },
            },
        },
    )
    await call(hass, "promote", agent=entry.entry_id)
    await hass.async_block_till_done()
    assert entry.data["previous"]["baseline"] == {"requests": 0, "negatives": 0}
    records = async_capture_events(hass, EVENT_PAI_RECORD)

    await motion(hass)
    await call(hass, "decline", record_id=asked(records)[0])
    await restart(hass, entry)  # the count survives a restart
    records.clear()
    await motion_again(hass)
    await call(hass, "approve", record_id=asked(records)[0])
    assert entry.data["agent"]["manifest.json"]["version"] == "1.1.0"  # 1 of 2
    records.clear()
    await motion_again(hass)
    await call(hass, "decline", record_id=asked(records)[0])  # 2 of 3: 67 % > 0 + 30
    await hass.async_block_till_done()

    assert entry.data["agent"]["manifest.json"]["version"] == "1.0.0"
    assert "previous" not in entry.data
    rollback = next(
        e.data["record"]
        for e in records
        if e.data["record"]["3_anticipation"]["action"] == "pai.rollback"
    )
    reason = rollback["3_anticipation"]["predicted_intent"]
    assert reason.startswith("rolled back from 1.1.0 to 1.0.0: 2 of 3 requests")
    assert "margin is 30%" in reason
    phone_lines = [c.data.get("title", "") for c in phone]
    assert any("rolled back to 1.0.0" in line for line in phone_lines)


async def test_no_rollback_outside_the_window(
    hass: HomeAssistant, phone: list[ServiceCall]
) -> None:
    entry = await start(
        hass,
        night_watch(
            live_level=2,
            shadow_level=None,
            previous={
                "data": dict(night_watch(shadow_level=None).data),
                "options": {"notify_targets": []},
                "version": "0.9.0",
                "promoted_at": "2020-01-01T00:00:00+00:00",
                "baseline": {"requests": 10, "negatives": 0},
            },
        ),
    )
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    for _ in range(3):
        records.clear()
        await motion_again(hass)
        await call(hass, "decline", record_id=asked(records)[0])
    await hass.async_block_till_done()
    assert entry.data["previous"]["version"] == "0.9.0"  # long promoted: it stays


# --- the reconfigure flow's choice ----------------------------------------------------------


@pytest.mark.usefixtures("flow_house")
async def test_reconfigure_may_start_the_new_file_as_a_shadow(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    old, new = b"GGUF-old" * 10, b"GGUF-new" * 10
    entry = await import_agent(hass, uploads, pack(tmp_path / "v1", weights=old))
    result = await start_reconfigure(hass, entry)
    v2 = pack(tmp_path / "v2", version="2.0.0", weights=new)
    result = await configure(
        hass, result, {"pai_file": uploads.add(v2), "as_shadow": True}
    )
    assert result["step_id"] == "bind_metrics"
    result = await configure(hass, result, {"cpu": "sensor.cpu"})
    result = await configure(hass, result, {})
    result = await configure(hass, result, {"notify_targets": ["notify.phone"]})
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()

    assert entry.data["source"]["version"] == "1.0.0"  # the live version stays
    assert entry.data["shadow"]["version"] == "2.0.0"
    assert entry.data["shadow"]["options"]["notify_targets"] == ["notify.phone"]
    assert entry.options.get("notify_targets") != ["notify.phone"]
    assert len(pai_files(hass)) == 2  # both versions' weights are kept
    assert all(path.parent == weights_dir(hass) for path in pai_files(hass))

    await call(hass, "promote", agent=entry.entry_id)
    await hass.async_block_till_done()
    assert entry.data["source"]["version"] == "2.0.0"
    assert len(pai_files(hass)) == 2  # the previous version's are kept for rollback
    await call(hass, "rollback", agent=entry.entry_id)
    await hass.async_block_till_done()
    assert entry.data["source"]["version"] == "1.0.0"
    assert len(pai_files(hass)) == 1  # the rolled back version's went


async def test_a_new_brain_may_start_as_a_shadow(
    hass: HomeAssistant, phone: list[ServiceCall], openai_server: ModelServer
) -> None:
    entry = await start(hass, night_watch(shadow_level=None))
    result = await start_reconfigure(hass, entry)
    result = await configure(hass, result, {"as_shadow": True})  # no file: the brain
    assert result["step_id"] == "brain"
    result = await configure(hass, result, {"kind": "openai"})
    result = await configure(
        hass,
        result,
        {"base_url": openai_server.url, "brain_model": "gemma", "api_key": OPENAI_KEY},
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert "brain" not in entry.data  # the live version keeps its rules
    assert entry.data["shadow"]["data"]["brain"]["kind"] == "openai"
    assert entry.data["shadow"]["options"]["brain_model"] == "gemma"
    report = await call(hass, "get_shadow_report", agent=entry.entry_id)
    assert "not asked" in report["llm"]  # the shadow decides with its rules

    await call(hass, "promote", agent=entry.entry_id)
    await hass.async_block_till_done()
    assert entry.data["brain"]["kind"] == "openai"
    assert entry.options["brain_model"] == "gemma"
    await call(hass, "rollback", agent=entry.entry_id)
    await hass.async_block_till_done()
    assert "brain" not in entry.data
    assert "brain_model" not in entry.options


async def test_diagnostics_show_the_versions_without_their_secrets(
    hass: HomeAssistant,
    recorder_mock: Recorder,
    hass_client: ClientSessionGenerator,
    phone: list[ServiceCall],
) -> None:
    made = night_watch()
    made.data["shadow"]["data"]["brain"] = {"kind": "anthropic", "api_key": "sk-x"}
    entry = await start(hass, made)
    await motion(hass)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert "shadow" not in diagnostics["entry"]["data"]
    shadow = diagnostics["shadow"]
    assert shadow["version"] == "1.1.0"
    assert shadow["agent"]["version"] == "1.1.0"
    assert shadow["data"]["brain"]["api_key"] == "**REDACTED**"
    assert "sk-x" not in json.dumps(diagnostics)
    assert diagnostics["shadow_report"]["events"] == 1


async def test_a_new_shadow_starts_a_fresh_report(
    hass: HomeAssistant, phone: list[ServiceCall]
) -> None:
    entry = await start(hass, night_watch())
    await motion(hass)
    assert (await call(hass, "get_shadow_report", agent=entry.entry_id))["events"] == 1
    hass.config_entries.async_update_entry(
        entry,
        data={
            **entry.data,
            "shadow": {**entry.data["shadow"], "started": "2026-12-02T00:00:00+00:00"},
        },
    )
    await restart(hass, entry)
    assert (await call(hass, "get_shadow_report", agent=entry.entry_id))["events"] == 0
