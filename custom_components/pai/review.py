"""The review of an agent file before it is added: what it reaches out to, ticked by the user.

Every path that brings an agent in (upload, `pai.import_agent`, reconfigure with a new file)
shows the review (`engine/outreach.py` says it in plain words). Each outward item is off
until the user ticks it:

- a webhook not ticked is an unbound action: its decisions are recorded, nothing is posted;
- a webhook to an address on this network (loopback, link-local, private, a local name) can
  be ticked only with *allow addresses on this network*;
- ticked webhooks are capped at ASK (each POST waits for an approval) unless the user lets
  them act;
- a Home Assistant trigger from the file's `ha_bindings.json` not ticked is left out;
- the brain server the file suggests is not pre-filled unless ticked.

The consent is kept in the entry (`data["consent"]`), shown in diagnostics with the URLs
(it is the user's own decision), and asked again when a new version changes any outward
item; an unchanged new version keeps it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import dataclasses
import re
from typing import Any

from homeassistant.helpers.selector import (
    BooleanSelector,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
import probatio as vol

from .agent_files import size_words
from .engine.agent import AgentDefinition
from .engine.models import AutonomyLevel, Policy
from .engine.outreach import (
    action_words,
    brain_words,
    file_trigger_words,
    ha_trigger_id,
    outward_items,
    suggested_server,
    webhooks,
)

CONF_CONSENT = "consent"
CONF_ALLOW = "allow"
CONF_LOCAL_WEBHOOKS = "local_webhooks"
CONF_WEBHOOKS_ACT = "webhooks_act"


def review_text(
    definition: AgentDefinition,
    ha_triggers: Iterable[Mapping[str, Any]],
    signer: str | None = None,
    weights: int = 0,
) -> str:
    """Return who signed the file and what it reaches out to or wakes on, as bullets.

    `weights`: the bytes of model weights the file carries (extracted when it is added).
    """
    hooks = webhooks(definition)
    lines = [
        f"signed by {signer}"
        if signer
        else "unsigned: nobody vouches for who wrote it or that it is unchanged"
    ]
    lines += [hook.words for hook in hooks] or [
        "no webhooks: nothing is posted anywhere"
    ]
    if weights:
        lines.append(
            f"model weights: {size_words(weights)} to write under <config>/pai/weights "
            "(checked against the free disk space first)"
        )
    lines += brain_words(definition)
    lines += [f"wakes on {words}" for words in file_trigger_words(definition)]
    lines += [
        "wakes on " + text.removeprefix("wake on ")
        for key, text in outward_items(definition, ha_triggers).items()
        if key.startswith("trigger:")
    ]
    lines += action_words(definition)
    return "\n".join(f"- {markdown_safe(' '.join(line.split()))}" for line in lines)


_MARKUP = re.compile(r"([\\`!\[\]<>])")


def markdown_safe(text: str) -> str:
    """Escape what would make a file's words markup where they are shown (Markdown).

    The form's description is rendered as Markdown: an action named `![x](https://...)`
    would otherwise make the browser fetch an image from the file's server while the user
    is still reviewing it, and `<tag>` would vanish or become HTML.
    """
    return _MARKUP.sub(r"\\\1", text)


def review_schema(
    definition: AgentDefinition,
    ha_triggers: Iterable[Mapping[str, Any]],
    ticked: Iterable[str],
) -> vol.Schema:
    """Build the review form: the outward items to tick, what ticked webhooks may do."""
    items = outward_items(definition, ha_triggers)
    fields: dict[Any, Any] = {}
    if items:
        fields[vol.Optional(CONF_ALLOW, default=[i for i in ticked if i in items])] = (
            SelectSelector(
                SelectSelectorConfig(
                    options=[
                        SelectOptionDict(value=key, label=text)
                        for key, text in items.items()
                    ],
                    multiple=True,
                    mode=SelectSelectorMode.LIST,
                )
            )
        )
    hooks = webhooks(definition)
    if any(hook.where == "local" for hook in hooks):
        fields[vol.Optional(CONF_LOCAL_WEBHOOKS, default=False)] = BooleanSelector()
    if hooks:
        fields[vol.Optional(CONF_WEBHOOKS_ACT, default=False)] = BooleanSelector()
    return vol.Schema(fields)


def review_problem(
    definition: AgentDefinition, user_input: Mapping[str, Any]
) -> tuple[str, str] | None:
    """Return (form error, detail) when the ticks cannot be kept as they are."""
    ticked = set(user_input.get(CONF_ALLOW, []))
    for hook in webhooks(definition):
        if hook.item_id not in ticked:
            continue
        if hook.where == "invalid":
            return "webhook_invalid", hook.words
        if hook.where == "local" and not user_input.get(CONF_LOCAL_WEBHOOKS):
            return "webhook_local", hook.words
    return None


def make_consent(
    definition: AgentDefinition,
    ha_triggers: Iterable[Mapping[str, Any]],
    user_input: Mapping[str, Any],
) -> dict[str, Any]:
    """Return what the user allowed, as kept in `entry.data["consent"]`."""
    ticked = set(user_input.get(CONF_ALLOW, []))
    server = suggested_server(definition)
    return {
        "webhooks": {
            hook.action: hook.url
            for hook in webhooks(definition)
            if hook.item_id in ticked
        },
        CONF_LOCAL_WEBHOOKS: bool(user_input.get(CONF_LOCAL_WEBHOOKS, False)),
        CONF_WEBHOOKS_ACT: bool(user_input.get(CONF_WEBHOOKS_ACT, False)),
        "brain_server": server if "brain_server" in ticked else None,
        "ha_triggers": [
            ha_trigger_id(config)
            for config in ha_triggers
            if ha_trigger_id(config) in ticked
        ],
        "seen": _seen(definition),
    }


def kept_triggers(
    ha_triggers: Iterable[Mapping[str, Any]], consent: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Return the file's Home Assistant triggers the user ticked."""
    allowed = set(consent.get("ha_triggers", []))
    return [dict(c) for c in ha_triggers if ha_trigger_id(c) in allowed]


def _seen(definition: AgentDefinition) -> dict[str, str]:
    """Return the outward items a later version is compared on: {id: URL}."""
    seen = {hook.item_id: hook.url for hook in webhooks(definition)}
    if (server := suggested_server(definition)) is not None:
        seen["brain_server"] = server
    return seen


def previous_ticks(
    definition: AgentDefinition, previous: Mapping[str, Any] | None
) -> tuple[list[str], bool]:
    """Return what an earlier consent allowed, and whether nothing outward changed.

    A webhook counts as the same only with the same name and URL; the brain server only
    with the same URL. Unchanged means the same items, ticked or not, as the user saw.
    """
    if not isinstance(previous, Mapping):
        return [], False
    allowed_hooks = previous.get("webhooks") or {}
    ticks = [
        hook.item_id
        for hook in webhooks(definition)
        if allowed_hooks.get(hook.action) == hook.url
    ]
    server = suggested_server(definition)
    if server is not None and previous.get("brain_server") == server:
        ticks.append("brain_server")
    return ticks, previous.get("seen") == _seen(definition)


def consented_webhooks(
    definition: AgentDefinition, data: Mapping[str, Any]
) -> dict[str, str]:
    """Return the webhooks that may post: ticked, with the URL the user saw."""
    consent = data.get(CONF_CONSENT)
    allowed = consent.get("webhooks", {}) if isinstance(consent, Mapping) else {}
    return {
        hook.action: hook.url
        for hook in webhooks(definition)
        if allowed.get(hook.action) == hook.url and hook.where != "invalid"
    }


def cap_webhooks(
    policy: Policy, data: Mapping[str, Any], names: Iterable[str]
) -> Policy:
    """Cap the webhooks at ASK unless the user let them act."""
    consent = data.get(CONF_CONSENT)
    if isinstance(consent, Mapping) and consent.get(CONF_WEBHOOKS_ACT):
        return policy
    levels = dict(policy.action_max_levels)
    for name in names:
        levels[name] = min(
            levels.get(name, policy.default_max_level), AutonomyLevel.ASK
        )
    return dataclasses.replace(policy, action_max_levels=levels)


def webhook_payload(
    agent: str,
    record_id: str,
    perceived: Mapping[str, Any],
    action: str,
    params: Mapping[str, Any],
) -> dict[str, Any]:
    """Return what a webhook receives: the decision, never the event's data.

    `{"record_id", "agent", "action", "params", "event": {"kind", "source"}}`: the
    action's own parameters (from the file's rule or the brain), what kind of event it
    answers and which trigger saw it; no entity states, attributes or payload.
    """
    return {
        "record_id": record_id,
        "agent": agent,
        "action": action,
        "params": dict(params),
        "event": {
            "kind": perceived.get("event_type"),
            "source": perceived.get("trigger_source"),
        },
    }


def consent_for_diagnostics(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """Return the consent as the user gave it, URLs included (their own decision)."""
    consent = data.get(CONF_CONSENT)
    return dict(consent) if isinstance(consent, Mapping) else None
