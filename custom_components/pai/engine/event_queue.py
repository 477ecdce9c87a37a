"""A bounded event queue that collapses floods: the latest state per entity wins.

A busy sensor can change state hundreds of times a second. An agent cares about what the
entity is now, not about every step on the way, so an event that carries a collapse key (the
entity id) replaces the one with the same key still waiting, keeping its place in line. Events
without a key queue in order. When the queue is full the oldest waiting event is dropped, so
memory stays bounded whatever the event rate. Counters say what was collapsed and dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from itertools import count

from .models import Event

DEFAULT_MAX_SIZE = 256


@dataclass(slots=True)
class QueueStats:
    """What the queue did to keep up: events accepted, collapsed into a newer one, dropped."""

    accepted: int = 0
    collapsed: int = 0
    dropped: int = 0


class CollapsingQueue:
    """First in, first out, with collapse by key and a hard bound."""

    def __init__(self, max_size: int = DEFAULT_MAX_SIZE) -> None:
        """Create an empty queue that holds at most `max_size` events."""
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, got {max_size}")
        self.max_size = max_size
        self.stats = QueueStats()
        self._waiting: OrderedDict[Hashable, Event] = OrderedDict()
        self._serial = count()

    def __len__(self) -> int:
        """Return the number of events waiting."""
        return len(self._waiting)

    def put(self, event: Event, collapse_key: Hashable | None = None) -> None:
        """Queue `event`; with a key, replace a waiting event with the same key in place."""
        self.stats.accepted += 1
        if collapse_key is not None:
            key: Hashable = ("key", collapse_key)
            if key in self._waiting:
                self._waiting[key] = event
                self.stats.collapsed += 1
                return
        else:
            key = ("seq", next(self._serial))
        if len(self._waiting) >= self.max_size:
            self._waiting.popitem(last=False)
            self.stats.dropped += 1
        self._waiting[key] = event

    def pop(self) -> Event:
        """Take the oldest waiting event (IndexError when empty)."""
        if not self._waiting:
            raise IndexError("pop from an empty CollapsingQueue")
        return self._waiting.popitem(last=False)[1]

    def clear(self) -> None:
        """Forget every waiting event."""
        self._waiting.clear()
