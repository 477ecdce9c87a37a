"""What an agent file reaches out to, in plain words (the review's pure part)."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.pai.engine.agent import AgentDefinition
from custom_components.pai.engine.outreach import (
    action_words,
    brain_words,
    classify_url,
    file_trigger_words,
    ha_trigger_id,
    ha_trigger_words,
    outward_items,
    webhooks,
)


@pytest.mark.parametrize(
    ("url", "where", "detail"),
    [
        ("https://hooks.example.com/x", "internet", "a public host name"),
        ("http://93.184.216.34/x", "internet", "a public address"),
        ("http://127.0.0.1:8123/api", "local", "loopback"),
        ("http://[::1]/", "local", "loopback"),
        ("http://localhost/", "local", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "local", "link-local"),
        ("http://192.168.1.20/", "local", "a private address"),
        ("http://10.0.0.1/", "local", "a private address"),
        ("http://[::ffff:10.0.0.1]/", "local", "a private address"),
        ("http://0.0.0.0/", "local", "a private address"),
        ("http://homeassistant.local/", "local", "a name on this network"),
        ("http://nas/", "local", "a name on this network"),
        ("ftp://example.com/", "invalid", "the scheme is ftp, not http(s)"),
        ("https:///nohost", "invalid", "there is no host"),
        ("http://example.com:99999/", "invalid", "Port out of range 0-65535"),
        ("http://224.0.0.1/", "invalid", "a multicast address"),
    ],
)
def test_webhook_addresses_are_classified(url: str, where: str, detail: str) -> None:
    assert classify_url(url) == (where, detail)


def _definition(
    actions: dict[str, Any], brain: dict[str, Any] | None = None
) -> AgentDefinition:
    sections: dict[str, Any] = {
        "manifest.json": {"name": "n", "version": "1"},
        "policy.json": {"default_max_level": 3, "action_max_levels": {"lamp": 1}},
        "triggers.json": [
            {"type": "interval", "name": "beat", "params": {"interval_sec": 60}},
            {"type": "schedule", "name": "morning", "params": {"at": "07:30"}},
            {
                "type": "threshold",
                "name": "hot",
                "params": {"metric": "t", "threshold": 30},
            },
            {"type": "filewatch", "name": "inbox", "params": {"path": "/media/in"}},
            {"type": "quantum", "name": "q"},
        ],
        "rules.json": [
            {"name": "a", "when": {}, "intent": {"action": "send", "level": 3}},
            {"name": "b", "when": {}, "intent": {"action": "lamp", "level": 3}},
        ],
        "actions.json": actions,
    }
    if brain is not None:
        sections["brain.json"] = brain
    return AgentDefinition.from_sections(sections)


def test_webhooks_say_scheme_host_and_path_and_where_they_are() -> None:
    definition = _definition(
        {
            "send": {"type": "webhook", "url": "https://h.example.com/p?token=secret"},
            "lamp": {"type": "callback", "handler": "lamp"},
            "local": {"type": "webhook", "url": "http://192.168.1.5:8080/x"},
        }
    )
    [internet, local] = webhooks(definition)
    assert internet.words == (
        "webhook 'send' sends records to https://h.example.com/p, on the internet"
    )
    assert "secret" not in internet.words  # the query is not shown
    assert local.words == (
        "webhook 'local' sends records to http://192.168.1.5:8080/x, "
        "on this network (a private address)"
    )
    assert action_words(definition) == [
        "action 'send' (webhook): at most act without asking",
        "action 'lamp' (callback): at most suggest",  # its policy caps it
        "action 'local' (webhook): no rule uses it",
    ]
    assert list(outward_items(definition, [])) == ["webhook:send", "webhook:local"]


def test_the_brain_and_its_server_are_named() -> None:
    definition = _definition(
        {},
        {"type": "llm", "engine": "openai", "model": "m", "base_url": "http://x:1/v1"},
    )
    assert brain_words(definition) == [
        "brain: asks for openai (m); events go to the service you choose in the brain "
        "step (a cloud service gets the events, never those about private entities)",
        "brain server suggested by the file: http://x:1/v1",
    ]
    assert outward_items(definition, []) == {
        "brain_server": "use the file's brain server http://x:1/v1"
    }
    assert brain_words(_definition({})) == [
        "brain: the file's own rules decide; nothing is sent anywhere to think"
    ]


def test_triggers_in_plain_words() -> None:
    assert file_trigger_words(_definition({})) == [
        "every 60 s (beat)",
        "every day at 07:30 (morning)",
        "the metric 't' going above 30 (hot; you bind the metric)",
        "files changing under /media/in (inbox)",
        "a 'quantum' trigger, not run here (q)",
    ]


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (
            {"trigger": "state", "entity_id": "light.kitchen_lights"},
            "every state change of light.kitchen_lights",
        ),
        (
            {"platform": "state", "entity_id": ["a.b", "c.d"], "to": "on"},
            "every state change of a.b, c.d to 'on'",
        ),
        (
            {"trigger": "numeric_state", "entity_id": "sensor.t", "above": 5},
            "the value of sensor.t going above 5",
        ),
        (
            {"trigger": "event", "event_type": "tag_scanned"},
            "any event of type tag_scanned",
        ),
        (
            {
                "trigger": "template",
                "value_template": "{{ is_state('lock.door', 'on') }}",
            },
            "a template reading lock.door",
        ),
        ({"trigger": "time", "at": "07:00"}, "at 07:00"),
        ({"trigger": "time_pattern", "minutes": "/5"}, "on a time pattern"),
        (
            {"trigger": "sun", "event": "sunset"},
            'a sun trigger: {"trigger": "sun", "event": "sunset"}',
        ),
    ],
)
def test_home_assistant_triggers_in_plain_words(
    config: dict[str, Any], words: str
) -> None:
    assert ha_trigger_words(config) == words
    assert ha_trigger_id(config) == ha_trigger_id(dict(reversed(config.items())))


def test_long_descriptions_are_cut_to_one_short_line() -> None:
    words = ha_trigger_words({"trigger": "state", "entity_id": ["x.y" * 40]})
    assert len(words) == 80
    assert words.endswith("…")
