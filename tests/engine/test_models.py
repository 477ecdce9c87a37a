"""The models refuse what they cannot hold where they are made, in a sentence."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from custom_components.pai.engine.models import Event, InvalidModelError

NOW = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)


def test_an_event_reads_like_paigents() -> None:
    event = Event("sensor.cpu", "metric.breach", {"value": 91}, NOW, id="e1")

    assert event.to_dict() == {
        "id": "e1",
        "source": "sensor.cpu",
        "kind": "metric.breach",
        "payload": {"value": 91},
        "ts": "2026-03-14T15:00:00+00:00",
    }


def test_an_event_made_now_is_stamped_with_an_aware_time_and_an_id() -> None:
    event = Event("sensor.cpu", "metric.breach")

    assert event.time.utcoffset() is not None
    assert len(event.id) == 12


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"source": None}, "event: source must be a name, got None"),
        ({"kind": 3}, "event: kind must be a name, got 3"),
        (
            {"time": datetime(2026, 3, 14, 15)},
            "event: time must be a timezone-aware datetime, got "
            "datetime.datetime(2026, 3, 14, 15, 0)",
        ),
        ({"time": "now"}, "event: time must be a timezone-aware datetime, got 'now'"),
    ],
)
def test_a_malformed_event_is_refused_with_a_sentence(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidModelError) as caught:
        Event(**{"source": "sensor.cpu", "kind": "metric.breach"} | fields)

    assert message in str(caught.value)
