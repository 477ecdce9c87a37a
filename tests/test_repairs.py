"""Triggers that cannot run are shown in Repairs; the agent runs with the others."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from custom_components.pai.const import DOMAIN

from .helpers import agent_entry, rule, start


async def test_unbound_metric_and_missing_folder_watcher_raise_one_issue(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry
) -> None:
    entry = agent_entry([rule("hot", "fan_on", 1, kind="metric.breach", payload=[])])
    entry.data["agent"]["triggers.json"] = [
        {
            "type": "threshold",
            "name": "cpu_hot",
            "params": {"metric": "cpu", "threshold": 80},
        },
        {"type": "filewatch", "name": "inbox", "params": {"path": "/media/inbox"}},
    ]
    await start(hass, entry)

    assert entry.state is ConfigEntryState.LOADED
    issue = issue_registry.async_get_issue(DOMAIN, f"trigger_problems_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "trigger_problems"
    problems = issue.translation_placeholders["problems"]
    assert "metric 'cpu' is not bound" in problems
    assert "Folder Watcher" in problems

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert (
        issue_registry.async_get_issue(DOMAIN, f"trigger_problems_{entry.entry_id}")
        is None
    )


async def test_no_issue_when_every_trigger_runs(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry
) -> None:
    entry = await start(hass, agent_entry([rule("hint", "light_on", 1)]))
    assert (
        issue_registry.async_get_issue(DOMAIN, f"trigger_problems_{entry.entry_id}")
        is None
    )
