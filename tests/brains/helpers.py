"""Builders the brain tests share: a fake OpenAI-compatible server and a brain on it."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from homeassistant.core import HomeAssistant

from custom_components.pai.brains.openai_server import OpenAIServerBrain


class FakeServer:
    """Scripted /v1/chat/completions: one (status, body) per request, in order."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(
            {"body": body, "auth": request.headers.get("Authorization")}
        )
        status, answer = self.answers.pop(0) if self.answers else (200, completion([]))
        if isinstance(answer, str):
            return web.Response(status=status, text=answer)
        return web.json_response(answer, status=status)

    async def models(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") == "Bearer wrong":
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        return web.json_response({"object": "list", "data": [{"id": "m"}]})


def completion(intents: list[dict[str, Any]]) -> dict[str, Any]:
    """An OpenAI chat completion whose message is the answer JSON."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "tiny",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": json.dumps({"intents": intents}),
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 321, "completion_tokens": 12, "total_tokens": 333},
    }


LIGHT = {
    "action": "light_on",
    "confidence": 0.8,
    "urgency": 0.4,
    "level": 1,
    "rationale": "dark",
}


def server_brain(
    hass: HomeAssistant,
    fake: FakeServer,
    key: str | None = "sk-local",
    *,
    grammar: bool = False,
) -> OpenAIServerBrain:
    """The brain on the scripted server; a server that takes JSON schemas only, unless
    `grammar` (the compact answer's GBNF is then offered first, as to any home server)."""
    brain = OpenAIServerBrain(hass, base_url=fake.url, model="tiny", api_key=key)
    brain.grammar = grammar
    return brain
