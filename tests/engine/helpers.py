"""Builders the engine tests share: agent file sections and a CLI refusal."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from custom_components.pai.engine.brain import ActionChoice, BrainRequest
from custom_components.pai.engine.cli import main
from custom_components.pai.engine.models import AutonomyLevel, Event

OPS_GUARDIAN: dict[str, Any] = {
    "manifest": {
        "name": "ops-guardian",
        "version": "1.0.0",
        "author": "vito1317 <service@vito1317.com>",
        "description": "Watches system metrics and handles anomalies",
        "framework_compat": ">=0.1.0",
    },
    "policy": {
        "min_confidence": 0.4,
        "act_confidence": 0.85,
        "default_max_level": 1,
        "action_max_levels": {"cleanup": 2, "archive_file": 3},
        "quiet_hours": [22, 8],
        "max_interruptions_per_hour": 6,
    },
    "triggers": [
        {
            "type": "threshold",
            "name": "cpu-monitor",
            "params": {"metric": "cpu", "threshold": 75, "direction": "above"},
        },
        {"type": "interval", "name": "todo-check", "params": {"interval_sec": 300}},
        {"type": "filewatch", "name": "inbox-watch", "params": {"path": "~/inbox"}},
    ],
    "rules": [
        {
            "when": {"kind": "metric.breach", "source": "cpu-monitor"},
            "intent": {
                "action": "cleanup",
                "confidence": 0.9,
                "urgency": 0.95,
                "level": 2,
                "rationale": "CPU over the limit, clean up",
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
        "cleanup": {"type": "callback", "handler": "ops.cleanup"},
        "archive_file": {"type": "callback", "handler": "ops.archive"},
        "__notify__": {"type": "console"},
    },
    "brain": {
        "type": "llm",
        "model": "claude-sonnet-4-6",
        "fallback": "rules",
        "user_profile": "SRE",
    },
}


def _sections(agent: dict[str, Any] = OPS_GUARDIAN) -> dict[str, Any]:
    """The sections paigent's pack_agent writes for `agent`."""
    agent = copy.deepcopy(agent)
    return {
        "manifest.json": {
            "pai_format": 1,
            "kind": "proactive-agent",
            **agent["manifest"],
        },
        "policy.json": agent["policy"],
        "triggers.json": agent["triggers"],
        "rules.json": agent["rules"],
        "actions.json": agent["actions"],
        "brain.json": agent["brain"],
    }


def _refusal(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run a command that must fail; return its one stderr line."""
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    return lines[0]


PORCH_PAYLOAD = {"entity_id": "binary_sensor.porch", "to_state": "on"}
"""The payload of the porch event a brain is asked about."""


def brain_request(**changes: Any) -> BrainRequest:
    """What a brain is asked: the porch at 20:00, someone asleep, two actions it may take.

    `changes` replace fields (the user state, the actions, the description...).
    """
    fields: dict[str, Any] = {
        "agent": "Porch watch",
        "event": Event(
            source="ha",
            kind="ha.state",
            payload=PORCH_PAYLOAD,
            time=datetime(2026, 11, 21, 20, 0, tzinfo=UTC),
            id="ev1",
        ),
        "context": {"user_state": "asleep", "recent_events": []},
        "actions": (
            ActionChoice("porch_light", AutonomyLevel.ACT, "turn on the porch light"),
            ActionChoice("alarm", AutonomyLevel.ASK),
        ),
    }
    return BrainRequest(**{**fields, **changes})
