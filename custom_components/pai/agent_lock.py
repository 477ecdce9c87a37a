"""An agent's lock: one event at a time, decided and delivered in order.

Answers (`answers.py`) do not take it, so a pending request never waits on a busy agent.
Each hold is marked in a context variable, which the tasks an action starts inherit: an
action of an agent (or an automation it triggers, before the action ends) that asks the
same agent to evaluate would wait for itself forever, and is refused instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from contextvars import ContextVar

_HOLDER: ContextVar[object | None] = ContextVar("pai_lock_holder", default=None)
"""Which hold of an agent's lock the running code descends from."""


class AgentLock:
    """An asyncio lock that knows whether the running code descends from its hold."""

    def __init__(self) -> None:
        """Start unheld."""
        self._lock = asyncio.Lock()
        self._hold: object | None = None

    def locked(self) -> bool:
        """Whether someone holds it."""
        return self._lock.locked()

    def held_here(self) -> bool:
        """Whether the running code descends from the current hold (it would deadlock)."""
        return self._hold is not None and _HOLDER.get() is self._hold

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Hold the lock, marking the hold for the code (and tasks) it runs."""
        async with self._lock:
            self._hold = hold = object()
            token = _HOLDER.set(hold)
            try:
                yield
            finally:
                _HOLDER.reset(token)
                self._hold = None
