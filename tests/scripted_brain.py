"""A brain that answers from a script, for the router and routing tests.

It implements the `Brain` protocol itself (the interface under test), not a mock of a
server: each step is a result to return, an error to raise, seconds to hang, or an
`asyncio.Event` to wait on; an empty script gives `default()`.
"""

from __future__ import annotations

import asyncio

from custom_components.pai.engine.brain import BrainRequest, BrainResult

type Step = BrainResult | Exception | float | asyncio.Event


class ScriptedBrain:
    """Answers each request with the next step of its script; keeps the requests."""

    def __init__(self, name: str, *script: Step, local: bool = False) -> None:
        self._name = name
        self._local = local
        self.script = list(script)
        self.requests: list[BrainRequest] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def is_local(self) -> bool:
        return self._local

    def default(self) -> BrainResult:
        """The answer when the script has run out (and after a hang or a wait)."""
        raise NotImplementedError

    async def async_think(self, request: BrainRequest) -> BrainResult:
        self.requests.append(request)
        step = self.script.pop(0) if self.script else self.default()
        if isinstance(step, Exception):
            raise step
        if isinstance(step, asyncio.Event):
            await step.wait()
            return self.default()
        if isinstance(step, float | int):
            await asyncio.sleep(step)
            return self.default()
        return step
