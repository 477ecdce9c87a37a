"""The agent's event queue: in order, a flood collapses per entity, memory stays bounded."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.pai.engine.event_queue import (
    DEFAULT_MAX_SIZE,
    CollapsingQueue,
    QueueStats,
)
from custom_components.pai.engine.models import Event


def event(name: str) -> Event:
    return Event(source="test", kind="ha.state", payload={"to_state": name})


def drain(queue: CollapsingQueue) -> list[str]:
    names = []
    while len(queue):
        names.append(queue.pop().payload["to_state"])
    return names


def test_events_come_out_in_the_order_they_went_in() -> None:
    queue = CollapsingQueue()
    for name in ("a", "b", "c"):
        queue.put(event(name))

    assert len(queue) == 3
    assert drain(queue) == ["a", "b", "c"]
    assert queue.stats == QueueStats(accepted=3, collapsed=0, dropped=0)


def test_an_entity_newer_state_replaces_the_waiting_one_in_place() -> None:
    queue = CollapsingQueue()
    queue.put(event("motion on"), "binary_sensor.motion")
    queue.put(event("door open"), "binary_sensor.door")
    queue.put(event("tick"))
    queue.put(event("motion off"), "binary_sensor.motion")

    assert drain(queue) == ["motion off", "door open", "tick"]
    assert queue.stats == QueueStats(accepted=4, collapsed=1, dropped=0)


def test_an_entity_queues_again_once_its_event_was_taken() -> None:
    queue = CollapsingQueue()
    queue.put(event("on"), "light.porch")
    assert drain(queue) == ["on"]

    queue.put(event("off"), "light.porch")

    assert drain(queue) == ["off"]
    assert queue.stats.collapsed == 0


def test_a_full_queue_drops_the_oldest_waiting_event() -> None:
    queue = CollapsingQueue(max_size=2)
    queue.put(event("a"))
    queue.put(event("b"), "sensor.b")
    queue.put(event("c"))
    queue.put(event("b2"), "sensor.b")  # collapses: no room needed
    queue.put(event("d"), "sensor.d")

    assert len(queue) == 2
    assert drain(queue) == ["c", "d"]
    assert queue.stats == QueueStats(accepted=5, collapsed=1, dropped=2)


def test_pop_from_an_empty_queue_says_so() -> None:
    queue = CollapsingQueue()

    with pytest.raises(IndexError, match="empty"):
        queue.pop()


def test_clear_forgets_waiting_events_and_their_keys() -> None:
    queue = CollapsingQueue()
    queue.put(event("on"), "light.porch")
    queue.put(event("tick"))

    queue.clear()

    assert len(queue) == 0
    queue.put(event("off"), "light.porch")
    assert drain(queue) == ["off"]
    assert queue.stats.collapsed == 0


def test_default_bound() -> None:
    assert CollapsingQueue().max_size == DEFAULT_MAX_SIZE


@pytest.mark.parametrize("max_size", [0, -1])
def test_a_queue_must_hold_at_least_one_event(max_size: int) -> None:
    with pytest.raises(ValueError, match=f"at least 1, got {max_size}"):
        CollapsingQueue(max_size)


# put(key or None) or pop, as a flood of state changes and a worker produce them
operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.one_of(st.none(), st.sampled_from("abcde"))),
        st.just(("pop", None)),
    ),
    max_size=200,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(max_size=st.integers(min_value=1, max_value=8), ops=operations)
def test_bounded_and_every_event_accounted_for(
    max_size: int, ops: list[tuple[str, str | None]]
) -> None:
    queue = CollapsingQueue(max_size)
    popped = 0
    for number, (op, key) in enumerate(ops):
        if op == "put":
            queue.put(event(str(number)), key)
        elif len(queue):
            queue.pop()
            popped += 1
        assert len(queue) <= max_size
        stats = queue.stats
        assert stats.accepted == popped + stats.collapsed + stats.dropped + len(queue)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(keys=st.lists(st.sampled_from("abc"), max_size=50))
def test_each_entity_waits_once_with_its_latest_event(keys: list[str]) -> None:
    queue = CollapsingQueue()
    for number, key in enumerate(keys):
        queue.put(event(f"{key}{number}"), key)

    latest = {key: f"{key}{number}" for number, key in enumerate(keys)}
    first_seen = list(dict.fromkeys(keys))
    assert drain(queue) == [latest[key] for key in first_seen]
