"""The config flow: importing a .pai agent file, creating an agent here, reconfiguring.

Files are packed by paigent (the reference implementation) and parsed for real; only the
browser's upload is stood in for: `process_uploaded_file` yields the packed file from a
folder that, like file_upload's, is deleted when the step is done with it.
"""

from __future__ import annotations

from collections.abc import Callable
import hashlib
from pathlib import Path
import struct
from typing import Any
from unittest.mock import patch
import uuid

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.pai.agent_files import weights_dir
from custom_components.pai.config_flow import PaiConfigFlow
from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from custom_components.pai.engine.container import SectionSource, SectionType
from custom_components.pai.engine.outreach import ha_trigger_id
from custom_components.pai.flow_forms import FILE_ERRORS
from custom_components.pai.options_flow import PaiOptionsFlow
from tests.helpers import (
    ACTIONS,
    CLEANUP_RULE,
    CPU_TRIGGER,
    FAN_ON,
    STATE_TRIGGER,
    Uploads,
    _engine_file,
    _exported,
    _sections,
    configure,
    files_under,
    import_agent,
    import_file,
    pack,
    pai_files,
    pass_review,
    rule,
    start_reconfigure,
    start_upload,
    suggested,
    upload,
)

from .helpers import HookServer
from .repo import INTEGRATION, _json

# --- importing ---------------------------------------------------------------------------


@pytest.mark.usefixtures("flow_house")
async def test_import_binds_what_the_file_needs_and_the_agent_works(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    path = pack(tmp_path / "src")
    result = await upload(hass, uploads, path)
    assert result["step_id"] == "bind_metrics"
    assert list(result["data_schema"].schema) == ["cpu"]
    result = await configure(hass, result, {"cpu": "sensor.cpu"})

    # Only the callback action asks for a binding: console and webhooks are built in.
    assert result["step_id"] == "bind_actions"
    assert list(result["data_schema"].schema) == ["cleanup"]
    assert "handler 'free_memory'" in result["description_placeholders"]["actions"]
    result = await configure(hass, result, {"cleanup": FAN_ON})

    assert result["step_id"] == "targets"
    problems = result["description_placeholders"]["problems"]
    assert "hook" not in problems
    result = await configure(
        hass, result, {"notify_targets": ["persistent_notification"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Server watch"
    entry = result["result"]
    assert entry.unique_id == "server_watch"
    assert entry.options == {"notify_targets": ["persistent_notification"]}
    data = entry.data
    assert data["name"] == "Server watch"
    assert data["agent"]["manifest.json"]["version"] == "1.0.0"
    assert data["agent"]["rules.json"][0]["name"] == "cpu-cleanup"
    assert data["bindings"] == {
        "metrics": {"cpu": "sensor.cpu"},
        "actions": {
            "cleanup": FAN_ON,
            "log": [
                {
                    "action": "persistent_notification.create",
                    "data": {"title": "{{ record_id }}", "message": "{{ params }}"},
                }
            ],
        },
    }
    assert data["ha_triggers"] == []
    assert data["source"] == {
        "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "version": "1.0.0",
    }
    assert "weights" not in data
    await hass.async_block_till_done(wait_background_tasks=True)  # the cleanup job
    assert pai_files(hass) == []  # a rules-only agent leaves nothing on disk
    assert files_under(uploads.folder) == []

    # The agent runs: the CPU crossing 75 % turns the fan on, and says so in a record.
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    hass.states.async_set("sensor.cpu", "92")
    await hass.async_block_till_done()
    assert hass.states.get("input_boolean.fan").state == "on"
    assert records[-1].data["record"]["3_anticipation"]["action"] == "cleanup"
    assert records[-1].data["record"]["4_execution"]["status"] == "executed"


@pytest.mark.usefixtures("flow_house")
async def test_embedded_weights_are_extracted_once_by_content_hash(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    weights = b"GGUF" + bytes(range(256)) * 40
    sha = hashlib.sha256(weights).hexdigest()
    entry = await import_agent(hass, uploads, pack(tmp_path / "a", weights=weights))
    assert entry.data["weights"] == {
        "weights.gguf": {"sha256": sha, "size": len(weights)}
    }
    stored = weights_dir(hass) / f"{sha}.gguf"
    assert stored.read_bytes() == weights
    assert pai_files(hass) == [stored]  # the staged upload is gone

    # A second agent with the same model shares the file.
    other = pack(tmp_path / "b", name="Second watch", weights=weights)
    await import_agent(hass, uploads, other)
    assert pai_files(hass) == [stored]
    assert files_under(uploads.folder) == []


@pytest.mark.usefixtures("flow_house")
async def test_weights_that_cannot_be_installed_abort(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    path = pack(tmp_path / "src", weights=b"GGUF" + bytes(100))
    with patch(
        "custom_components.pai.config_flow.install_weights",
        side_effect=OSError("No space left on device"),
    ):
        result = await upload(hass, uploads, path)
        result = await configure(hass, result, {"cpu": "sensor.cpu"})
        result = await configure(hass, result, {})
        result = await configure(hass, result, {"notify_targets": []})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "weights_failed"
    assert "No space left" in result["description_placeholders"]["detail"]
    await hass.async_block_till_done(wait_background_tasks=True)  # the cleanup job
    assert pai_files(hass) == []  # the staged upload went with the flow
    assert hass.config_entries.async_entries(DOMAIN) == []


@pytest.mark.usefixtures("flow_house")
async def test_abandoned_import_leaves_nothing(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    result = await upload(hass, uploads, pack(tmp_path / "src", weights=b"GGUF1234"))
    assert result["step_id"] == "bind_metrics"
    assert len(pai_files(hass)) == 1  # staged until the flow ends
    hass.config_entries.flow.async_abort(result["flow_id"])
    await hass.async_block_till_done(wait_background_tasks=True)  # the cleanup job
    assert pai_files(hass) == []


@pytest.mark.usefixtures("flow_house")
async def test_unknown_trigger_and_unbound_parts_are_problems_not_errors(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    path = pack(
        tmp_path / "src",
        triggers=[
            CPU_TRIGGER,
            {"type": "mqtt_listener", "name": "inbox", "params": {"topic": "x"}},
            {"type": "interval", "name": "odd", "params": {"interval_sec": 7}},
        ],
        rules=[CLEANUP_RULE, {**CLEANUP_RULE, "name": "b", "intent": {"action": "x"}}],
        actions={**ACTIONS, "sms": {"type": "sms", "number": "+100"}},
    )
    result = await upload(hass, uploads, path)
    result = await configure(hass, result, {})  # cpu left unbound
    assert result["step_id"] == "bind_actions"
    assert list(result["data_schema"].schema) == ["cleanup", "sms", "x"]
    listed = result["description_placeholders"]["actions"]
    assert "- sms: type 'sms'\n- x: not declared in actions.json" in listed
    result = await configure(hass, result, {"x": []})  # nothing bound
    assert result["step_id"] == "targets"
    problems = result["description_placeholders"]["problems"]
    for expected in (
        "trigger 'inbox' has unknown type 'mqtt_listener' (kept, not run)",
        "metric 'cpu' is not bound to an entity",
        "an interval of 7 s has no time pattern",
        "action 'cleanup' is not bound",
        "action 'sms' has unknown type 'sms' (kept, not run)",
        "rule 'b' uses action 'x', which actions.json does not define",
    ):
        assert expected in problems
    result = await configure(hass, result, {"notify_targets": []})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["bindings"]["metrics"] == {}
    assert set(result["data"]["bindings"]["actions"]) == {"log"}


@pytest.mark.usefixtures("flow_house")
async def test_a_file_without_metrics_or_handlers_goes_straight_to_targets(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    hass.services.async_register("notify", "mobile_app_pixel", lambda call: None)
    hass.services.async_register("notify", "family_group", lambda call: None)
    hass.states.async_set("notify.kitchen_display", "unknown")
    path = pack(
        tmp_path / "src",
        triggers=[{"type": "interval", "name": "tick", "params": {"interval_sec": 60}}],
        rules=[{**CLEANUP_RULE, "intent": {"action": "__notify__", "level": 1}}],
        actions={},
    )
    result = await upload(hass, uploads, path)
    assert result["step_id"] == "targets"
    assert result["description_placeholders"]["problems"] == "- none"
    selector = result["data_schema"].schema["notify_targets"]
    assert selector.config["options"] == [
        "persistent_notification",
        "notify.mobile_app_pixel",
        "notify.kitchen_display",
    ]
    result = await configure(
        hass, result, {"notify_targets": ["notify.mobile_app_pixel"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"] == {"notify_targets": ["notify.mobile_app_pixel"]}


@pytest.mark.usefixtures("flow_house")
async def test_an_action_home_assistant_refuses_is_shown_on_its_field(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    result = await upload(hass, uploads, pack(tmp_path / "src"))
    result = await configure(hass, result, {"cpu": "sensor.cpu"})
    result = await configure(hass, result, {"cleanup": [{"bogus": 1}]})
    assert result["step_id"] == "bind_actions"
    assert result["errors"] == {"cleanup": "invalid_action"}
    assert result["description_placeholders"]["detail"]
    assert suggested(result, "cleanup") == [{"bogus": 1}]  # kept for correcting
    result = await configure(
        hass, result, {"cleanup": FAN_ON[0]}
    )  # one action, no list
    assert result["step_id"] == "targets"
    result = await configure(hass, result, {"notify_targets": []})
    assert result["data"]["bindings"]["actions"]["cleanup"] == FAN_ON


# --- refusals --------------------------------------------------------------------------


def _good(folder: Path) -> bytes:
    return pack(folder).read_bytes()


def _with_version_2(folder: Path) -> bytes:
    data = bytearray(_good(folder))
    data[4:8] = struct.pack("<I", 2)
    return bytes(data)


def _with_bad_weights(folder: Path) -> bytes:
    data = bytearray(pack(folder, weights=b"GGUF" + bytes(500)).read_bytes())
    data[-100] ^= 0xFF  # inside weights.gguf, the last section
    return bytes(data)


def _with_unsafe_name(folder: Path) -> bytes:
    return _good(folder).replace(b"actions.json", b"../ions.json", 1)


REFUSALS: list[tuple[str, Callable[[Path], bytes], str, str]] = [
    (
        "not a .pai at all",
        lambda f: b"name: porch\nrules: []\n" * 4,
        "bad_magic",
        "not a .pai file",
    ),
    ("empty", lambda f: b"", "truncated", "too short"),
    ("newer format", _with_version_2, "unsupported_version", "version 2"),
    ("corrupted weights", _with_bad_weights, "checksum", "'weights.gguf'"),
    ("unsafe name", _with_unsafe_name, "unsafe_name", "'..'"),
    (
        "missing manifest",
        lambda f: _engine_file(f, _sections(**{"manifest.json": None})),
        "missing_section",
        "manifest.json",
    ),
    (
        "not JSON",
        lambda f: _engine_file(
            f,
            _sections(
                **{"rules.json": SectionSource("rules.json", SectionType.JSON, b"{no")}
            ),
        ),
        "invalid_section",
        "'rules.json' is not valid JSON",
    ),
    (
        "bad rule",
        lambda f: _engine_file(f, _sections(**{"rules.json": [{"name": "r"}]})),
        "invalid_agent",
        "rules.json",
    ),
    (
        "too large",
        lambda f: pack(f, description="x" * (9 * 1024 * 1024)).read_bytes(),
        "too_large",
        "'manifest.json'",
    ),
    (
        "condition Home Assistant cannot check",
        lambda f: _engine_file(
            f,
            _sections(
                **{
                    "rules.json": [
                        {
                            **rule("nobody", "greet", 1),
                            "condition": {"condition": "state", "state": "on"},
                        }
                    ],
                    "actions.json": {"greet": {"type": "console"}},
                }
            ),
        ),
        "invalid_agent",
        "rule 'nobody': its condition is not a Home Assistant condition",
    ),
]


@pytest.mark.parametrize("refusal", REFUSALS, ids=[refusal[0] for refusal in REFUSALS])
async def test_refused_files_name_the_problem_and_leave_nothing(
    hass: HomeAssistant,
    uploads: Uploads,
    tmp_path: Path,
    refusal: tuple[str, Callable[[Path], bytes], str, str],
) -> None:
    _, content, error, detail = refusal
    bad = tmp_path / "bad.pai"
    bad.write_bytes(content(tmp_path / "src"))
    result = await upload(hass, uploads, bad)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "upload"
    assert result["errors"] == {"base": error}
    assert detail in result["description_placeholders"]["detail"]
    await hass.async_block_till_done(wait_background_tasks=True)  # the cleanup job
    assert pai_files(hass) == []
    assert files_under(uploads.folder) == []

    # The same form takes a good file next.
    result = await configure(
        hass, result, {"pai_file": uploads.add(pack(tmp_path / "good"))}
    )
    assert result["step_id"] == "review"
    result = await pass_review(hass, result)
    assert result["step_id"] == "bind_metrics"


async def test_an_upload_that_vanished_is_refused(
    hass: HomeAssistant, uploads: Uploads
) -> None:
    result = await start_upload(hass)
    result = await configure(hass, result, {"pai_file": uuid.uuid4().hex})
    assert result["errors"] == {"base": "upload_failed"}
    assert result["description_placeholders"]["detail"] == "File does not exist"


def test_every_refusal_has_a_message() -> None:
    strings = _json(INTEGRATION / "translations" / "en.json")["config"]["error"]
    for _kind, key in FILE_ERRORS:
        assert "{detail}" in strings[key], key


# --- the same agent again ----------------------------------------------------------------


@pytest.mark.usefixtures("flow_house")
@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ("1.0.0", "already_configured"),
        ("0.9.0", "already_configured"),
        ("1.1.0", "newer_version"),
    ],
)
async def test_the_same_agent_twice_aborts(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path, version: str, reason: str
) -> None:
    await import_agent(hass, uploads, pack(tmp_path / "v1"))
    result = await upload(hass, uploads, pack(tmp_path / "v2", version=version))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason
    if reason == "newer_version":
        assert result["description_placeholders"] == {
            "name": "Server watch",
            "version": "1.1.0",
            "installed": "1.0.0",
        }
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


@pytest.mark.usefixtures("flow_house")
async def test_versions_that_do_not_compare_count_as_newer(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    await import_agent(hass, uploads, pack(tmp_path / "v1"))
    result = await upload(hass, uploads, pack(tmp_path / "v2", version="nightly"))
    assert result["reason"] == "newer_version"


async def test_an_agent_made_before_versions_were_kept_is_already_configured(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    MockConfigEntry(
        domain=DOMAIN, unique_id="server_watch", data={"name": "Server watch"}
    ).add_to_hass(hass)
    result = await upload(hass, uploads, pack(tmp_path / "src", version="9.0"))
    assert result["reason"] == "already_configured"


# --- creating an agent here ----------------------------------------------------------------


async def start_create(hass: HomeAssistant) -> FlowResult:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await configure(hass, result, {"next_step_id": "create"})
    assert result["step_id"] == "create"
    return result


LIGHT_ON = [
    {
        "action": "input_boolean.turn_on",
        "target": {"entity_id": "input_boolean.porch_light"},
    }
]


def latest_records(events: list[Any]) -> dict[str, dict[str, Any]]:
    """The current state of each record fired, by the action it is about."""
    by_id = {
        event.data["record"]["record_id"]: event.data["record"] for event in events
    }
    return {record["3_anticipation"]["action"]: record for record in by_id.values()}


@pytest.mark.usefixtures("flow_house")
async def test_create_an_agent_that_acts_on_a_state_change(
    hass: HomeAssistant, uploads: Uploads
) -> None:
    result = await start_create(hass)
    result = await configure(
        hass,
        result,
        {
            "name": " Porch light ",
            "entities": ["input_boolean.motion"],
            "minutes": 15,
            "action": LIGHT_ON,
            "level": "act",
            "confidence": 0.95,
        },
    )
    assert result["step_id"] == "create_action"
    assert result["description_placeholders"]["actions"] == (
        "- action_1: input_boolean.turn_on (up to act)"
    )
    result = await configure(hass, result, {})  # no other action
    assert result["step_id"] == "targets"
    assert result["description_placeholders"]["problems"] == "- none"
    result = await configure(
        hass, result, {"notify_targets": ["persistent_notification"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Porch light"
    assert result["result"].unique_id == "porch_light"
    data = result["data"]
    assert data["bindings"] == {"metrics": {}, "actions": {"action_1": LIGHT_ON}}
    assert data["ha_triggers"] == [
        {
            "trigger": "state",
            "entity_id": ["input_boolean.motion"],
            "to": None,
            "id": "watched",
        },
        {"trigger": "time_pattern", "minutes": "/15", "id": "every_15_minutes"},
    ]
    assert data["agent"]["rules.json"][0]["intent"]["level"] == 3
    assert data["agent"]["policy.json"]["action_max_levels"] == {"action_1": 3}
    assert result["options"] == {
        "notify_targets": ["persistent_notification"],
        "allowed_actions": ["action_1"],
    }
    assert "source" not in data
    await hass.async_block_till_done()

    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await hass.services.async_call(
        "input_boolean", "turn_on", {"entity_id": "input_boolean.motion"}, blocking=True
    )
    await hass.async_block_till_done()
    assert hass.states.get("input_boolean.porch_light").state == "on"
    assert records[-1].data["record"]["4_execution"]["status"] == "executed"


@pytest.mark.usefixtures("flow_house")
async def test_create_an_agent_with_several_actions_each_with_its_own_cap(
    hass: HomeAssistant, uploads: Uploads
) -> None:
    fan_on = [
        {
            "action": "input_boolean.turn_on",
            "target": {"entity_id": "input_boolean.fan"},
        }
    ]
    result = await start_create(hass)
    result = await configure(
        hass,
        result,
        {
            "name": "Evening",
            "entities": ["input_boolean.motion"],
            "action": LIGHT_ON,
            "level": "act",
            "confidence": 0.95,
        },
    )
    # A second action Home Assistant refuses is shown on its field; the first stays.
    result = await configure(
        hass, result, {"action": [{"delay": "soon"}], "level": "ask", "confidence": 0.9}
    )
    assert result["step_id"] == "create_action"
    assert result["errors"] == {"action": "invalid_action"}
    assert result["description_placeholders"]["detail"]
    assert suggested(result, "action") == [{"delay": "soon"}]
    result = await configure(
        hass, result, {"action": fan_on, "level": "suggest", "confidence": 0.9}
    )
    assert result["step_id"] == "create_action"
    assert result["errors"] == {}
    assert suggested(result, "action") is None  # a blank form for the next one
    assert result["description_placeholders"]["actions"] == (
        "- action_1: input_boolean.turn_on (up to act)\n"
        "- action_2: input_boolean.turn_on (up to suggest)"
    )
    result = await configure(hass, result, {"level": "act", "confidence": 1})
    assert result["step_id"] == "targets"
    result = await configure(
        hass, result, {"notify_targets": ["persistent_notification"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    data = result["data"]
    assert data["bindings"]["actions"] == {"action_1": LIGHT_ON, "action_2": fan_on}
    policy = data["agent"]["policy.json"]
    assert policy["action_max_levels"] == {"action_1": 3, "action_2": 1}
    assert policy["default_max_level"] == 0  # anything else is only recorded
    assert [
        (
            rule["intent"]["action"],
            rule["intent"]["level"],
            rule["intent"]["confidence"],
        )
        for rule in data["agent"]["rules.json"]
    ] == [("action_1", 3, 0.95), ("action_2", 1, 0.9)]
    assert result["options"]["allowed_actions"] == ["action_1", "action_2"]
    await hass.async_block_till_done()

    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await hass.services.async_call(
        "input_boolean", "turn_on", {"entity_id": "input_boolean.motion"}, blocking=True
    )
    await hass.async_block_till_done()
    by_action = latest_records(records)
    assert set(by_action) == {"action_1", "action_2"}
    assert by_action["action_1"]["3_anticipation"]["granted_level"] == 3  # act
    assert by_action["action_1"]["4_execution"]["status"] == "executed"
    assert by_action["action_2"]["3_anticipation"]["granted_level"] == 1  # suggest
    assert by_action["action_2"]["4_execution"]["status"] == "suggested"
    assert hass.states.get("input_boolean.porch_light").state == "on"
    assert hass.states.get("input_boolean.fan").state == "off"  # only suggested


@pytest.mark.usefixtures("flow_house")
async def test_create_without_an_action_only_tells(
    hass: HomeAssistant, uploads: Uploads
) -> None:
    result = await start_create(hass)
    result = await configure(
        hass,
        result,
        {
            "name": "Motion",
            "entities": ["input_boolean.motion"],
            "level": "suggest",
            "confidence": 0.9,
        },
    )
    assert result["step_id"] == "targets"  # nothing to add to
    problems = result["description_placeholders"]["problems"]
    assert "action 'action_1' is not bound" in problems
    result = await configure(
        hass, result, {"notify_targets": ["persistent_notification"]}
    )
    assert result["data"]["bindings"]["actions"] == {}
    assert "allowed_actions" not in result["options"]
    await hass.async_block_till_done()
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    await hass.services.async_call(
        "input_boolean", "turn_on", {"entity_id": "input_boolean.motion"}, blocking=True
    )
    await hass.async_block_till_done()
    assert records[-1].data["record"]["4_execution"]["status"] == "suggested"


async def test_create_form_errors(hass: HomeAssistant, uploads: Uploads) -> None:
    result = await start_create(hass)
    base = {"level": "ask", "confidence": 0.9}
    result = await configure(
        hass, result, {**base, "name": " !! ", "entities": ["input_boolean.motion"]}
    )
    assert result["errors"] == {"name": "invalid_name"}
    result = await configure(hass, result, {**base, "name": "Porch"})
    assert result["errors"] == {"base": "nothing_to_watch"}
    result = await configure(
        hass,
        result,
        {**base, "name": "Porch", "minutes": 5, "action": [{"delay": "soon"}]},
    )
    assert result["errors"] == {"action": "invalid_action"}
    assert result["description_placeholders"]["detail"]
    result = await configure(hass, result, {**base, "name": "Porch", "minutes": 5})
    assert result["step_id"] == "targets"
    result = await configure(hass, result, {"notify_targets": []})
    assert result["data"]["ha_triggers"] == [
        {"trigger": "time_pattern", "minutes": "/5", "id": "every_5_minutes"}
    ]

    # The same name again is the same agent.
    result = await start_create(hass)
    result = await configure(hass, result, {**base, "name": "porch", "minutes": 5})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


# --- reconfigure ------------------------------------------------------------------------------


@pytest.mark.usefixtures("flow_house")
async def test_reconfigure_replaces_the_file_and_keeps_bindings(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path, closed_port: str
) -> None:
    old_weights, new_weights = b"GGUF-old" * 10, b"GGUF-new" * 10
    entry = await import_agent(
        hass, uploads, pack(tmp_path / "v1", weights=old_weights)
    )
    server = {"kind": "openai", "base_url": closed_port}  # chosen after the import
    hass.config_entries.async_update_entry(
        entry,
        data={**entry.data, "brain": server},
        options={**entry.options, "autonomy_ceiling": "ask"},
    )
    mem_trigger = {
        "type": "threshold",
        "name": "mem-monitor",
        "params": {"metric": "mem", "threshold": 90},
    }
    v2 = pack(
        tmp_path / "v2",
        version="2.0.0",
        triggers=[CPU_TRIGGER, mem_trigger],
        weights=new_weights,
    )
    result = await start_reconfigure(hass, entry)
    assert result["description_placeholders"] == {
        "name": "Server watch",
        "installed": "1.0.0",
    }
    result = await configure(hass, result, {"pai_file": uploads.add(v2)})
    assert result["step_id"] == "bind_metrics"
    assert suggested(result, "cpu") == "sensor.cpu"
    assert suggested(result, "mem") is None
    result = await configure(hass, result, {"cpu": "sensor.cpu", "mem": "sensor.mem"})
    assert result["step_id"] == "bind_actions"
    assert suggested(result, "cleanup") == FAN_ON
    result = await configure(hass, result, {"cleanup": FAN_ON})
    assert result["step_id"] == "targets"
    assert suggested(result, "notify_targets") is None
    result = await configure(
        hass, result, {"notify_targets": ["persistent_notification"]}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()

    assert entry.data["source"]["version"] == "2.0.0"
    assert entry.data["bindings"]["metrics"] == {
        "cpu": "sensor.cpu",
        "mem": "sensor.mem",
    }
    assert entry.options["autonomy_ceiling"] == "ask"  # the other options stay
    assert entry.data["brain"] == server  # and so does the brain
    new_sha = hashlib.sha256(new_weights).hexdigest()
    assert pai_files(hass) == [
        weights_dir(hass) / f"{new_sha}.gguf"
    ]  # the old ones went


@pytest.mark.usefixtures("flow_house")
async def test_reconfigure_refuses_another_agent_or_an_older_version(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    entry = await import_agent(hass, uploads, pack(tmp_path / "v1", version="1.5.0"))
    result = await start_reconfigure(hass, entry)
    other = pack(tmp_path / "other", name="Other agent")
    result = await configure(hass, result, {"pai_file": uploads.add(other)})
    assert result["errors"] == {"base": "different_agent"}
    assert result["description_placeholders"]["detail"] == "Other agent"
    older = pack(tmp_path / "old", version="1.2.0")
    result = await configure(hass, result, {"pai_file": uploads.add(older)})
    assert result["errors"] == {"base": "older_version"}
    assert result["description_placeholders"]["detail"] == "1.2.0"
    broken = tmp_path / "broken.pai"
    broken.write_bytes(b"nothing")
    result = await configure(hass, result, {"pai_file": uploads.add(broken)})
    assert result["errors"] == {"base": "truncated"}
    same = pack(tmp_path / "same", version="1.5.0")
    result = await configure(hass, result, {"pai_file": uploads.add(same)})
    assert result["step_id"] == "bind_metrics"


@pytest.mark.usefixtures("flow_house")
async def test_reconfigure_an_agent_made_here(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    result = await start_create(hass)
    result = await configure(
        hass,
        result,
        {
            "name": "Server watch",
            "entities": ["input_boolean.motion"],
            "level": "ask",
            "confidence": 0.9,
        },
    )
    result = await configure(hass, result, {"notify_targets": ["notify.phone"]})
    entry = result["result"]
    result = await start_reconfigure(hass, entry)
    path = pack(tmp_path / "v", triggers=[], actions={"cleanup": {"type": "console"}})
    result = await configure(hass, result, {"pai_file": uploads.add(path)})
    assert result["step_id"] == "review"  # never reviewed: it was made here
    result = await pass_review(hass, result)
    assert result["step_id"] == "targets"
    result = await configure(hass, result, {"notify_targets": ["notify.phone"]})
    assert result["reason"] == "reconfigure_successful"
    # The state trigger made here stays; the rules are now the file's.
    assert entry.data["ha_triggers"][0]["entity_id"] == ["input_boolean.motion"]
    assert entry.data["agent"]["rules.json"][0]["name"] == "cpu-cleanup"


def test_options_flow_is_the_policy_flow() -> None:
    entry = MockConfigEntry(domain=DOMAIN, data={"name": "x"})
    assert isinstance(PaiConfigFlow.async_get_options_flow(entry), PaiOptionsFlow)


# --- a file already on disk (the import action) ------------------------------------------


@pytest.mark.usefixtures("flow_house")
async def test_import_a_file_on_disk_leaves_it_there(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    weights = b"GGUF-local" * 20
    path = pack(tmp_path / "shelf", weights=weights)
    result = await import_file(hass, path)
    assert result["step_id"] == "bind_metrics"
    result = await configure(hass, result, {"cpu": "sensor.cpu"})
    result = await configure(hass, result, {"cleanup": FAN_ON})
    result = await configure(hass, result, {"notify_targets": []})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    stored = weights_dir(hass) / f"{hashlib.sha256(weights).hexdigest()}.gguf"
    assert pai_files(hass) == [stored]
    assert path.exists()

    result = await import_file(hass, path)
    assert result["reason"] == "already_configured"
    rules_only = pack(tmp_path / "shelf", name="Rules only")
    result = await import_file(hass, rules_only)
    assert result["step_id"] == "bind_metrics"


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"plain text, not an agent file at all", "not a .pai file"),
        (None, "No such file"),
    ],
)
async def test_import_of_a_bad_or_missing_file_aborts_with_the_reason(
    hass: HomeAssistant,
    uploads: Uploads,
    tmp_path: Path,
    content: bytes | None,
    detail: str,
) -> None:
    path = tmp_path / "agent.pai"
    if content is not None:
        path.write_bytes(content)
    result = await import_file(hass, path)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "invalid_file"
    assert detail in result["description_placeholders"]["detail"]


# --- webhooks ------------------------------------------------------------------------------


@pytest.mark.parametrize(("answer", "status"), [(200, "executed"), (500, "failed")])
@pytest.mark.usefixtures("flow_house")
async def test_a_webhook_action_is_posted_when_the_agent_acts(
    hass: HomeAssistant,
    uploads: Uploads,
    tmp_path: Path,
    *,
    hook_server: HookServer,
    answer: int,
    status: str,
) -> None:
    hook_server.status = answer
    rule = {**CLEANUP_RULE, "intent": {**CLEANUP_RULE["intent"], "action": "hook"}}
    path = pack(
        tmp_path / "src",
        rules=[rule],
        actions={"hook": {"type": "webhook", "url": hook_server.url}},
    )
    result = await upload(
        hass,
        uploads,
        path,
        allow=["webhook:hook"],
        local_webhooks=True,  # the test server listens on loopback
        webhooks_act=True,
    )
    result = await configure(hass, result, {"cpu": "sensor.cpu"})
    assert result["step_id"] == "targets"  # a webhook needs no binding
    assert result["description_placeholders"]["problems"] == "- none"
    await configure(hass, result, {"notify_targets": []})
    await hass.async_block_till_done()
    records = async_capture_events(hass, EVENT_PAI_RECORD)

    hass.states.async_set("sensor.cpu", "92")
    await hass.async_block_till_done()

    record = records[-1].data["record"]
    assert record["4_execution"]["status"] == status
    assert hook_server.received == [  # the documented minimal payload
        {
            "record_id": record["record_id"],
            "agent": "Server watch",
            "action": "hook",
            "params": {},
            "event": {"kind": "metric.breach", "source": "cpu-monitor"},
        }
    ]


@pytest.mark.usefixtures("flow_house")
async def test_a_webhook_action_counts_as_bound_when_asking(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    rule = {
        **CLEANUP_RULE,
        "intent": {**CLEANUP_RULE["intent"], "action": "hook", "level": 2},
    }
    path = pack(tmp_path / "src", rules=[rule], actions={"hook": ACTIONS["hook"]})
    result = await upload(hass, uploads, path, allow=["webhook:hook"])
    result = await configure(hass, result, {"cpu": "sensor.cpu"})
    await configure(hass, result, {"notify_targets": []})
    await hass.async_block_till_done()
    records = async_capture_events(hass, EVENT_PAI_RECORD)

    hass.states.async_set("sensor.cpu", "92")
    await hass.async_block_till_done()

    assert records[-1].data["record"]["4_execution"]["status"] == "pending_approval"


# --- a file exported from Home Assistant (ha_bindings.json) --------------------------------


@pytest.mark.usefixtures("flow_house")
async def test_an_exported_file_suggests_its_bindings_and_targets(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    hass.services.async_register("notify", "mobile_app_pixel", lambda call: None)
    path = _exported(
        tmp_path / "src",
        {
            "bindings": {
                "metrics": {"cpu": "sensor.cpu", "gone": "sensor.old"},
                "actions": {"cleanup": FAN_ON, "gone": FAN_ON},
            },
            "ha_triggers": [STATE_TRIGGER],
            "options": {
                "notify_targets": ["notify.mobile_app_pixel", "notify.mobile_app_old"],
                "min_confidence": 0.5,
            },
        },
    )
    result = await upload(hass, uploads, path, allow=[ha_trigger_id(STATE_TRIGGER)])
    assert list(result["data_schema"].schema) == ["cpu"]
    assert suggested(result, "cpu") == "sensor.cpu"
    result = await configure(hass, result, {"cpu": "sensor.cpu"})
    assert list(result["data_schema"].schema) == ["cleanup"]
    assert suggested(result, "cleanup") == FAN_ON
    result = await configure(hass, result, {"cleanup": FAN_ON})

    # Only the targets that exist here, for the user to confirm.
    [key] = result["data_schema"].schema
    assert key.default() == ["notify.mobile_app_pixel"]
    result = await configure(
        hass, result, {"notify_targets": ["notify.mobile_app_pixel"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["ha_triggers"] == [STATE_TRIGGER]
    assert result["data"]["bindings"]["metrics"] == {"cpu": "sensor.cpu"}
    assert "ha_bindings.json" not in result["data"]["agent"]


@pytest.mark.parametrize(
    "ha_bindings",
    [
        ["not", "a", "mapping"],
        {
            "bindings": {"metrics": {"cpu": 7}, "actions": {"cleanup": "x"}},
            "ha_triggers": "state",
            "options": {"notify_targets": [1, None]},
        },
        {"bindings": {"actions": {"cleanup": [1]}}, "ha_triggers": [3]},
        SectionSource("ha_bindings.json", SectionType.JSON, b"{no"),
    ],
    ids=["list", "wrong types", "wrong items", "not JSON"],
)
@pytest.mark.usefixtures("flow_house")
async def test_a_malformed_ha_bindings_section_is_ignored(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path, ha_bindings: Any
) -> None:
    result = await upload(hass, uploads, _exported(tmp_path / "src", ha_bindings))
    assert result["step_id"] == "bind_metrics"
    assert suggested(result, "cpu") is None
    result = await configure(hass, result, {})
    assert suggested(result, "cleanup") is None
    result = await configure(hass, result, {})
    [key] = result["data_schema"].schema
    assert key.default() == ["persistent_notification"]
    result = await configure(hass, result, {"notify_targets": []})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["ha_triggers"] == []
