"""What an agent file reaches out to, in plain words: for the review before it is added.

An agent file is written by a stranger until the user says otherwise. Before it is added,
everything in it that reaches outside the house or wakes the agent is listed: each webhook
(scheme, host and path; whether the address is on the internet or on this network), the LLM
service its brain asks for and the server it suggests, each trigger it declares, and each
action with the highest level the file asks for. Items that reach out are *outward*: each
gets an id, and only those the user ticks are kept (see `Consent`).

Pure Python, no Home Assistant: the integration's review step (`review.py`) shows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
import ipaddress
import json
import re
from typing import Any, Literal
from urllib.parse import urlsplit

from .agent import (
    AgentDefinition,
    FileWatchTrigger,
    IntervalTrigger,
    ScheduleTrigger,
    ThresholdTrigger,
    WebhookAction,
)
from .bounds import short
from .models import AutonomyLevel

type Where = Literal["internet", "local", "invalid"]

LEVEL_WORDS = {
    AutonomyLevel.OBSERVE: "observe (record only)",
    AutonomyLevel.SUGGEST: "suggest",
    AutonomyLevel.ASK: "ask first",
    AutonomyLevel.ACT: "act without asking",
}
_LOCAL_SUFFIXES = (".local", ".lan", ".home", ".internal", ".home.arpa", ".localdomain")
_ENTITY_ID = re.compile(r"\b[a-z_]+\.[a-z0-9_]+\b")
_SHOWN = 80


@dataclass(frozen=True, slots=True)
class WebhookReach:
    """One webhook action: where its POST goes."""

    action: str
    url: str
    where: Where
    detail: str
    """Why it counts as `where`: "loopback", "a private address", "a public host", ..."""

    @property
    def item_id(self) -> str:
        """Return the id the user ticks (and consent keeps)."""
        return f"webhook:{self.action}"

    @property
    def words(self) -> str:
        """Say where it posts, in one line."""
        parts = urlsplit(self.url)
        target = f"{parts.scheme}://{parts.netloc}{parts.path or '/'}"
        flag = {
            "internet": "on the internet",
            "local": f"on this network ({self.detail})",
            "invalid": f"not a usable address ({self.detail})",
        }[self.where]
        return f"webhook {self.action!r} sends records to {_short(target)}, {flag}"


def classify_url(url: str) -> tuple[Where, str]:
    """Return whether a webhook URL points to the internet or to this network, and why."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
        parts.port  # noqa: B018  # raises ValueError for a port out of range
    except ValueError as err:
        return "invalid", str(err)
    if parts.scheme not in ("http", "https"):
        return "invalid", f"the scheme is {parts.scheme or 'missing'}, not http(s)"
    if not host:
        return "invalid", "there is no host"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" or host.endswith(".localhost"):
            return "local", "loopback"
        if "." not in host or host.endswith(_LOCAL_SUFFIXES):
            return "local", "a name on this network"
        return "internet", "a public host name"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "local", "loopback"
    if address.is_link_local:
        return "local", "link-local"
    if address.is_private or address.is_unspecified or address.is_reserved:
        return "local", "a private address"
    if address.is_multicast:
        return "invalid", "a multicast address"
    return "internet", "a public address"


def webhooks(definition: AgentDefinition) -> list[WebhookReach]:
    """Return each webhook action of the file, classified."""
    found = []
    for name, spec in definition.actions.items():
        if isinstance(spec, WebhookAction):
            where, detail = classify_url(spec.url)
            found.append(WebhookReach(name, spec.url, where, detail))
    return found


def brain_words(definition: AgentDefinition) -> list[str]:
    """Say what the file's brain.json asks for and where its data would go."""
    brain = definition.brain
    if brain.type != "llm":
        return ["brain: the file's own rules decide; nothing is sent anywhere to think"]
    engine = brain.engine or "an LLM"
    model = f" ({brain.model})" if brain.model else ""
    lines = [
        f"brain: asks for {engine}{model}; events go to the service you choose in the "
        "brain step (a cloud service gets the events, never those about private entities)"
    ]
    if (server := suggested_server(definition)) is not None:
        lines.append(f"brain server suggested by the file: {_short(server)}")
    return lines


def suggested_server(definition: AgentDefinition) -> str | None:
    """Return the LLM server the file's brain.json suggests (`base_url`), if any."""
    url = definition.brain.extra.get("base_url")
    return url if isinstance(url, str) and url else None


def file_trigger_words(definition: AgentDefinition) -> list[str]:
    """Say what wakes the agent, from triggers.json."""
    lines = []
    for trigger in definition.triggers:
        match trigger:
            case IntervalTrigger():
                lines.append(f"every {trigger.interval_sec:g} s ({trigger.name})")
            case ScheduleTrigger():
                lines.append(f"every day at {trigger.at:%H:%M} ({trigger.name})")
            case ThresholdTrigger():
                lines.append(
                    f"the metric {trigger.metric!r} going {trigger.direction} "
                    f"{trigger.threshold:g} ({trigger.name}; you bind the metric)"
                )
            case FileWatchTrigger():
                lines.append(f"files changing under {trigger.path} ({trigger.name})")
            case _:
                lines.append(
                    f"a {trigger.type!r} trigger, not run here ({trigger.name})"
                )
    return lines


def ha_trigger_words(config: Mapping[str, Any]) -> str:
    """Say what a Home Assistant trigger config wakes the agent on."""
    platform = str(config.get("trigger", config.get("platform", "?")))
    entities = config.get("entity_id")
    if isinstance(entities, str):
        entities = [entities]
    named = ", ".join(str(item) for item in entities) if entities else "?"
    match platform:
        case "state":
            to = f" to {config['to']!r}" if "to" in config else ""
            return _short(f"every state change of {named}{to}")
        case "numeric_state":
            bounds = [
                f"{word} {config[key]}"
                for key, word in (("above", "above"), ("below", "below"))
                if key in config
            ]
            return _short(f"the value of {named} going {' and '.join(bounds) or '?'}")
        case "event":
            kinds = config.get("event_type")
            kinds = kinds if isinstance(kinds, list) else [kinds]
            return _short(f"any event of type {', '.join(map(str, kinds))}")
        case "template":
            template = str(config.get("value_template", ""))
            read = sorted(set(_ENTITY_ID.findall(template)))
            return _short(
                f"a template reading {', '.join(read)}" if read else "a template"
            )
        case "time":
            return _short(f"at {config.get('at', '?')}")
        case "time_pattern":
            return "on a time pattern"
        case _:
            body = json.dumps(dict(config), ensure_ascii=False, default=str)
            return _short(f"a {platform} trigger: {body}")


def ha_trigger_id(config: Mapping[str, Any]) -> str:
    """Return the id the user ticks for a Home Assistant trigger: its content."""
    return "trigger:" + json.dumps(dict(config), sort_keys=True, default=str)


def action_words(definition: AgentDefinition) -> list[str]:
    """Say each action and the highest level the file asks for it (rules, policy)."""
    policy = definition.policy
    lines = []
    for name, spec in definition.actions.items():
        asked = [rule.level for rule in definition.rules if rule.action == name]
        cap = policy.action_max_levels.get(name, policy.default_max_level)
        highest = min(max(asked), cap) if asked else None
        what = (
            "no rule uses it" if highest is None else f"at most {LEVEL_WORDS[highest]}"
        )
        lines.append(f"action {name!r} ({spec.type}): {what}")
    return lines


def outward_items(
    definition: AgentDefinition, ha_triggers: Iterable[Mapping[str, Any]]
) -> dict[str, str]:
    """Return every item the user must tick before it is used: {id: plain words}."""
    items = {hook.item_id: hook.words for hook in webhooks(definition)}
    if (server := suggested_server(definition)) is not None:
        items["brain_server"] = f"use the file's brain server {_short(server)}"
    for config in ha_triggers:
        items[ha_trigger_id(config)] = "wake on " + ha_trigger_words(config)
    return items


def _short(text: str) -> str:
    return short(" ".join(text.split()), _SHOWN)
