"""The agent definition: paigent's agent files parse here, and bad ones say what to fix."""

from __future__ import annotations

from datetime import time
from pathlib import Path
import re
from typing import Any

from pai import loader as reference_loader, paifile as reference_paifile
import pytest

from custom_components.pai.engine.agent import (
    AgentDefinition,
    AgentDefinitionError,
    BrainConfig,
    CallbackAction,
    ConsoleAction,
    FileWatchTrigger,
    IntervalTrigger,
    InvalidActionsError,
    InvalidBrainError,
    InvalidManifestError,
    InvalidPolicyError,
    InvalidRulesError,
    InvalidTriggersError,
    Manifest,
    MissingAgentSectionError,
    ScheduleTrigger,
    ThresholdTrigger,
    UnknownAction,
    UnknownTrigger,
    WebhookAction,
    load_agent_definition,
)
from custom_components.pai.engine.container import (
    InvalidJsonError,
    PaiReader,
    SectionSource,
    SectionType,
    json_section,
    write_pai,
)
from custom_components.pai.engine.models import AutonomyLevel, Policy, QuietHours
from tests.engine.helpers import OPS_GUARDIAN, _sections

# The agents paigent's own scripts pack (pack_demo.py, pack_gemma.py, pack_minicpm_o.py).
GEMMA_GUARDIAN: dict[str, Any] = {
    "manifest": {
        "name": "gemma-guardian",
        "version": "1.0.0",
        "author": "vito1317 <service@vito1317.com>",
        "description": "Gemma 4 as the local brain",
        "framework_compat": ">=0.1.0",
        "base_model": "google/gemma-4-26B-A4B-it-qat-q4_0",
        "model_license": "apache-2.0",
    },
    "policy": {
        "min_confidence": 0.4,
        "act_confidence": 0.85,
        "default_max_level": 1,
        "action_max_levels": {"cleanup": 2, "archive_file": 3, "__notify__": 1},
        "max_interruptions_per_hour": 6,
    },
    "triggers": [
        {"type": "interval", "name": "inbox-pulse", "params": {"interval_sec": 10}},
        {"type": "filewatch", "name": "inbox-watch", "params": {"path": "./watched"}},
    ],
    "rules": [
        {
            "when": {"kind": "file.created"},
            "intent": {
                "action": "archive_file",
                "confidence": 0.95,
                "urgency": 0.3,
                "level": 3,
                "rationale": "archive new files (rule fallback)",
            },
        }
    ],
    "actions": {
        "cleanup": {"type": "callback", "handler": "ops.cleanup"},
        "archive_file": {"type": "callback", "handler": "ops.archive"},
        "__notify__": {"type": "console"},
    },
    "brain": {"type": "llm", "n_ctx": 4096, "user_profile": "engineer, 9-18"},
}
MINICPM_GUARDIAN: dict[str, Any] = {
    "manifest": {
        "name": "minicpm-o-guardian",
        "version": "1.0.0",
        "author": "vito1317 <service@vito1317.com>",
        "description": "MiniCPM-o 4.5 (full duplex omni) as the brain",
        "framework_compat": ">=0.1.0",
        "base_model": "openbmb/MiniCPM-o-4_5",
        "model_license": "apache-2.0",
        "modality": "omni (video+audio in, text+speech out, full-duplex)",
    },
    "policy": {
        "min_confidence": 0.5,
        "act_confidence": 0.9,
        "default_max_level": 1,
        "action_max_levels": {
            "speak": 1,
            "remind": 2,
            "archive_file": 3,
            "__notify__": 1,
        },
        "quiet_hours": [22, 8],
        "max_interruptions_per_hour": 8,
    },
    "triggers": [
        {"type": "filewatch", "name": "inbox-watch", "params": {"path": "./watched"}}
    ],
    "rules": [
        {
            "when": {"kind": "proactive_utterance"},
            "intent": {
                "action": "speak",
                "confidence": 0.6,
                "urgency": 0.4,
                "level": 1,
                "rationale": "the model spoke up",
            },
        },
        {
            "when": {"kind": "file.created"},
            "intent": {
                "action": "archive_file",
                "confidence": 0.95,
                "urgency": 0.3,
                "level": 3,
                "rationale": "archive new files",
            },
        },
    ],
    "actions": {
        "speak": {"type": "console"},
        "remind": {"type": "console"},
        "archive_file": {"type": "callback", "handler": "ops.archive"},
        "__notify__": {"type": "console"},
    },
    "brain": {
        "type": "llm",
        "engine": "minicpm-o",
        "model": "openbmb/MiniCPM-o-4_5",
        "omni_engine": "transformers",
        "device": "cuda",
        "init_vision": True,
        "init_audio": True,
        "init_tts": True,
        "learning": True,
        "user_profile": "brief, least interruption",
    },
}


def _paigent_pack(tmp_path: Path, agent: dict[str, Any]) -> Path:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"GGUF" + bytes(1000))
    path = tmp_path / f"{agent['manifest']['name']}.pai"
    reference_paifile.pack_agent(
        str(path),
        manifest=agent["manifest"],
        policy=agent["policy"],
        triggers=agent["triggers"],
        rules=agent["rules"],
        actions=agent["actions"],
        brain=agent["brain"],
        weights_path=str(weights),
    )
    return path


@pytest.mark.parametrize(
    "agent",
    [OPS_GUARDIAN, GEMMA_GUARDIAN, MINICPM_GUARDIAN],
    ids=lambda a: a["manifest"]["name"],
)
def test_paigent_demo_agents_load(tmp_path: Path, agent: dict[str, Any]) -> None:
    with PaiReader(_paigent_pack(tmp_path, agent)) as reader:
        definition = load_agent_definition(reader)

    assert definition.manifest.name == agent["manifest"]["name"]
    assert definition.manifest.extra["framework_compat"] == ">=0.1.0"
    assert [rule.action for rule in definition.rules] == [
        decl["intent"]["action"] for decl in agent["rules"]
    ]
    assert set(definition.actions) == set(agent["actions"])
    assert definition.brain.type == "llm"
    assert definition.problems == ()


def test_ops_guardian_in_detail() -> None:
    definition = AgentDefinition.from_sections(_sections())

    assert definition.manifest == Manifest(
        name="ops-guardian",
        version="1.0.0",
        author="vito1317 <service@vito1317.com>",
        description="Watches system metrics and handles anomalies",
        extra={"framework_compat": ">=0.1.0"},
    )
    assert definition.policy == Policy(
        min_confidence=0.4,
        act_confidence=0.85,
        default_max_level=AutonomyLevel.SUGGEST,
        action_max_levels={
            "cleanup": AutonomyLevel.ASK,
            "archive_file": AutonomyLevel.ACT,
        },
        quiet_hours=QuietHours(time(22), time(8)),
        max_interruptions_per_hour=6,
    )
    assert definition.triggers == (
        ThresholdTrigger(
            "cpu-monitor", metric="cpu", threshold=75.0, direction="above"
        ),
        IntervalTrigger("todo-check", interval_sec=300.0),
        FileWatchTrigger("inbox-watch", path="~/inbox"),
    )
    assert definition.actions == {
        "cleanup": CallbackAction("ops.cleanup"),
        "archive_file": CallbackAction("ops.archive"),
        "__notify__": ConsoleAction(),
    }
    assert definition.brain == BrainConfig(
        type="llm",
        model="claude-sonnet-4-6",
        user_profile="SRE",
        extra={"fallback": "rules"},
    )
    assert definition.rules[1].level is AutonomyLevel.ACT


def test_the_brain_section_is_optional() -> None:
    sections = _sections()
    del sections["brain.json"]

    definition = AgentDefinition.from_sections(sections)

    assert definition.brain == BrainConfig(type="rule")
    assert definition.to_sections()["brain.json"] == {"type": "rule"}


def test_a_manifest_needs_only_a_name_and_a_version() -> None:
    sections = _sections()
    sections["manifest.json"] = {"name": "Küchenhelfer 廚房", "version": "0.1.3"}

    definition = AgentDefinition.from_sections(sections)

    assert definition.manifest.name == "Küchenhelfer 廚房"
    assert definition.manifest.version == "0.1.3"
    assert (definition.manifest.author, definition.manifest.description) == ("", "")
    # What it exports says the rest, so the file is complete again.
    written = definition.to_sections()["manifest.json"]
    assert written["pai_format"] == 1
    assert written["kind"] == "proactive-agent"
    assert AgentDefinition.from_sections(definition.to_sections()) == definition


def test_quiet_hours_may_be_hh_mm_strings() -> None:
    sections = _sections()
    sections["policy.json"]["quiet_hours"] = ["22:30", "06:45"]

    policy = AgentDefinition.from_sections(sections).policy

    assert policy.quiet_hours == QuietHours(time(22, 30), time(6, 45))


@pytest.mark.parametrize("empty", [None, []])
def test_no_quiet_hours(empty: Any) -> None:
    sections = _sections()
    sections["policy.json"]["quiet_hours"] = empty

    assert AgentDefinition.from_sections(sections).policy.quiet_hours is None


def test_all_policy_keys_are_read() -> None:
    sections = _sections()
    sections["policy.json"].update(
        urgency_override=0.8, decline_penalty_threshold=2, decline_window_hours=12
    )

    policy = AgentDefinition.from_sections(sections).policy

    assert (
        policy.urgency_override,
        policy.decline_penalty_threshold,
        policy.decline_window_hours,
    ) == (0.8, 2, 12)


def test_a_schedule_trigger_keeps_its_time_and_payload() -> None:
    sections = _sections()
    sections["triggers.json"] = [
        {
            "type": "schedule",
            "name": "morning",
            "params": {"at": "7:05", "payload": {"x": 1}},
        },
        {"type": "schedule", "params": {"at": "23:59"}},
    ]

    triggers = AgentDefinition.from_sections(sections).triggers

    assert triggers == (
        ScheduleTrigger("morning", time(7, 5), {"x": 1}),
        ScheduleTrigger("schedule", time(23, 59)),
    )
    assert triggers[0].to_dict() == {
        "type": "schedule",
        "name": "morning",
        "params": {"at": "07:05", "payload": {"x": 1}},
    }
    assert triggers[1].to_dict() == {
        "type": "schedule",
        "name": "schedule",
        "params": {"at": "23:59"},
    }


def test_what_this_engine_cannot_run_is_kept_and_reported() -> None:
    sections = _sections()
    sections["triggers.json"].append(
        {"type": "state", "name": "door", "params": {"entity_id": "binary_sensor.door"}}
    )
    sections["triggers.json"][1]["params"]["jitter"] = 3
    sections["actions.json"]["push"] = {"type": "mqtt", "topic": "pai/out"}
    sections["policy.json"]["min_confidance"] = 0.9
    sections["rules.json"].append({"intent": {"action": "make_coffee"}})
    sections["rules.json"].append({"intent": {"action": "__notify__"}})

    definition = AgentDefinition.from_sections(sections)

    assert definition.triggers[-1] == UnknownTrigger(
        "state", "door", {"entity_id": "binary_sensor.door"}
    )
    assert definition.actions["push"] == UnknownAction("mqtt", {"topic": "pai/out"})
    assert definition.problems == (
        "policy.json: unknown key 'min_confidance' ignored",
        "triggers.json: trigger 'todo-check': params: unknown key 'jitter' ignored",
        "triggers.json: trigger 'door' has unknown type 'state' (kept, not run)",
        "actions.json: action 'push' has unknown type 'mqtt' (kept, not run)",
        "rules.json: rule 'make_coffee' uses action 'make_coffee',"
        " which actions.json does not define",
    )
    assert (
        definition.to_sections()["triggers.json"][-1] == sections["triggers.json"][-1]
    )
    assert definition.to_sections()["actions.json"]["push"] == {
        "type": "mqtt",
        "topic": "pai/out",
    }


@pytest.mark.parametrize(
    "agent",
    [OPS_GUARDIAN, GEMMA_GUARDIAN, MINICPM_GUARDIAN],
    ids=lambda a: a["manifest"]["name"],
)
def test_to_sections_round_trips(agent: dict[str, Any]) -> None:
    definition = AgentDefinition.from_sections(_sections(agent))

    assert AgentDefinition.from_sections(definition.to_sections()) == definition


def test_to_sections_writes_whole_quiet_hours_as_paigent_does() -> None:
    sections = _sections()
    whole = AgentDefinition.from_sections(sections).to_sections()
    sections["policy.json"]["quiet_hours"] = ["22:30", "07:00"]
    partial = AgentDefinition.from_sections(sections).to_sections()

    assert whole["policy.json"]["quiet_hours"] == [22, 8]
    assert partial["policy.json"]["quiet_hours"] == ["22:30", "07:00"]


def test_webhook_actions() -> None:
    sections = _sections()
    sections["actions.json"]["hook"] = {
        "type": "webhook",
        "url": "https://example.org/x",
    }

    definition = AgentDefinition.from_sections(sections)

    assert definition.actions["hook"] == WebhookAction("https://example.org/x")
    assert definition.to_sections()["actions.json"]["hook"] == {
        "type": "webhook",
        "url": "https://example.org/x",
    }


@pytest.mark.filterwarnings(
    "ignore::ResourceWarning"
)  # paigent never closes its reader
def test_paigent_runs_an_agent_exported_from_here(tmp_path: Path) -> None:
    definition = AgentDefinition.from_sections(_sections())
    path = tmp_path / "exported.pai"
    write_pai(
        path,
        [json_section(name, value) for name, value in definition.to_sections().items()],
    )

    agent = reference_loader.load_runtime(
        str(path),
        handlers={"ops.cleanup": print, "ops.archive": print},
        metrics={"cpu": lambda: 0.0},
        memory_path=str(tmp_path / "memory.db"),
    )

    assert agent.name == "ops-guardian"
    assert [trigger.name for trigger in agent.triggers] == [
        "cpu-monitor",
        "todo-check",
        "inbox-watch",
    ]
    assert agent.policy.quiet_hours == (22, 8)
    assert len(agent.brain.fallback.rules) == 2
    agent.memory.conn.close()


def test_container_errors_pass_through(tmp_path: Path) -> None:
    path = tmp_path / "broken.pai"
    sections = [json_section(name, value) for name, value in _sections().items()]
    sections[1] = SectionSource("policy.json", SectionType.JSON, data=b"{nope")
    write_pai(path, sections)

    with (
        PaiReader(path) as reader,
        pytest.raises(InvalidJsonError, match=r"policy\.json"),
    ):
        load_agent_definition(reader)


def _with(section: str, change: Any) -> dict[str, Any]:
    sections = _sections()
    if callable(change):
        change(sections[section])
    else:
        sections[section] = change
    return sections


def _set(key: str, value: Any) -> Any:
    def apply(obj: dict[str, Any]) -> None:
        target: Any = obj
        *parents, last = key.split("/")
        for part in parents:
            target = target[int(part) if isinstance(target, list) else part]
        if value is _DROP:
            del target[last]
        else:
            target[last] = value

    return apply


_DROP = object()


@pytest.mark.parametrize(
    ("section", "change", "error", "message"),
    [
        # manifest.json
        (
            "manifest.json",
            [],
            InvalidManifestError,
            "manifest.json: the manifest must be an object, not list",
        ),
        (
            "manifest.json",
            _set("name", _DROP),
            InvalidManifestError,
            "manifest.json: name is required",
        ),
        (
            "manifest.json",
            _set("description", 5),
            InvalidManifestError,
            "manifest.json: description must be a string",
        ),
        (
            "manifest.json",
            _set("name", "  "),
            InvalidManifestError,
            "manifest.json: name must be a non-empty string",
        ),
        (
            "manifest.json",
            _set("version", 1),
            InvalidManifestError,
            "manifest.json: version must be",
        ),
        (
            "manifest.json",
            _set("author", ["someone"]),
            InvalidManifestError,
            "manifest.json: author must be a string",
        ),
        (
            "manifest.json",
            _set("version", _DROP),
            InvalidManifestError,
            "manifest.json: version is required",
        ),
        (
            "manifest.json",
            _set("pai_format", "1"),
            InvalidManifestError,
            "manifest.json: pai_format must be a whole number",
        ),
        (
            "manifest.json",
            _set("pai_format", 2),
            InvalidManifestError,
            "pai_format 2 is not supported",
        ),
        (
            "manifest.json",
            _set("kind", "chatbot"),
            InvalidManifestError,
            "manifest.json: kind must be 'proactive-agent', not 'chatbot'",
        ),
        # policy.json
        (
            "policy.json",
            "strict",
            InvalidPolicyError,
            "policy.json: the policy must be an object, not str",
        ),
        (
            "policy.json",
            _set("min_confidence", "high"),
            InvalidPolicyError,
            "policy.json: min_confidence must be a number between 0 and 1",
        ),
        (
            "policy.json",
            _set("act_confidence", 1.2),
            InvalidPolicyError,
            "policy.json: act_confidence must be a number between 0 and 1",
        ),
        (
            "policy.json",
            _set("urgency_override", True),
            InvalidPolicyError,
            "urgency_override must be a number",
        ),
        (
            "policy.json",
            _set("default_max_level", 5),
            InvalidPolicyError,
            "policy.json: default_max_level must be a level 0, 1, 2 or 3, not 5",
        ),
        (
            "policy.json",
            _set("action_max_levels", [1]),
            InvalidPolicyError,
            "action_max_levels must be an object, not list",
        ),
        (
            "policy.json",
            _set("action_max_levels/cleanup", "ASK"),
            InvalidPolicyError,
            "action_max_levels['cleanup'] must be a level",
        ),
        (
            "policy.json",
            _set("quiet_hours", [22]),
            InvalidPolicyError,
            "quiet_hours must be [start, end]",
        ),
        (
            "policy.json",
            _set("quiet_hours", "22-7"),
            InvalidPolicyError,
            "quiet_hours must be [start, end]",
        ),
        (
            "policy.json",
            _set("quiet_hours", [24, 7]),
            InvalidPolicyError,
            "quiet_hours: 24 is neither an hour 0-23",
        ),
        (
            "policy.json",
            _set("quiet_hours", ["7:75", "8:00"]),
            InvalidPolicyError,
            "quiet_hours: '7:75' is neither",
        ),
        (
            "policy.json",
            _set("quiet_hours", ["24:00", "8:00"]),
            InvalidPolicyError,
            "quiet_hours: '24:00' is neither",
        ),
        (
            "policy.json",
            _set("quiet_hours", [True, 7]),
            InvalidPolicyError,
            "quiet_hours: True is neither",
        ),
        (
            "policy.json",
            _set("max_interruptions_per_hour", -1),
            InvalidPolicyError,
            "max_interruptions_per_hour must be a whole number of at least 0",
        ),
        (
            "policy.json",
            _set("max_interruptions_per_hour", 2.5),
            InvalidPolicyError,
            "max_interruptions_per_hour must be a whole number",
        ),
        (
            "policy.json",
            _set("decline_penalty_threshold", 0),
            InvalidPolicyError,
            "decline_penalty_threshold must be a whole number of at least 1",
        ),
        # triggers.json
        (
            "triggers.json",
            {},
            InvalidTriggersError,
            "triggers.json: triggers must be a list, not dict",
        ),
        (
            "triggers.json",
            [7],
            InvalidTriggersError,
            "triggers.json: trigger #1 must be an object, not int",
        ),
        (
            "triggers.json",
            _set("0/type", _DROP),
            InvalidTriggersError,
            "triggers.json: trigger #1: type is required",
        ),
        (
            "triggers.json",
            _set("1/name", ""),
            InvalidTriggersError,
            "trigger #2: name must be a non-empty string",
        ),
        (
            "triggers.json",
            _set("1/params", [300]),
            InvalidTriggersError,
            "trigger 'todo-check': params must be an object, not list",
        ),
        (
            "triggers.json",
            _set("1/params/interval_sec", 0),
            InvalidTriggersError,
            "trigger 'todo-check': params.interval_sec must be a number above 0",
        ),
        (
            "triggers.json",
            _set("1/params/interval_sec", 0.5),
            InvalidTriggersError,
            "params.interval_sec is 0.5; the shortest interval is 1 s",
        ),
        (
            "triggers.json",
            [{"type": "interval", "params": {"interval_sec": 60}}] * 65,
            InvalidTriggersError,
            "triggers.json: the file declares 65 triggers; the limit is 64",
        ),
        (
            "triggers.json",
            _set("1/params/interval_sec", "5m"),
            InvalidTriggersError,
            "params.interval_sec must be a number",
        ),
        (
            "triggers.json",
            _set("2/params/path", _DROP),
            InvalidTriggersError,
            "trigger 'inbox-watch': params.path is required",
        ),
        (
            "triggers.json",
            _set("0/params/metric", _DROP),
            InvalidTriggersError,
            "trigger 'cpu-monitor': params.metric is required",
        ),
        (
            "triggers.json",
            _set("0/params/threshold", "75"),
            InvalidTriggersError,
            "params.threshold must be a number",
        ),
        (
            "triggers.json",
            _set("0/params/threshold", float("nan")),
            InvalidTriggersError,
            "params.threshold must be a number",
        ),
        (
            "triggers.json",
            _set("0/params/direction", "sideways"),
            InvalidTriggersError,
            "params.direction must be 'above' or 'below'",
        ),
        (
            "triggers.json",
            _set("0/params/check_interval", -1),
            InvalidTriggersError,
            "params.check_interval must be a number above 0",
        ),
        (
            "triggers.json",
            [{"type": "schedule", "params": {"at": "25:00"}}],
            InvalidTriggersError,
            "trigger 'schedule': params.at must be a time \"HH:MM\"",
        ),
        (
            "triggers.json",
            [{"type": "schedule", "params": {"at": "7.30"}}],
            InvalidTriggersError,
            "params.at must be a time",
        ),
        (
            "triggers.json",
            [{"type": "schedule", "params": {"at": 730}}],
            InvalidTriggersError,
            "params.at must be a time",
        ),
        (
            "triggers.json",
            [{"type": "schedule", "params": {"at": "07:30", "payload": [1]}}],
            InvalidTriggersError,
            "params.payload must be an object",
        ),
        # rules.json
        ("rules.json", {}, InvalidRulesError, "rules.json: rules must be a list"),
        (
            "rules.json",
            _set("0/intent/level", 7),
            InvalidRulesError,
            "rules.json: rule 'cleanup': intent.level must be 0, 1, 2 or 3, not 7",
        ),
        # actions.json
        (
            "actions.json",
            [],
            InvalidActionsError,
            "actions.json: actions must be an object, not list",
        ),
        (
            "actions.json",
            _set("cleanup", "run it"),
            InvalidActionsError,
            "actions.json: action 'cleanup' must be an object, not str",
        ),
        (
            "actions.json",
            _set("", {"type": "console"}),
            InvalidActionsError,
            "actions.json: action names must be non-empty strings",
        ),
        (
            "actions.json",
            _set("cleanup/type", _DROP),
            InvalidActionsError,
            "action 'cleanup': type is required",
        ),
        (
            "actions.json",
            _set("cleanup/handler", ""),
            InvalidActionsError,
            "action 'cleanup': handler must be a non-empty string",
        ),
        (
            "actions.json",
            _set("hook", {"type": "webhook"}),
            InvalidActionsError,
            "action 'hook': url is required",
        ),
        (
            "actions.json",
            _set("hook", {"type": "webhook", "url": "file:///etc/passwd"}),
            InvalidActionsError,
            "action 'hook': url must start with http:// or https://",
        ),
        # brain.json
        (
            "brain.json",
            "llm",
            InvalidBrainError,
            "brain.json: the brain must be an object, not str",
        ),
        (
            "brain.json",
            _set("type", "magic"),
            InvalidBrainError,
            "brain.json: type must be 'rule' or 'llm', not 'magic'",
        ),
        (
            "brain.json",
            _set("engine", ""),
            InvalidBrainError,
            "brain.json: engine must be a non-empty string",
        ),
        (
            "brain.json",
            _set("model", 3),
            InvalidBrainError,
            "brain.json: model must be a non-empty string",
        ),
        (
            "brain.json",
            _set("user_profile", ["a"]),
            InvalidBrainError,
            "brain.json: user_profile must be a string",
        ),
        (
            "brain.json",
            _set("n_ctx", 0),
            InvalidBrainError,
            "brain.json: n_ctx must be a whole number above 0",
        ),
        (
            "brain.json",
            _set("n_ctx", True),
            InvalidBrainError,
            "n_ctx must be a whole number",
        ),
        (
            "brain.json",
            _set("learning", "yes"),
            InvalidBrainError,
            "brain.json: learning must be true or false",
        ),
    ],
)
def test_bad_sections_name_the_section_and_field(
    section: str, change: Any, error: type[AgentDefinitionError], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)) as caught:
        AgentDefinition.from_sections(_with(section, change))

    assert caught.value.section == section
    assert str(caught.value).startswith(f"{section}: ")


@pytest.mark.parametrize(
    "section",
    ["manifest.json", "policy.json", "triggers.json", "rules.json", "actions.json"],
)
def test_required_sections(section: str) -> None:
    sections = _sections()
    del sections[section]

    with pytest.raises(
        MissingAgentSectionError, match=f"^{section}: section is missing"
    ):
        AgentDefinition.from_sections(sections)
