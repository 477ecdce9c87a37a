"""A preference dataset from the user's verdicts, for fine-tuning the local model elsewhere.

The seed's self-finetuning loop (paigent's `export_preference_dataset`) turns feedback into
JSONL lines `{"prompt", "chosen", "rejected"}`: accepted (or modified) behaviour is chosen,
rejected (or ignored) behaviour is rejected, and where the user said only one of the two,
staying silent stands in for the other side. Here the prompt is what an LLM brain is shown
for the event (`system_prompt` + `user_message`), and both sides are answers in the very
JSON the model must produce, so an adapter trained on them (DPO, or SFT on `chosen`) learns
this agent's actions in its own output format.

Records without a verdict (`pending`) teach nothing and are left out. Pure: no Home
Assistant import; the caller reads the records and writes the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
import json
from typing import Any

from .brain import ActionChoice, BrainRequest, system_prompt, user_message
from .models import Event
from .rules import EVENT_PAYLOAD_PARAM

GOOD_FEEDBACK = frozenset({"accepted", "modified"})
BAD_FEEDBACK = frozenset({"rejected", "ignored"})
SILENCE: Mapping[str, Any] = {"intents": []}
"""The answer that proposes nothing: the other side of a one-sided verdict."""


@dataclass(frozen=True, slots=True)
class AgentPrompt:
    """What the brain is told about the agent (the stable part of every prompt)."""

    agent: str
    actions: tuple[ActionChoice, ...]
    user_profile: str = ""
    description: str = ""


@dataclass(slots=True)
class _Situation:
    request: BrainRequest
    good: list[dict[str, Any]] = field(default_factory=list)
    bad: list[dict[str, Any]] = field(default_factory=list)


def event_of(record: Mapping[str, Any]) -> Event:
    """Return the event a record was made for (its id and time from `x_pai.event`)."""
    perception = record["1_perception"]
    x_event = record.get("x_pai", {}).get("event", {})
    try:
        moment = datetime.fromisoformat(str(x_event.get("time") or record["timestamp"]))
    except ValueError:
        moment = datetime.now(UTC)
    return Event(
        source=str(perception.get("trigger_source", "")),
        kind=str(perception.get("event_type", "")),
        payload=dict(perception.get("raw_data_summary") or {}),
        time=moment,
        id=str(x_event.get("id") or record["record_id"]),
    )


def request_of(record: Mapping[str, Any], agent: AgentPrompt) -> BrainRequest:
    """Rebuild what the brain saw for a record's event, from what the record keeps."""
    context = record.get("2_context", {})
    return BrainRequest(
        agent=agent.agent,
        event=event_of(record),
        context={
            "user_state": context.get("user_current_state", "unknown"),
            "recent_events": list(context.get("relevant_memory") or []),
            "action_history": list(context.get("action_history") or []),
        },
        actions=agent.actions,
        user_profile=agent.user_profile,
        description=agent.description,
    )


def intent_answer(record: Mapping[str, Any]) -> dict[str, Any]:
    """Return a record's intent as the model would have written it."""
    anticipation = record["3_anticipation"]
    params = {
        key: value
        for key, value in (anticipation.get("params") or {}).items()
        if key != EVENT_PAYLOAD_PARAM  # the event's payload, added by the parser
    }
    answer = {
        "action": anticipation["action"],
        "confidence": anticipation["confidence_score"],
        "urgency": anticipation["urgency_score"],
        "level": anticipation["requested_level"],
        "rationale": anticipation.get("predicted_intent") or "",
    }
    if params:
        answer["params"] = params
    return answer


def preference_pairs(
    records: Iterable[Mapping[str, Any]], agent: AgentPrompt
) -> list[dict[str, str]]:
    """Return one `{"prompt", "chosen", "rejected"}` per event the user judged.

    Records of the same event share a prompt: what the user accepted there is chosen,
    what they rejected is rejected; a missing side is silence. Oldest event first.
    """
    situations: dict[str, _Situation] = {}
    for record in sorted(records, key=lambda item: str(item.get("timestamp", ""))):
        feedback = record.get("6_adaptation", {}).get("user_feedback")
        if feedback not in GOOD_FEEDBACK | BAD_FEEDBACK:
            continue
        request = request_of(record, agent)
        situation = situations.setdefault(request.event.id, _Situation(request))
        side = situation.good if feedback in GOOD_FEEDBACK else situation.bad
        side.append(intent_answer(record))
    return [
        {
            "prompt": prompt_text(situation.request),
            "chosen": answer_text(situation.good),
            "rejected": answer_text(situation.bad),
        }
        for situation in situations.values()
    ]


def prompt_text(request: BrainRequest) -> str:
    """Return the prompt as one text: the system part, then the event as data."""
    return f"{system_prompt(request)}\n\n{user_message(request)}"


def answer_text(intents: Sequence[Mapping[str, Any]]) -> str:
    """Return an answer in the brain's JSON format (no intents: silence)."""
    return json.dumps(
        {"intents": list(intents)} if intents else SILENCE, ensure_ascii=False
    )


def to_jsonl(pairs: Iterable[Mapping[str, str]]) -> str:
    """Return the dataset as JSON Lines (one pair a line, UTF-8 text)."""
    return "".join(json.dumps(pair, ensure_ascii=False) + "\n" for pair in pairs)
