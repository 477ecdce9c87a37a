# ruff: noqa: RUF001  # Traditional Chinese phrases use full-width punctuation
"""Talking to PAI with Home Assistant's built-in Assist, no LLM needed.

Intent handlers (`PaiPending`, `PaiApprove`, `PaiDecline`, `PaiSnooze`, `PaiFalseAlarm`,
`PaiExplain`) say what is pending, answer the newest request of the speaker's agents (as a
phone tap would, approvers checked; a snooze asks again in 30 minutes) and say why an entity
changed, from the records only. Sentences in English and Traditional
Chinese reach them as conversation sentence triggers (what an automation's `conversation`
trigger registers with the default agent), so they work with the built-in agent and with
LLM agents set to prefer handling commands locally.
"""

from __future__ import annotations

from collections.abc import Mapping
import logging
from typing import Any

from homeassistant.components.homeassistant.exposed_entities import async_should_expose
from homeassistant.const import EVENT_COMPONENT_LOADED
from homeassistant.core import CALLBACK_TYPE, Context, Event, HomeAssistant, callback
from homeassistant.helpers import config_validation as cv, intent
from homeassistant.helpers.script import ScriptRunResult
from homeassistant.helpers.trigger import (
    async_initialize_triggers,
    async_validate_trigger_config,
)
from homeassistant.setup import EventComponentLoaded
from homeassistant.util import dt as dt_util

from .answer_routes import DEFAULT_SNOOZE
from .const import DOMAIN
from .talk import TalkError, async_answer, async_explain, pending_requests

_LOGGER = logging.getLogger(__name__)

INTENT_PENDING = "PaiPending"
INTENT_APPROVE = "PaiApprove"
INTENT_DECLINE = "PaiDecline"
INTENT_SNOOZE = "PaiSnooze"
INTENT_FALSE_ALARM = "PaiFalseAlarm"
INTENT_EXPLAIN = "PaiExplain"

SENTENCES: Mapping[str, list[str]] = {
    INTENT_PENDING: [
        "what is pending",
        "what (is|are) waiting [for me]",
        "[are there] [any] pending requests",
        "有什麼待處理",
        "有什麼在等我",
        "待處理的請求",
    ],
    INTENT_APPROVE: [
        "approve it",
        "approve [the] [last|latest] request",
        "批准",
        "同意",
    ],
    INTENT_DECLINE: [
        "decline it",
        "decline [the] [last|latest] request",
        "拒絕",
    ],
    INTENT_SNOOZE: [
        "snooze it",
        "ask me later",
        "稍後再問",
        "延後",
    ],
    INTENT_FALSE_ALARM: [
        "[it (is|was)] [a] false alarm",
        "誤報",
    ],
    INTENT_EXPLAIN: [
        "why did {name}",
        "why (is|was) {name}",
        "為什麼{name}",
    ],
}
"""The sentences, by intent (both languages: triggers match in any language)."""

PHRASES: Mapping[str, Mapping[str, str]] = {
    "en": {
        "none_pending": "Nothing is waiting for your answer.",
        "pending": "{count} waiting. {items}",
        "item": "{agent} asks: {what}.",
        "approved": "Approved: {what}. Status: {status}.",
        "declined": "Declined: {what}.",
        "snoozed": "I will ask again in {minutes} minutes: {what}.",
        "false_alarm": "Marked as a false alarm, declined: {what}.",
        "nothing_pending": "Nothing is waiting for your answer.",
        "refused": "That request cannot be answered: {why}.",
        "no_entity": "I could not tell which entity you mean.",
        "no_record": "No PAI record says anything about {entity}.",
        "explain": (
            "At {time}, {agent} saw {trigger} and proposed {action}. "
            "It was granted {level}; status {status}."
        ),
        "reasons": " Reasons: {reasons}.",
        "ran": " It ran: {ran}.",
    },
    "zh-Hant": {
        "none_pending": "沒有等待你回覆的請求。",
        "pending": "有 {count} 個請求在等待。{items}",
        "item": "{agent} 請求：{what}。",
        "approved": "已批准：{what}。狀態：{status}。",
        "declined": "已拒絕：{what}。",
        "snoozed": "{minutes} 分鐘後再問你：{what}。",
        "false_alarm": "已標為誤報並拒絕：{what}。",
        "nothing_pending": "沒有等待你回覆的請求。",
        "refused": "無法回覆這個請求：{why}。",
        "no_entity": "我不知道你指的是哪個實體。",
        "no_record": "PAI 的紀錄中沒有關於 {entity} 的內容。",
        "explain": (
            "{time}，{agent} 察覺到 {trigger}，提議 {action}。"
            "核准的層級是 {level}；狀態 {status}。"
        ),
        "reasons": " 原因：{reasons}。",
        "ran": " 已執行：{ran}。",
    },
}


def phrases(language: str | None) -> Mapping[str, str]:
    """Return the phrases of `language` (any Chinese: Traditional Chinese; else English)."""
    return PHRASES["zh-Hant" if (language or "").startswith("zh") else "en"]


def _speak(intent_obj: intent.Intent, text: str) -> intent.IntentResponse:
    response = intent_obj.create_response()
    response.async_set_speech(text)
    return response


class PendingHandler(intent.IntentHandler):
    """Say which requests wait for the speaker's answer."""

    intent_type = INTENT_PENDING
    description = "Tells which PAI requests wait for the user's answer"

    def __init__(self) -> None:
        """Never an Assist API tool, should it offer more intents (no entity domain is `pai`)."""
        self.platforms = {DOMAIN}

    async def async_handle(self, intent_obj: intent.Intent) -> intent.IntentResponse:
        """List the pending requests, newest first."""
        say = phrases(intent_obj.language)
        requests = pending_requests(intent_obj.hass, intent_obj.context.user_id)
        if not requests:
            return _speak(intent_obj, say["none_pending"])
        items = " ".join(
            say["item"].format(agent=r.runtime.name, what=r.what_runs)
            for r in requests[:5]
        )
        return _speak(
            intent_obj, say["pending"].format(count=len(requests), items=items)
        )


SAID: Mapping[str, str] = {
    "approve": "approved",
    "decline": "declined",
    "snooze": "snoozed",
    "false_alarm": "false_alarm",
}
"""The phrase that says each verdict was given."""


class AnswerHandler(intent.IntentHandler):
    """Approve, decline, snooze or false-alarm the newest request of the speaker's agents."""

    def __init__(self, intent_type: str, verdict: str) -> None:
        """One handler per verdict."""
        self.intent_type = intent_type
        self.verdict = verdict
        self.platforms = {DOMAIN}
        self.description = f"Answers the newest PAI request: {verdict}"

    async def async_handle(self, intent_obj: intent.Intent) -> intent.IntentResponse:
        """Answer it, exactly once, as the speaker."""
        say = phrases(intent_obj.language)
        hass = intent_obj.hass
        user_id = intent_obj.context.user_id
        requests = pending_requests(hass, user_id)
        if not requests:
            return _speak(intent_obj, say["nothing_pending"])
        newest = requests[0]
        try:
            answer = await async_answer(hass, user_id, newest.record_id, self.verdict)
        except TalkError as err:
            return _speak(intent_obj, say["refused"].format(why=err.reason))
        return _speak(
            intent_obj,
            say[SAID[self.verdict]].format(
                what=newest.what_runs,
                status=answer["record"]["status"],
                minutes=int(DEFAULT_SNOOZE.total_seconds() // 60),
            ),
        )


class ExplainHandler(intent.IntentHandler):
    """Say why an entity changed, from the newest record about it."""

    intent_type = INTENT_EXPLAIN
    description = "Tells what PAI's records say about an entity"

    def __init__(self) -> None:
        """Only for PAI's own sentences."""
        self.platforms = {DOMAIN}

    @property
    def slot_schema(self) -> dict[Any, Any] | None:
        """The entity, as the speaker named it."""
        return {"name": intent.non_empty_string}

    async def async_handle(self, intent_obj: intent.Intent) -> intent.IntentResponse:
        """Explain the newest record about the entity; never more than it says."""
        say = phrases(intent_obj.language)
        hass = intent_obj.hass
        spoken = str(intent_obj.slots.get("name", {}).get("value", ""))
        entity_id = find_entity(hass, spoken)
        if entity_id is None:
            return _speak(intent_obj, say["no_entity"])
        records = await async_explain(
            hass, intent_obj.context.user_id, entity_id=entity_id, limit=1
        )
        state = hass.states.get(entity_id)
        name = state.name if state else entity_id
        if not records:
            return _speak(intent_obj, say["no_record"].format(entity=name))
        return _speak(intent_obj, explanation(say, records[0]))


def explanation(say: Mapping[str, str], record: Mapping[str, Any]) -> str:
    """One record in a few sentences: its own fields, nothing added."""
    trigger = record["trigger"]
    seen = trigger.get("entity_id") or trigger.get("kind") or "?"
    if "to_state" in trigger:
        seen = f"{seen} → {trigger['to_state']}"
    when = dt_util.parse_datetime(record["time"])
    text = say["explain"].format(
        time=dt_util.as_local(when).strftime("%H:%M") if when else record["time"],
        agent=record["agent"],
        trigger=seen,
        action=record["proposed_action"],
        level=record["granted_level"],
        status=record["status"],
    )
    if record["gate_reasons"]:
        text += say["reasons"].format(reasons="; ".join(record["gate_reasons"]))
    if record["what_ran"] and record["status"] in ("executed", "undone"):
        text += say["ran"].format(ran="; ".join(record["what_ran"]))
    return text


def find_entity(hass: HomeAssistant, spoken: str) -> str | None:
    """Return the exposed entity whose name (or id) the spoken words contain, the longest."""
    words = " ".join(spoken.casefold().split())
    best: tuple[int, str] | None = None
    for state in hass.states.async_all():
        names = {
            state.name.casefold(),
            state.entity_id,
            state.object_id.replace("_", " "),
        }
        for name in names:
            if (
                name
                and name in words
                and (best is None or len(name) > best[0])
                and async_should_expose(hass, "conversation", state.entity_id)
            ):
                best = (len(name), state.entity_id)
    return None if best is None else best[1]


async def async_setup_intents(hass: HomeAssistant) -> CALLBACK_TYPE | None:
    """Register the intent handlers and the sentences that reach them."""
    intent.async_register(hass, PendingHandler())
    intent.async_register(hass, AnswerHandler(INTENT_APPROVE, "approve"))
    intent.async_register(hass, AnswerHandler(INTENT_DECLINE, "decline"))
    intent.async_register(hass, AnswerHandler(INTENT_SNOOZE, "snooze"))
    intent.async_register(hass, AnswerHandler(INTENT_FALSE_ALARM, "false_alarm"))
    intent.async_register(hass, ExplainHandler())
    configs = await async_validate_trigger_config(
        hass,
        cv.TRIGGER_SCHEMA(
            [
                {"trigger": "conversation", "command": sentences, "id": intent_type}
                for intent_type, sentences in SENTENCES.items()
            ]
        ),
    )

    async def heard(
        run_variables: dict[str, Any], context: Context | None = None
    ) -> ScriptRunResult:
        trigger = run_variables["trigger"]
        user_input = trigger.get("user_input") or {}
        said = user_input.get("context") or {}
        response = await intent.async_handle(
            hass,
            DOMAIN,
            trigger["id"],
            {name: {"value": value} for name, value in trigger["slots"].items()},
            trigger.get("sentence"),
            Context(user_id=said.get("user_id"), parent_id=said.get("id")),
            user_input.get("language"),
            device_id=trigger.get("device_id"),
        )
        speech = response.speech.get("plain", {}).get("speech")
        return ScriptRunResult(
            conversation_response=speech, service_response=None, variables={}
        )

    return await async_initialize_triggers(
        hass, configs, heard, DOMAIN, "PAI sentences", _log
    )


def _log(level: int, message: str, **kwargs: Any) -> None:
    _LOGGER.log(level, message, **kwargs)


@callback
def async_watch_conversation(hass: HomeAssistant) -> None:
    """Set the sentences up once the conversation integration is (or becomes) loaded."""
    if "conversation" in hass.config.components:
        hass.async_create_task(async_setup_intents(hass), f"{DOMAIN} sentences")
        return

    @callback
    def loaded(event: Event[EventComponentLoaded]) -> None:
        if event.data["component"] == "conversation":
            unsub()
            hass.async_create_task(async_setup_intents(hass), f"{DOMAIN} sentences")

    unsub = hass.bus.async_listen(EVENT_COMPONENT_LOADED, loaded)
