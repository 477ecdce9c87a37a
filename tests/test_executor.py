"""Running an intent's bound actions in a real Home Assistant, and undoing them."""

from __future__ import annotations

import json
from typing import Any
from unittest.mock import AsyncMock, patch

from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.script import DATA_NEW_SCRIPT_RUNS_NOT_ALLOWED
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockUser,
    async_capture_events,
    async_mock_service,
)

from custom_components.pai.engine.records import ExecutionStatus
from custom_components.pai.executor import RESULT_MAX_CHARS, ActionExecutor
from tests.helpers import HookServer

RID = "paid_20260328_a1b2c3"
EVENT = {"trigger_source": "state", "event_type": "state", "raw_data_summary": "x"}


@pytest.fixture
async def executor(hass: HomeAssistant) -> ActionExecutor:
    assert await async_setup_component(
        hass,
        "input_boolean",
        {
            "input_boolean": {
                "porch": {"initial": False},
                "hall": {"initial": True},
                "desk": {"initial": False},
            }
        },
    )
    await hass.async_block_till_done()
    return ActionExecutor(hass, "pai")


async def execute(
    executor: ActionExecutor,
    sequence: list[dict[str, Any]] | None,
    params: dict[str, Any] | None = None,
    context: Context | None = None,
) -> Any:
    return await executor.async_execute(
        sequence,
        params=params or {},
        event=EVENT,
        record_id=RID,
        context=context or Context(),
    )


def turn(service: str, entity_id: str) -> dict[str, Any]:
    return {"action": f"input_boolean.{service}", "target": {"entity_id": entity_id}}


async def test_a_bound_sequence_runs_and_changes_the_state(
    hass: HomeAssistant, executor: ActionExecutor
) -> None:
    context = Context()
    result = await execute(
        executor, [turn("turn_on", "input_boolean.porch")], context=context
    )

    assert result.status == ExecutionStatus.EXECUTED
    assert result.status == "executed"
    assert result.result == "ran input_boolean.turn_on"
    porch = hass.states.get("input_boolean.porch")
    assert porch is not None
    assert porch.state == "on"
    assert porch.context.id == context.id
    assert [(s["entity_id"], s["state"]) for s in result.snapshot] == [
        ("input_boolean.porch", "off")
    ]


async def test_the_sequence_sees_params_event_and_record_id_but_not_the_payload(
    hass: HomeAssistant, executor: ActionExecutor
) -> None:
    fired = async_capture_events(hass, "pai_test")
    sequence = [
        turn("turn_on", "{{ params.entity }}"),
        {
            "event": "pai_test",
            "event_data": {
                "record": "{{ record_id }}",
                "source": "{{ event.trigger_source }}",
                "level": "{{ params.level }}",
                "payload_seen": "{{ 'event_payload' in params }}",
            },
        },
    ]
    params = {
        "entity": "input_boolean.desk",
        "level": 3,
        "event_payload": {"secret": 1},
    }

    result = await execute(executor, sequence, params)

    assert result.status == ExecutionStatus.EXECUTED
    assert result.result == "ran input_boolean.turn_on, event"
    assert hass.states.get("input_boolean.desk").state == "on"  # type: ignore[union-attr]
    assert len(fired) == 1
    assert fired[0].data == {
        "record": RID,
        "source": "state",
        "level": 3,
        "payload_seen": False,
    }
    assert "event_payload" in params  # the caller's params are left alone


async def test_a_failing_action_is_a_failed_result_not_an_exception(
    hass: HomeAssistant, executor: ActionExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    calls = async_mock_service(
        hass, "siren", "turn_on", raise_exception=HomeAssistantError("siren is jammed")
    )

    result = await execute(
        executor,
        [turn("turn_on", "input_boolean.porch"), {"action": "siren.turn_on"}],
    )

    assert len(calls) == 1
    assert result.status == ExecutionStatus.FAILED
    assert result.result == "siren is jammed"
    assert RID in caplog.text
    # What ran before the failure can still be undone.
    assert [s["entity_id"] for s in result.snapshot] == ["input_boolean.porch"]


async def test_an_unexpected_error_in_an_action_is_a_failed_result(
    hass: HomeAssistant, executor: ActionExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    async_mock_service(hass, "siren", "turn_on", raise_exception=ValueError("bad"))

    result = await execute(executor, [{"action": "siren.turn_on"}])

    assert result.status == ExecutionStatus.FAILED
    assert result.result == "bad"
    assert "Traceback" in caplog.text


async def test_an_unknown_action_is_a_failed_result(
    hass: HomeAssistant, executor: ActionExecutor
) -> None:
    result = await execute(executor, [{"action": "light.make_coffee"}])

    assert result.status == ExecutionStatus.FAILED
    assert "light.make_coffee" in result.result
    assert "not found" in result.result


@pytest.mark.parametrize(
    "sequence",
    [
        [{"nonsense": True}],
        [{"action": "not a service"}],
        [{"delay": "forever"}],
        ["turn everything off"],
    ],
)
async def test_an_invalid_sequence_is_a_failed_result_that_says_so(
    hass: HomeAssistant, executor: ActionExecutor, sequence: Any
) -> None:
    result = await execute(executor, sequence)

    assert result.status == ExecutionStatus.FAILED
    assert result.result.startswith("invalid action: ")
    assert result.snapshot == []


async def test_an_unexpected_validation_error_is_a_failed_result(
    hass: HomeAssistant, executor: ActionExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    with patch(
        "custom_components.pai.executor.async_validate_actions_config",
        AsyncMock(side_effect=RuntimeError("validator broke")),
    ):
        result = await execute(executor, [turn("turn_on", "input_boolean.porch")])

    assert result.status == ExecutionStatus.FAILED
    assert result.result == "validator broke"
    assert hass.states.get("input_boolean.porch").state == "off"  # type: ignore[union-attr]


async def test_no_bound_sequence_runs_nothing(
    hass: HomeAssistant, executor: ActionExecutor
) -> None:
    result = await execute(executor, None)

    assert result.status == ExecutionStatus.NO_ACTION_REGISTERED
    assert result.snapshot == []


async def test_nothing_runs_while_home_assistant_shuts_down(
    hass: HomeAssistant, executor: ActionExecutor
) -> None:
    hass.data[DATA_NEW_SCRIPT_RUNS_NOT_ALLOWED] = None
    try:
        result = await execute(executor, [turn("turn_on", "input_boolean.porch")])
    finally:
        del hass.data[DATA_NEW_SCRIPT_RUNS_NOT_ALLOWED]

    assert result.status == ExecutionStatus.FAILED
    assert result.result == "Home Assistant did not run it"
    assert hass.states.get("input_boolean.porch").state == "off"  # type: ignore[union-attr]


async def test_the_snapshot_keeps_only_entities_with_a_state_to_restore(
    hass: HomeAssistant, executor: ActionExecutor
) -> None:
    hass.states.async_set("input_boolean.gone", "unavailable")
    async_mock_service(hass, "input_boolean", "toggle")

    result = await execute(
        executor,
        [
            {
                "action": "input_boolean.toggle",
                "target": {
                    "entity_id": [
                        "input_boolean.hall",
                        "input_boolean.gone",
                        "input_boolean.never_existed",
                    ]
                },
            }
        ],
    )

    assert [s["entity_id"] for s in result.snapshot] == ["input_boolean.hall"]


async def test_a_long_result_is_cut_to_one_line(
    hass: HomeAssistant, executor: ActionExecutor
) -> None:
    sequence = [turn("turn_on", "input_boolean.porch")] * 30

    result = await execute(executor, sequence)

    assert result.status == ExecutionStatus.EXECUTED
    assert len(result.result) == RESULT_MAX_CHARS
    assert result.result.endswith("…")


async def test_undo_puts_several_entities_back(
    hass: HomeAssistant, executor: ActionExecutor, hass_admin_user: MockUser
) -> None:
    result = await execute(
        executor,
        [
            turn("turn_on", "input_boolean.porch"),
            turn("turn_off", "input_boolean.hall"),
        ],
    )
    assert hass.states.get("input_boolean.porch").state == "on"  # type: ignore[union-attr]
    assert hass.states.get("input_boolean.hall").state == "off"  # type: ignore[union-attr]

    context = Context(user_id=hass_admin_user.id)
    undone = await executor.async_undo(result.snapshot, context)

    assert undone.status == ExecutionStatus.EXECUTED
    assert undone.result == "restored input_boolean.hall, input_boolean.porch"
    porch = hass.states.get("input_boolean.porch")
    hall = hass.states.get("input_boolean.hall")
    assert porch is not None
    assert hall is not None
    assert (porch.state, hall.state) == ("off", "on")
    assert porch.context.user_id == hass_admin_user.id


async def test_undo_survives_a_json_round_trip_of_the_snapshot(
    hass: HomeAssistant, executor: ActionExecutor
) -> None:
    result = await execute(executor, [turn("toggle", "input_boolean.desk")])
    stored = json.loads(json.dumps(result.snapshot))
    assert hass.states.get("input_boolean.desk").state == "on"  # type: ignore[union-attr]

    undone = await executor.async_undo(stored, Context())

    assert undone.status == ExecutionStatus.EXECUTED
    assert hass.states.get("input_boolean.desk").state == "off"  # type: ignore[union-attr]


async def test_undo_skips_unreadable_states_and_restores_the_rest(
    hass: HomeAssistant, executor: ActionExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    await execute(executor, [turn("turn_on", "input_boolean.porch")])
    snapshot: Any = [
        "junk",
        42,
        {"state": "off"},
        {"entity_id": "not an entity", "state": "off"},
        {"entity_id": "input_boolean.porch", "state": "off", "context": "x"},
        {"entity_id": "input_boolean.porch", "state": "off"},
    ]

    undone = await executor.async_undo(snapshot, Context())

    assert undone.status == ExecutionStatus.EXECUTED
    assert hass.states.get("input_boolean.porch").state == "off"  # type: ignore[union-attr]
    assert caplog.text.count("Undo skips an unreadable state") == 5


@pytest.mark.parametrize("snapshot", [[], [{"state": "on"}], "not a list", None])
async def test_undo_with_nothing_readable_fails_and_says_so(
    hass: HomeAssistant, executor: ActionExecutor, snapshot: Any
) -> None:
    undone = await executor.async_undo(snapshot, Context())

    assert undone.status == ExecutionStatus.FAILED
    assert undone.result == "nothing to restore"


@pytest.mark.parametrize(
    ("error", "logged"),
    [
        (HomeAssistantError("lock is offline"), "Undo failed: lock is offline"),
        (RuntimeError("lock is offline"), "Traceback"),
    ],
)
async def test_a_failing_undo_is_a_failed_result_not_an_exception(
    hass: HomeAssistant,
    executor: ActionExecutor,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
    logged: str,
) -> None:
    with patch(
        "custom_components.pai.executor.async_reproduce_state",
        AsyncMock(side_effect=error),
    ):
        undone = await executor.async_undo(
            [{"entity_id": "lock.front", "state": "locked"}], Context()
        )

    assert undone.status == ExecutionStatus.FAILED
    assert undone.result == "lock is offline"
    assert logged in caplog.text


# --- webhooks ------------------------------------------------------------------------------


PAYLOAD = {"record_id": RID, "action": "hook", "params": {"x": 1}, "event": EVENT}


async def test_a_webhook_is_posted_once_as_json(
    executor: ActionExecutor, hook_server: HookServer
) -> None:
    result = await executor.async_post_webhook(hook_server.url, PAYLOAD, RID)

    assert result.status == ExecutionStatus.EXECUTED
    assert result.result == f"posted to {hook_server.url} (HTTP 200)"
    assert result.snapshot == []  # nothing to undo
    assert hook_server.received == [PAYLOAD]


async def test_a_webhook_that_answers_an_error_failed(
    executor: ActionExecutor, hook_server: HookServer
) -> None:
    hook_server.status = 500
    result = await executor.async_post_webhook(hook_server.url, PAYLOAD, RID)
    assert result.status == ExecutionStatus.FAILED
    assert result.result == f"webhook {hook_server.url} answered HTTP 500"
    assert len(hook_server.received) == 1


async def test_a_webhook_nobody_listens_on_failed(
    executor: ActionExecutor, hook_server: HookServer
) -> None:
    url = hook_server.url.replace("/hook", "/nowhere")  # 404
    result = await executor.async_post_webhook(url, PAYLOAD, RID)
    assert result.status == ExecutionStatus.FAILED
    assert "answered HTTP 404" in result.result

    closed = "http://127.0.0.1:9/hook"  # the discard port: refused
    result = await executor.async_post_webhook(closed, PAYLOAD, RID)
    assert result.status == ExecutionStatus.FAILED
    assert result.result.startswith(f"webhook {closed}: ")


async def test_a_webhook_that_does_not_answer_in_time_failed(
    executor: ActionExecutor,
) -> None:
    with patch("custom_components.pai.executor.async_get_clientsession") as get_session:
        get_session.return_value.post.side_effect = TimeoutError
        result = await executor.async_post_webhook("https://x.test/", PAYLOAD, RID)
    assert result.status == ExecutionStatus.FAILED
    assert result.result == "webhook https://x.test/ did not answer in time"


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/x", "/relative", "javascript:x"]
)
async def test_a_webhook_that_is_not_http_is_refused(
    executor: ActionExecutor, url: str
) -> None:
    with patch("custom_components.pai.executor.async_get_clientsession") as get_session:
        result = await executor.async_post_webhook(url, PAYLOAD, RID)
    assert result.status == ExecutionStatus.FAILED
    assert result.result == f"webhook URL must be http or https: {url}"
    get_session.assert_not_called()
