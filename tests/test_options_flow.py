"""The options flow: the user's governance policy, and what saving it changes in the agent."""

from __future__ import annotations

from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import label_registry as lr
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockUser,
    async_mock_service,
)

from custom_components.pai.options_flow import (
    OptionsError,
    agent_actions,
    parse_action_levels,
)

from .helpers import PHONE, agent_entry, rule, with_brain


def form(**changes: Any) -> dict[str, Any]:
    """A submission as the frontend sends it: top-level fields and three sections."""
    sections: dict[str, dict[str, Any]] = {
        "governance": {},
        "quiet_hours": {},
        "delivery": {},
        "earned_autonomy": {},
    }
    top: dict[str, Any] = {}
    placement = {
        "autonomy_ceiling": "governance",
        "allowed_actions": "governance",
        "lifted_actions": "governance",
        "action_max_levels": "governance",
        "quiet_hours_start": "quiet_hours",
        "quiet_hours_end": "quiet_hours",
        "max_interruptions_per_hour": "quiet_hours",
        "notify_targets": "delivery",
        "approvers": "delivery",
        "approval_expiry_minutes": "delivery",
        "undo_window_minutes": "delivery",
        "trust_approvals_in_a_row": "earned_autonomy",
        "trust_min_days": "earned_autonomy",
        "critical_notifications": "delivery",
        "escalation_targets": "delivery",
        "escalation_wait_minutes": "delivery",
        "escalation_presence": "delivery",
    }
    for key, value in changes.items():
        if key in placement:
            sections[placement[key]][key] = value
        else:
            top[key] = value
    return {**top, **sections}


async def loaded(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def submit(
    hass: HomeAssistant, entry: MockConfigEntry, **changes: Any
) -> dict[str, Any]:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    outcome: dict[str, Any] = await hass.config_entries.options.async_configure(
        result["flow_id"], form(**changes)
    )
    await hass.async_block_till_done()
    return outcome


def suggested(result: dict[str, Any]) -> dict[str, Any]:
    """Field -> suggested value, sections flattened, as the form shows them."""
    values: dict[str, Any] = {}
    for marker, validator in result["data_schema"].schema.items():
        if hasattr(validator, "schema") and hasattr(validator, "options"):
            for inner in validator.schema.schema:
                if inner.description:
                    values[str(inner)] = inner.description["suggested_value"]
        elif marker.description:
            values[str(marker)] = marker.description["suggested_value"]
    return values


async def test_form_suggests_what_is_in_force(hass: HomeAssistant) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    hass.states.async_set("notify.kitchen_speaker", "unknown")
    owner = MockUser(name="Ada").add_to_hass(hass)
    robot = MockUser(name="Supervisor", system_generated=True).add_to_hass(hass)
    entry = agent_entry(
        [rule("hint", "light_on", 1), rule("door", "unlock_door", 2)],
        policy={
            "min_confidence": 0.5,
            "quiet_hours": ["22:00", 7],
            "action_max_levels": {"unlock_door": 2},
        },
        bindings={"actions": {"light_on": [], "siren": []}},
        options={"undo_window_minutes": 15, "approvers": ["gone-user"]},
    )
    entry.add_to_hass(hass)

    result = await hass.config_entries.options.async_init(entry.entry_id)

    assert result["step_id"] == "init"
    assert result["description_placeholders"]["agent"] == "Porch watch"
    values = suggested(result)
    assert values["min_confidence"] == 0.5  # the agent file's
    assert values["act_confidence"] == 0.85  # paigent's default
    assert values["default_max_level"] == "suggest"
    assert values["quiet_hours_start"] == "22:00:00"
    assert values["quiet_hours_end"] == "07:00:00"
    assert values["undo_window_minutes"] == 15  # the options'
    assert values["action_max_levels"] == {"unlock_door": "ask"}
    assert values["approval_expiry_minutes"] == 30
    assert values["notify_targets"] == [PHONE]
    schema = result["data_schema"].schema
    delivery = schema["delivery"].schema.schema
    targets = next(v for k, v in delivery.items() if k == "notify_targets")
    assert [o["value"] for o in targets.config["options"]] == [
        "persistent_notification",
        PHONE,
        "notify.kitchen_speaker",
    ]
    approvers = next(v for k, v in delivery.items() if k == "approvers")
    labels = {o["value"]: o["label"] for o in approvers.config["options"]}
    assert labels[owner.id] == "Ada"
    assert labels["gone-user"] == "gone-user"  # kept, so saving does not fail
    assert robot.id not in labels  # Home Assistant's own users are not offered
    governance = schema["governance"].schema.schema
    allowed = next(v for k, v in governance.items() if k == "allowed_actions")
    assert [o["value"] for o in allowed.config["options"]] == [
        "light_on",
        "siren",
        "unlock_door",
    ]


async def test_saving_flattens_the_sections(hass: HomeAssistant) -> None:
    entry = agent_entry([rule("hint", "light_on", 1)], options={"custom": "kept"})
    entry.add_to_hass(hass)

    result = await submit(
        hass,
        entry,
        min_confidence=0.5,
        act_confidence=0.9,
        default_max_level="ask",
        urgency_override=0.95,
        decline_penalty_threshold=2.0,
        autonomy_ceiling="ask",
        allowed_actions=["light_on"],
        lifted_actions=[],
        action_max_levels={"light_on": "observe"},
        quiet_hours_start="22:00:00",
        quiet_hours_end="07:00:00",
        max_interruptions_per_hour=4.0,
        notify_targets=["persistent_notification", PHONE, PHONE],
        approval_expiry_minutes=10.0,
        undo_window_minutes=5.0,
        trust_approvals_in_a_row=5.0,
        trust_min_days=0.0,
        user_state_template="{{ 'home' }}",
        interruption_cost_template="{{ 0.5 }}",
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        "custom": "kept",
        "min_confidence": 0.5,
        "act_confidence": 0.9,
        "default_max_level": 2,
        "urgency_override": 0.95,
        "decline_penalty_threshold": 2,
        "autonomy_ceiling": "ask",
        "allowed_actions": ["light_on"],
        "action_max_levels": {"light_on": 0},
        "quiet_hours_start": "22:00:00",
        "quiet_hours_end": "07:00:00",
        "max_interruptions_per_hour": 4,
        "notify_targets": ["persistent_notification", PHONE],
        "approval_expiry_minutes": 10,
        "undo_window_minutes": 5,
        "trust_approvals_in_a_row": 5,
        "trust_min_days": 0,
        "user_state_template": "{{ 'home' }}",
        "interruption_cost_template": "{{ 0.5 }}",
    }
    assert isinstance(entry.options["max_interruptions_per_hour"], int)


async def test_escalation_and_critical_notifications_are_saved_in_order(
    hass: HomeAssistant,
) -> None:
    entry = await loaded(hass, agent_entry([rule("hint", "light_on", 2)]))
    result = await hass.config_entries.options.async_init(entry.entry_id)
    delivery = result["data_schema"].schema["delivery"].schema.schema
    offered = {str(key): value for key, value in delivery.items()}
    assert offered["escalation_targets"].config["multiple"] is True
    assert offered["escalation_wait_minutes"].config["unit_of_measurement"] == "min"

    result = await submit(
        hass,
        entry,
        critical_notifications=True,
        escalation_targets=["notify.mobile_app_carol", "notify.mobile_app_bob"],
        escalation_wait_minutes=7.0,
        escalation_presence=True,
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    saved = (
        "critical_notifications",
        "escalation_targets",
        "escalation_wait_minutes",
        "escalation_presence",
    )
    assert {key: entry.options[key] for key in saved} == {
        "critical_notifications": True,
        "escalation_targets": ["notify.mobile_app_carol", "notify.mobile_app_bob"],
        "escalation_wait_minutes": 7,
        "escalation_presence": True,
    }
    runtime = entry.runtime_data.runtime
    assert runtime.notifier.style.critical is True
    assert runtime.settings.escalation_targets == (
        "notify.mobile_app_carol",
        "notify.mobile_app_bob",
    )


async def test_cleared_fields_fall_back_to_the_agent_file(hass: HomeAssistant) -> None:
    entry = agent_entry(
        [rule("hint", "light_on", 1)],
        options={"min_confidence": 0.7, "allowed_actions": ["light_on"]},
    )
    entry.add_to_hass(hass)

    await submit(hass, entry, allowed_actions=[])

    assert entry.options == {}  # no notify target either: it was cleared too


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        (
            {"min_confidence": 0.8, "act_confidence": 0.5},
            {"act_confidence": "act_below_min_confidence"},
        ),
        ({"act_confidence": 0.3}, {"act_confidence": "act_below_min_confidence"}),
        ({"quiet_hours_start": "22:00:00"}, {"base": "quiet_hours_incomplete"}),
        ({"quiet_hours_end": "07:00:00"}, {"base": "quiet_hours_incomplete"}),
        (
            {"quiet_hours_start": "07:00:00", "quiet_hours_end": "07:00:00"},
            {"base": "quiet_hours_empty"},
        ),
        (
            {"user_state_template": "{{ 'x' | float }}"},
            {"user_state_template": "template_error"},
        ),
        (
            {"interruption_cost_template": "{{ 1 / 0 }}"},
            {"interruption_cost_template": "template_error"},
        ),
        (
            {"interruption_cost_template": "{{ 'busy' }}"},
            {"interruption_cost_template": "cost_not_a_unit"},
        ),
        (
            {"interruption_cost_template": "{{ 3 }}"},
            {"interruption_cost_template": "cost_not_a_unit"},
        ),
        (
            {"action_max_levels": {"fly": "act"}},
            {"action_max_levels": "invalid_action_levels"},
        ),
        (
            {"action_max_levels": {"light_on": "always"}},
            {"action_max_levels": "invalid_action_levels"},
        ),
    ],
)
async def test_refused_forms_say_why(
    hass: HomeAssistant, changes: dict[str, Any], errors: dict[str, str]
) -> None:
    entry = agent_entry([rule("hint", "light_on", 1)])
    entry.add_to_hass(hass)

    result = await submit(hass, entry, **changes)

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert entry.options == {"notify_targets": [PHONE]}
    # What the user typed is still there to correct.
    values = suggested(result)
    for key, value in changes.items():
        assert values[key] == value


async def test_template_error_names_the_problem(hass: HomeAssistant) -> None:
    entry = agent_entry([rule("hint", "light_on", 1)])
    entry.add_to_hass(hass)

    result = await submit(hass, entry, interruption_cost_template="{{ 'busy' }}")

    assert "busy" in result["description_placeholders"]["problem"]


def test_action_levels_accept_names_and_numbers() -> None:
    assert parse_action_levels({"a": "ask", "b": 3}, ["a", "b"]) == {"a": 2, "b": 3}
    for raw in (["a"], {"a": True}, {"a": 4}):
        with pytest.raises(OptionsError):
            parse_action_levels(raw, ["a"])


def test_agent_actions_of_an_agent_without_a_file_or_with_a_broken_one() -> None:
    bindings = {"bindings": {"actions": {"siren": []}}}
    assert agent_actions({"name": "x", **bindings}) == ["siren"]
    broken = {"agent": {"manifest.json": {}}, **bindings}
    assert agent_actions(broken) == ["siren"]


async def test_min_confidence_changes_the_next_decision(hass: HomeAssistant) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    entry = await loaded(
        hass, agent_entry([rule("hint", "light_on", 1, confidence=0.6)])
    )
    runtime = entry.runtime_data.runtime
    [before] = await runtime.async_evaluate("ha.state", {"to_state": "on"})
    assert before["4_execution"]["status"] == "suggested"

    await submit(hass, entry, min_confidence=0.7, act_confidence=0.9)

    runtime = entry.runtime_data.runtime  # the agent was reloaded
    [after] = await runtime.async_evaluate("ha.state", {"to_state": "on"})
    assert after["4_execution"]["status"] == "observed"
    assert after["x_pai"]["reasons"][0]["code"] == "low_confidence"


async def test_quiet_hours_turn_a_suggestion_into_a_record(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    await hass.config.async_set_time_zone("UTC")
    freezer.move_to("2026-11-21 23:30:00+00:00")
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    entry = await loaded(hass, agent_entry([rule("hint", "light_on", 1, urgency=0.5)]))

    await submit(hass, entry, quiet_hours_start="22:00:00", quiet_hours_end="07:00:00")

    runtime = entry.runtime_data.runtime
    assert runtime.situation.in_quiet_hours()
    [record] = await runtime.async_evaluate("ha.state", {"to_state": "on"})
    assert record["4_execution"]["status"] == "observed"
    assert record["3_anticipation"]["granted_level"] == 0
    assert phone == []


async def test_notify_targets_receive_the_suggestions(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, "persistent_notification", {})
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    tablet = async_mock_service(hass, "notify", "mobile_app_tablet")
    entry = await loaded(hass, agent_entry([rule("hint", "light_on", 1)]))

    await submit(
        hass,
        entry,
        notify_targets=["notify.mobile_app_tablet", "persistent_notification"],
    )
    [record] = await entry.runtime_data.runtime.async_evaluate(
        "ha.state", {"to_state": "on"}
    )
    await hass.async_block_till_done()

    assert record["4_execution"]["status"] == "suggested"
    assert phone == []
    assert [call.data["message"] for call in tablet] == ["hint fired"]
    panel = persistent_notification._async_get_or_create_notifications(hass)
    assert [n["message"] for n in panel.values()] == ["hint fired"]


# --- the LLM brain section ------------------------------------------------------------------

LLM_KEYS = (
    "brain_model",
    "llm_every_event",
    "llm_min_interval_seconds",
    "llm_max_calls_per_hour",
    "llm_max_cost_per_day",
    "llm_price_input_per_mtok",
    "llm_price_output_per_mtok",
    "llm_timeout_seconds",
    "privacy_label",
    "local_n_ctx",
    "local_threads",
)


SERVER = {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}
"""A home server without a key: nothing is asked of it unless an event escalates."""


def llm_form(**changes: Any) -> dict[str, Any]:
    """A submission with the LLM section (the other sections as `form` makes them)."""
    llm = {key: changes.pop(key) for key in LLM_KEYS if key in changes}
    return {**form(**changes), "llm_brain": llm}


def llm_fields(result: dict[str, Any]) -> list[str]:
    schema = result["data_schema"].schema
    if "llm_brain" not in schema:
        return []
    return [str(key) for key in schema["llm_brain"].schema.schema]


async def test_the_llm_section_shows_only_for_an_llm_brain(hass: HomeAssistant) -> None:
    rules_only = agent_entry([rule("hint", "light_on", 1)])
    rules_only.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(rules_only.entry_id)
    assert llm_fields(result) == []

    for brain, expected in (
        (
            {"kind": "anthropic", "api_key": "k"},
            [
                "brain_model",
                "llm_every_event",
                "llm_min_interval_seconds",
                "llm_max_calls_per_hour",
                "llm_max_cost_per_day",
                "llm_timeout_seconds",
                "privacy_label",
            ],
        ),
        (
            {"kind": "local"},
            [  # the model is the file's weights; how it runs is tunable
                "llm_every_event",
                "llm_min_interval_seconds",
                "llm_max_calls_per_hour",
                "llm_max_cost_per_day",
                "llm_timeout_seconds",
                "privacy_label",
                "local_n_ctx",
                "local_threads",
            ],
        ),
        ({"kind": "rules"}, []),
    ):
        entry = with_brain(brain)
        entry.add_to_hass(hass)
        result = await hass.config_entries.options.async_init(entry.entry_id)
        assert llm_fields(result) == expected, brain["kind"]


async def test_the_llm_section_suggests_the_limits_in_force(
    hass: HomeAssistant,
) -> None:
    entry = with_brain({"kind": "anthropic", "api_key": "k"}, llm_max_calls_per_hour=5)
    entry.add_to_hass(hass)

    result = await hass.config_entries.options.async_init(entry.entry_id)

    section = {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema["llm_brain"].schema.schema
    }
    assert section == {
        "brain_model": "claude-haiku-4-5",
        "llm_every_event": False,
        "llm_min_interval_seconds": 30,
        "llm_max_calls_per_hour": 5,  # the options'
        "llm_max_cost_per_day": 1.0,
        "llm_timeout_seconds": 30,
        "privacy_label": "pai_local_only",
    }


async def test_saving_the_llm_section_changes_the_running_brain(
    hass: HomeAssistant,
) -> None:
    async_mock_service(hass, "notify", "mobile_app_pixel")
    label = lr.async_get(hass).async_create("Stays home")
    entry = await loaded(hass, with_brain(SERVER))

    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        llm_form(
            notify_targets=[PHONE],
            brain_model=" qwen2.5-7b ",
            llm_every_event=True,
            llm_min_interval_seconds=5.0,
            llm_max_calls_per_hour=12.0,
            llm_max_cost_per_day=0.25,
            llm_timeout_seconds=8.0,
            privacy_label=label.label_id,
        ),
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        "notify_targets": [PHONE],
        "brain_model": "qwen2.5-7b",
        "llm_every_event": True,
        "llm_min_interval_seconds": 5,
        "llm_max_calls_per_hour": 12,
        "llm_max_cost_per_day": 0.25,
        "llm_timeout_seconds": 8,
        "privacy_label": label.label_id,
    }
    runtime = entry.runtime_data.runtime  # reloaded with them
    assert runtime.router.limits.max_calls_per_hour == 12
    assert runtime.router.limits.min_interval.total_seconds() == 5
    assert runtime.router.limits.max_cost_per_day == 0.25
    assert runtime.router.limits.timeout == 8
    assert runtime.privacy.label == label.label_id
    [brain] = runtime.router.brains
    assert brain.model == "qwen2.5-7b"  # type: ignore[attr-defined]


async def test_the_price_of_an_openai_compatible_server_sets_its_budget(
    hass: HomeAssistant,
) -> None:
    """Only that brain asks its price; both parts or neither; 0 is a free server."""
    async_mock_service(hass, "notify", "mobile_app_pixel")
    entry = await loaded(hass, with_brain(SERVER))
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert {"llm_price_input_per_mtok", "llm_price_output_per_mtok"} <= set(
        llm_fields(result)
    )

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        llm_form(notify_targets=[PHONE], llm_price_input_per_mtok=0.15),
    )
    assert result["errors"] == {"base": "price_incomplete"}
    assert "llm_price_input_per_mtok" not in entry.options

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        llm_form(
            notify_targets=[PHONE],
            llm_price_input_per_mtok=0.15,
            llm_price_output_per_mtok=0,
        ),
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["llm_price_input_per_mtok"] == 0.15
    assert entry.options["llm_price_output_per_mtok"] == 0.0
    runtime = entry.runtime_data.runtime
    [brain] = runtime.router.brains
    assert runtime.router.limits.prices == {brain.name: (0.15, 0.0)}

    cloud = with_brain({"kind": "anthropic", "api_key": "k"})
    cloud.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(cloud.entry_id)
    assert "llm_price_input_per_mtok" not in llm_fields(result)


async def test_the_llm_limits_of_an_agent_switched_to_rules_are_kept(
    hass: HomeAssistant,
) -> None:
    """Options the form does not show are not cleared (switching back restores them)."""
    entry = with_brain({"kind": "rules"}, llm_max_calls_per_hour=5, brain_model="m")
    entry.add_to_hass(hass)

    await submit(hass, entry, min_confidence=0.5, notify_targets=[PHONE])

    assert entry.options["llm_max_calls_per_hour"] == 5
    assert entry.options["brain_model"] == "m"
    assert entry.options["min_confidence"] == 0.5

    # A local brain keeps the cloud model too; its own limits are edited.
    local = with_brain({"kind": "local"}, brain_model="m", local_threads=4)
    local.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(local.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], llm_form(notify_targets=[PHONE], local_threads=2.0)
    )
    assert local.options["brain_model"] == "m"
    assert local.options["local_threads"] == 2
