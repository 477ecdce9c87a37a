"""The OpenAI-compatible brain's compact answers, against the scripted server.

The request carries the compact schema (numbered actions, tuples) and, for a server in the
home, `cache_prompt` (llama.cpp's server keeps the prompt's KV state); the answer's tuples
become the same checked intents as today's objects. `compact = False` is today's request.
A server in the home is first offered the compact grammar (GBNF); one that refuses or
ignores it gets the JSON schema from then on.
"""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant

from custom_components.pai.engine.brain import MAX_INTENTS

from .conftest import brain_request
from .helpers import LIGHT, FakeServer, completion, server_brain


def tuples(answer: object) -> dict[str, object]:
    """A chat completion whose message is `answer` as JSON."""
    body = completion([])
    body["choices"][0]["message"]["content"] = json.dumps(answer)  # type: ignore[index]
    return body


async def test_compact_request_and_answer(
    hass: HomeAssistant, fake_server: FakeServer
) -> None:
    fake_server.answers = [
        (200, tuples({"intents": [[2, 3, 4, 1, "dark"], [9, 3, 5, 5, "x"]]}))
    ]

    brain = server_brain(hass, fake_server)

    result = await brain.async_think(brain_request())

    [found] = result.intents
    assert (found.action, int(found.requested_level)) == ("light_on", 3)
    assert (found.confidence, found.urgency, found.rationale) == (0.8, 0.2, "dark")
    assert found.params == {"event_payload": dict(brain_request().event.payload)}
    assert result.dropped == ("unknown action '#9'",)
    [sent] = fake_server.requests
    body = sent["body"]
    assert body["cache_prompt"] is True  # 127.0.0.1 is in the home
    schema = body["response_format"]["json_schema"]["schema"]
    answer = schema["properties"]["intents"]
    assert answer["maxItems"] == 2  # one per action: there are no params to tell apart
    assert answer["items"]["prefixItems"][0]["enum"] == [0, 1, 2]
    system = body["messages"][0]["content"]
    assert "1. alarm: 2" in system
    assert "2. light_on: 3 (turn on the porch light)" in system


async def test_nothing_to_do_and_todays_objects_still_read(
    hass: HomeAssistant, fake_server: FakeServer
) -> None:
    fake_server.answers = [
        (200, tuples({"intents": [[0, 0, 0, 0, ""]]})),
        (200, completion([LIGHT])),  # a server that ignored the schema
    ]
    brain = server_brain(hass, fake_server)

    nothing = await brain.async_think(brain_request())
    today = await brain.async_think(brain_request())

    assert nothing.intents == ()
    assert nothing.dropped == ()
    assert [i.action for i in today.intents] == ["light_on"]


async def test_todays_request_when_compact_is_off(
    hass: HomeAssistant, fake_server: FakeServer
) -> None:
    fake_server.answers = [(200, completion([LIGHT]))]
    brain = server_brain(hass, fake_server)
    brain.compact = False

    result = await brain.async_think(brain_request())

    assert [i.action for i in result.intents] == ["light_on"]
    body = fake_server.requests[0]["body"]
    assert "cache_prompt" not in body
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["intents"]["maxItems"] == MAX_INTENTS
    assert "- light_on: 3" in body["messages"][0]["content"]


async def test_a_server_in_the_home_is_offered_the_grammar_first(
    hass: HomeAssistant, fake_server: FakeServer
) -> None:
    fake_server.answers = [
        (200, tuples([[2, 3, 4, 1, "dark"]])),
        (200, tuples([[0, 0, 0, 0, ""]])),
    ]
    brain = server_brain(hass, fake_server, grammar=True)

    result = await brain.async_think(brain_request())
    await brain.async_think(brain_request())

    assert [(i.action, int(i.requested_level)) for i in result.intents] == [
        ("light_on", 3)
    ]
    for sent in fake_server.requests:  # remembered: the grammar again
        body = sent["body"]
        assert "response_format" not in body
        assert body["grammar"].startswith('root ::= "[" intent ("," intent){0,1} "]"')
        assert body["cache_prompt"] is True
        system = body["messages"][0]["content"]
        assert '[[action, level, confidence, urgency, "why"], ...]' in system
        assert '{"intents"' not in system  # the bare list, nothing to wrap it


async def test_a_server_refusing_or_ignoring_the_grammar_gets_the_schema(
    hass: HomeAssistant, fake_server: FakeServer
) -> None:
    prose = completion([])
    prose["choices"][0]["message"]["content"] = "The porch light should go on."  # type: ignore[index]
    for first in (
        (400, {"error": {"message": "unknown field: grammar"}}),
        (500, {"error": {"message": "cannot parse grammar"}}),
        (200, prose),  # a server that ignored it
    ):
        fake_server.requests.clear()
        fake_server.answers = [
            first,
            (200, tuples({"intents": [[2, 3, 4, 1, "dark"]]})),
            (200, tuples({"intents": [[1, 2, 4, 1, "smoke"]]})),
        ]
        brain = server_brain(hass, fake_server, grammar=True)

        result = await brain.async_think(brain_request())
        again = await brain.async_think(brain_request())

        assert [i.action for i in result.intents] == ["light_on"], first
        assert [i.action for i in again.intents] == ["alarm"], first
        kinds = [
            "grammar"
            if "grammar" in r["body"]
            else r["body"]["response_format"]["type"]
            for r in fake_server.requests
        ]
        assert kinds == ["grammar", "json_schema", "json_schema"], first
