"""Bounds on what a brain's answer may put into PAI: params, notes and whole records.

Everything an LLM answers is hostile input. An intent's params are capped in size and
depth (an intent with params over the caps is dropped, with a note); the notes about what
was dropped are kept as a count plus the first few; and a record is made to fit the
store it goes to (Home Assistant's recorder keeps an event's data only up to 32 KiB): the
bulkiest parts are replaced by a marker saying they were cut and how large they were, and
`x_pai.truncated` lists them, so a record is never lost for being large. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import copy
import json
from typing import Any

from .rules import EVENT_PAYLOAD_PARAM

MAX_PARAMS_BYTES = 4096
"""An action's params are a few names and numbers, not documents."""
MAX_PARAMS_DEPTH = 4
MAX_NOTES = 5
"""Notes kept about what an answer had dropped; the rest are counted."""

RECORD_LIMIT = 30 * 1024
"""Bytes of JSON a record may take: the recorder keeps event data up to 32 KiB, and
the `pai_record` event carries the agent's id and name next to the record."""

TRUNCATED_KEY = "truncated"


def short(text: str, limit: int) -> str:
    """Cut `text` to `limit` characters, marking the cut (for titles, results, reviews)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# What may be cut from a record, bulkiest-likely first. The record's identity, action,
# params (an approval runs them), levels and statuses are never cut; the copy of the
# event's payload among the params is (the action never sees it).
_CUTTABLE: tuple[tuple[str, ...], ...] = (
    ("x_pai", "brain"),
    ("1_perception", "raw_data_summary"),
    ("3_anticipation", "params", EVENT_PAYLOAD_PARAM),
    ("2_context", "action_history"),
    ("2_context", "relevant_memory"),
    ("2_context", "user_current_state"),
    ("3_anticipation", "predicted_intent"),
    ("4_execution", "actions_taken"),
    ("x_pai", "event"),
    ("x_pai", "reasons"),
)


def json_size(value: Any) -> int:
    """Bytes `value` takes as compact JSON (anything not JSON counts as its text)."""
    return len(
        json.dumps(
            value, separators=(",", ":"), ensure_ascii=False, default=str
        ).encode()
    )


def depth_over(value: Any, limit: int) -> bool:
    """Whether `value` nests containers deeper than `limit` (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth + 1 > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def params_problem(params: Any) -> str | None:
    """Why an intent's params are too large to take, else None."""
    if depth_over(params, MAX_PARAMS_DEPTH):
        return f"params nested deeper than {MAX_PARAMS_DEPTH} levels"
    size = json_size(params)
    if size > MAX_PARAMS_BYTES:
        return f"params of {size} bytes (more than {MAX_PARAMS_BYTES})"
    return None


def capped_notes(notes: list[str], more: int = 0) -> tuple[str, ...]:
    """Keep the first `MAX_NOTES` notes, then one counting the rest (and `more`)."""
    rest = len(notes) - MAX_NOTES + more if len(notes) > MAX_NOTES else more
    kept = notes[:MAX_NOTES]
    return (*kept, f"and {rest} more dropped") if rest > 0 else tuple(kept)


def fit_record(
    record: Mapping[str, Any], limit: int = RECORD_LIMIT
) -> tuple[dict[str, Any], bool]:
    """Return `record` cut to fit in `limit` bytes, and whether it fits now.

    A part that is cut becomes `{"truncated": true, "bytes": <its size>}` (a text is
    shortened instead), and its path is listed in `x_pai.truncated`.
    """
    if json_size(record) <= limit:
        return dict(record), True
    fitted = copy.deepcopy(dict(record))
    cut: list[str] = []
    x_pai = fitted.setdefault("x_pai", {})
    for path in _CUTTABLE:
        parent: Any = fitted
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict) or path[-1] not in parent:
            continue
        value = parent[path[-1]]
        size = json_size(value)
        if size <= 256:
            continue
        if isinstance(value, str):
            parent[path[-1]] = value[:200] + "…"
        else:
            parent[path[-1]] = {TRUNCATED_KEY: True, "bytes": size}
        cut.append(".".join(path))
        if isinstance(x_pai, dict):
            x_pai[TRUNCATED_KEY] = list(cut)
        if json_size(fitted) <= limit:
            return fitted, True
    return fitted, json_size(fitted) <= limit
