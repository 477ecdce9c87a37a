"""Voice: asking for approval aloud on an Assist satellite, and announcing suggestions.

An `assist_satellite.*` entity can be one of an agent's targets. A request is asked with
Home Assistant's `assist_satellite.ask_question` and the sentences of the user's language
(`hass.config.language`; English and Traditional Chinese ship): the answer Home Assistant
matches (yes / no / later / false alarm) goes through the same exactly-once path as a
phone's button (`answer_routes.async_answer`: the same nonce, the same record). Nothing
matched, nobody answered, or a satellite that is unavailable: no decision, the request
stays pending on the other targets. The question runs as a background task: the agent
never waits for a voice.

A spoken answer comes from nobody in particular, so it is not asked when the agent names
approvers (they must answer as themselves) nor for a security-sensitive action (unlocking,
opening): those requests are read out as an announcement saying where to answer.
A suggestion is an announcement (`assist_satellite.announce`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import logging
from typing import Any, Final

from homeassistant.const import ATTR_SUPPORTED_FEATURES, STATE_UNAVAILABLE
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import probatio as vol

from .engine.approvals import Verb
from .engine.records import RecordView
from .runtime_data import owner_of_record

_LOGGER = logging.getLogger(__name__)

SATELLITE_DOMAIN: Final = "assist_satellite"
SERVICE_ASK_QUESTION: Final = "ask_question"
SERVICE_ANNOUNCE: Final = "announce"
FEATURE_ANNOUNCE: Final = 1
FEATURE_START_CONVERSATION: Final = 2
"""`AssistSatelliteEntityFeature` values (ask_question needs START_CONVERSATION)."""

SENTENCES: Final[Mapping[str, Mapping[Verb, tuple[str, ...]]]] = {
    "en": {
        Verb.APPROVE: (
            "yes",
            "yes please",
            "sure",
            "ok",
            "okay",
            "approve",
            "do it",
            "go ahead",
        ),
        Verb.DECLINE: ("no", "no thanks", "no thank you", "decline", "do not"),
        Verb.SNOOZE: (
            "later",
            "ask me later",
            "ask again later",
            "remind me later",
            "snooze",
            "not now",
        ),
        Verb.FALSE_ALARM: (
            "false alarm",
            "it is a false alarm",
            "it was a false alarm",
        ),
    },
    "zh-Hant": {
        Verb.APPROVE: ("好", "好的", "是", "可以", "批准", "確定", "執行"),
        Verb.DECLINE: ("不", "不要", "不用", "拒絕"),
        Verb.SNOOZE: ("稍後", "等一下", "晚點再問", "稍後再問", "現在不要"),
        Verb.FALSE_ALARM: ("誤報", "是誤報", "假警報"),
    },
}
"""What each answer sounds like, per language (hassil templates, no punctuation)."""

QUESTIONS: Final[Mapping[str, str]] = {
    "en": "{message}. Say yes, no, later or false alarm.",
    "zh-Hant": "{message}。請說好、不要、稍後或誤報。",
}
NOTICES: Final[Mapping[str, str]] = {
    "en": "{message}. This needs your approval on your phone or the {agent} inbox.",
    "zh-Hant": "{message}。請在手機或 {agent} 收件匣中批准。",
}
"""What a request sounds like where a spoken answer cannot decide it."""


def sentences_language(language: str) -> str | None:
    """Find the shipped sentences for `language` (a BCP 47 tag), or None.

    `en-GB` takes English; `zh-Hant`, `zh-TW`, `zh-HK` and `zh-MO` take Traditional Chinese.
    """
    if language in SENTENCES:
        return language
    base, _, region = language.partition("-")
    if base == "en":
        return "en"
    if base == "zh" and region in ("Hant", "TW", "HK", "MO"):
        return "zh-Hant"
    return None


def answers_for(language: str) -> list[dict[str, Any]] | None:
    """Build the `answers` of `ask_question` in `language` (None when none ship)."""
    found = sentences_language(language)
    if found is None:
        return None
    return [
        {"id": str(verb), "sentences": list(sentences)}
        for verb, sentences in SENTENCES[found].items()
    ]


def is_satellite(target: str) -> bool:
    """Whether `target` names an Assist satellite entity."""
    return target.startswith(f"{SATELLITE_DOMAIN}.")


def satellite_state(hass: HomeAssistant, target: str) -> tuple[bool, int] | None:
    """(available, supported features) of a satellite, or None when it does not exist."""
    state = hass.states.get(target)
    if state is None:
        return None
    features = state.attributes.get(ATTR_SUPPORTED_FEATURES)
    return (
        state.state != STATE_UNAVAILABLE,
        features if isinstance(features, int) else 0,
    )


@dataclass(frozen=True, slots=True)
class VoiceTerms:
    """How a request may be asked aloud, from the agent that waits for it."""

    agent: str
    may_answer: bool
    """Whether a spoken answer may decide it."""
    context: Context
    """The agent's own context, a child of the request's cause (loops and logbook)."""


def voice_terms(hass: HomeAssistant, record_id: str, nonce: str) -> VoiceTerms:
    """Say how the request may be asked aloud.

    A spoken answer may not decide it when the agent names approvers (a voice is nobody in
    particular) nor for a security-sensitive action (the gate's list and the bindings found
    sensitive).
    """
    runtime = owner_of_record(hass, record_id, kind="approval", nonce=nonce)
    pending = (
        runtime.keeper.memory.approvals.get(record_id, "approval") if runtime else None
    )
    if runtime is None or pending is None:
        return VoiceTerms("PAI", may_answer=False, context=Context())
    cause = pending.payload.get("cause")
    context = runtime.own.context(parent_id=cause if isinstance(cause, str) else None)
    record = pending.payload.get("record")
    if not isinstance(record, Mapping):
        return VoiceTerms(runtime.name, may_answer=False, context=context)
    sensitive = RecordView.of(record).action in runtime.survival.sensitive_actions
    may_answer = not runtime.settings.approvers and not sensitive
    return VoiceTerms(runtime.name, may_answer=may_answer, context=context)


class Satellites:
    """Asks requests aloud and reads out suggestions."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Speak through `hass`'s satellites."""
        self._hass = hass

    async def async_announce(self, target: str, message: str) -> bool:
        """Read `message` out on a satellite; tell whether it was sent."""
        found = satellite_state(self._hass, target)
        if found is None or not found[0]:
            _LOGGER.warning("Assist satellite %s is unavailable; not announced", target)
            return False
        if not found[1] & FEATURE_ANNOUNCE:
            _LOGGER.warning("Assist satellite %s cannot announce; skipped", target)
            return False
        self._hass.async_create_background_task(
            self._async_call(target, SERVICE_ANNOUNCE, {"message": message}, Context()),
            f"pai announce on {target}",
        )
        return True

    def ask(
        self,
        target: str,
        record_id: str,
        nonce: str,
        message: str,
        terms: VoiceTerms,
    ) -> bool:
        """Ask a request aloud (answered by voice only when `terms.may_answer`).

        Returns whether the satellite was asked; the answer is handled in a background
        task, so this never waits for it.
        """
        found = satellite_state(self._hass, target)
        if found is None or not found[0]:
            _LOGGER.warning(
                "Assist satellite %s is unavailable; %s was not asked aloud "
                "(it stays pending on the other targets)",
                target,
                record_id,
            )
            return False
        language = self._hass.config.language
        spoken = sentences_language(language)
        answers = answers_for(language)
        can_ask = bool(found[1] & FEATURE_START_CONVERSATION)
        if answers is None or not terms.may_answer or not can_ask:
            if answers is None:
                _LOGGER.warning(
                    "No answer sentences for language %s (shipped: %s); %s is read "
                    "out on %s, to be answered elsewhere",
                    language,
                    ", ".join(SENTENCES),
                    record_id,
                    target,
                )
            notice = NOTICES[spoken or "en"].format(message=message, agent=terms.agent)
            if found[1] & FEATURE_ANNOUNCE:
                self._hass.async_create_background_task(
                    self._async_call(
                        target, SERVICE_ANNOUNCE, {"message": notice}, terms.context
                    ),
                    f"pai announce {record_id} on {target}",
                )
            return False
        question = QUESTIONS[spoken or "en"].format(message=message)
        self._hass.async_create_background_task(
            self._async_ask(
                target, record_id, nonce, question, answers=answers, terms=terms
            ),
            f"pai ask {record_id} on {target}",
        )
        return True

    async def _async_ask(
        self,
        target: str,
        record_id: str,
        nonce: str,
        question: str,
        *,
        answers: list[dict[str, Any]],
        terms: VoiceTerms,
    ) -> None:
        """Ask, wait for the answer, and route a matched one like a phone's tap."""
        response = await self._async_call(
            target,
            SERVICE_ASK_QUESTION,
            {"question": question, "answers": answers},
            terms.context,
            ask=True,
        )
        if response is None:
            return  # no answer: no decision
        answer_id = response.get("id")
        if not isinstance(answer_id, str):
            _LOGGER.info(
                "%s: %r on %s is no answer to %s; it stays pending",
                terms.agent,
                response.get("sentence"),
                target,
                record_id,
            )
            return
        # The answer path imports the runtime, which imports the notifier and this module.
        from .answer_routes import DEFAULT_SNOOZE, async_answer  # noqa: PLC0415

        try:
            verb = Verb(answer_id)
        except ValueError:
            _LOGGER.warning("%s answered %r; ignored", target, answer_id)
            return
        await async_answer(
            self._hass,
            verb,
            record_id,
            nonce,
            user_id=None,
            source=f"spoken answer {verb} to {record_id} on {target}",
            snooze_for=DEFAULT_SNOOZE if verb is Verb.SNOOZE else None,
        )

    async def _async_call(
        self,
        target: str,
        service: str,
        data: dict[str, Any],
        context: Context,
        *,
        ask: bool = False,
    ) -> Mapping[str, Any] | None:
        """Call a satellite action; a failure (no answer included) is logged, not raised.

        `ask_question` takes the satellite in its data and returns the answer.
        """
        try:
            if ask:
                response = await self._hass.services.async_call(
                    SATELLITE_DOMAIN,
                    service,
                    data | {"entity_id": target},
                    blocking=True,
                    context=context,
                    return_response=True,
                )
                return response if isinstance(response, Mapping) else None
            await self._hass.services.async_call(
                SATELLITE_DOMAIN,
                service,
                data | {"entity_id": target},
                blocking=True,
                context=context,
            )
        except (HomeAssistantError, vol.Invalid) as err:
            _LOGGER.info("%s on %s: %s (no decision)", service, target, err)
        return None
