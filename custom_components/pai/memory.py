"""An agent's memory (`.storage/pai.<entry_id>`), read field by field.

A bad file costs only its bad parts. The file may be hand-edited or damaged: the whole of it a list or a string, `history` a
list, `"active": "false"`, a pending approval without a usable record. Each field is read on
its own; what cannot be used is dropped and named in one line, so the agent still starts
(the host warns and opens a Repairs issue listing them) and loses nothing else.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.storage import Store

from .const import DOMAIN
from .engine.approvals import ApprovalBook, PendingItem
from .engine.ledger import GovernanceLedger
from .engine.records import InvalidRecordError, validate_record

STORAGE_VERSION = 1
SAVE_DELAY = 1.0


def memory_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Return the agent's memory store: ledger, pending approvals, history, LLM budget."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}")


async def async_remove_memory(hass: HomeAssistant, entry_id: str) -> None:
    """Delete a removed agent's memory file (`.storage/pai.<entry_id>`)."""
    await memory_store(hass, entry_id).async_remove()


async def async_load_memory(store: Store[dict[str, Any]]) -> Memory:
    """Load and read the stored memory; never raises (an unreadable file is a problem)."""
    raw: object
    try:
        raw = await store.async_load()
    except (HomeAssistantError, ValueError) as err:
        raw = f"unreadable ({err})"
    return read_memory(raw)


def stored_memory(
    *,
    ledger: GovernanceLedger,
    approvals: ApprovalBook,
    in_flight: Mapping[str, dict[str, Any]],
    active: bool,
    router: Mapping[str, Any],
    history: Mapping[str, Counter[str]],
) -> dict[str, Any]:
    """Return what the store keeps, as `read_memory` reads it back."""
    return {
        "ledger": ledger.to_dict(),
        "approvals": approvals.to_dict(),
        "in_flight": dict(in_flight),
        "active": active,
        "router": dict(router),
        "history": {action: dict(counts) for action, counts in history.items()},
    }


@dataclass(slots=True)
class Memory:
    """What an agent remembers across restarts, every part usable."""

    ledger: GovernanceLedger = field(default_factory=GovernanceLedger)
    approvals: ApprovalBook = field(default_factory=ApprovalBook)
    active: bool = True
    router: Mapping[str, Any] | None = None
    history: dict[str, Counter[str]] = field(default_factory=dict)
    in_flight: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Records whose approved action or undo was running when the agent stopped."""
    problems: list[str] = field(default_factory=list)


class MemoryKeeper:
    """Keeps an agent's memory: loads it, saves it, and tells the entities it changed.

    The agent's parts read `keeper.memory` each time: loading replaces the whole of it.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        signal: str,
        router_state: Callable[[], Mapping[str, Any]],
    ) -> None:
        """Keep the agent's memory under `pai.<entry_id>`.

        `signal`: the dispatcher signal the entities listen to; `router_state`: the LLM
        budget to keep with the rest.
        """
        self.hass = hass
        self.signal = signal
        self.memory = Memory()
        self._store = memory_store(hass, entry_id)
        self._router_state = router_state

    async def async_load(self) -> Memory:
        """Read the stored memory field by field (see `read_memory`) and keep it."""
        self.memory = await async_load_memory(self._store)
        return self.memory

    @callback
    def changed(self, *, save: bool = True) -> None:
        """Tell the entities; with `save`, write the memory to disk soon."""
        if save:
            self._store.async_delay_save(self._stored, SAVE_DELAY)
        async_dispatcher_send(self.hass, self.signal)

    async def async_save(self) -> None:
        """Write the memory to disk now (before a request is sent or acted on)."""
        await self._store.async_save(self._stored())

    def _stored(self) -> dict[str, Any]:
        memory = self.memory
        return stored_memory(
            ledger=memory.ledger,
            approvals=memory.approvals,
            in_flight=memory.in_flight,
            active=memory.active,
            router=self._router_state(),
            history=memory.history,
        )


def read_memory(raw: object) -> Memory:
    """Read a stored memory; never raises. `problems` names every part dropped."""
    memory = Memory()
    if raw is None:
        return memory
    if not isinstance(raw, Mapping):
        memory.problems.append(
            f"the memory is {type(raw).__name__}, not an object: started afresh"
        )
        return memory
    memory.ledger = _ledger(raw.get("ledger"), memory.problems)
    memory.approvals = _approvals(raw.get("approvals"), memory.problems)
    active = raw.get("active", True)
    if isinstance(active, bool):
        memory.active = active
    else:
        memory.problems.append(f"'active' is {active!r}, not true or false: kept on")
    router = raw.get("router")
    if router is not None and not isinstance(router, Mapping):
        memory.problems.append("the LLM budget ('router') is not an object: reset")
    else:
        memory.router = router
    memory.history = _history(raw.get("history"), memory.problems)
    memory.in_flight = _in_flight(raw.get("in_flight"), memory.problems)
    return memory


def _ledger(raw: object, problems: list[str]) -> GovernanceLedger:
    if raw is not None and not isinstance(raw, Mapping):
        problems.append("the gate's ledger is not an object: reset")
    return GovernanceLedger.from_dict(raw)


def _approvals(raw: object, problems: list[str]) -> ApprovalBook:
    if raw is None:
        return ApprovalBook()
    if not isinstance(raw, Mapping):
        problems.append("the pending approvals are not an object: dropped")
        return ApprovalBook()
    pending = raw.get("pending")
    kept: list[object] = []
    for entry in pending if isinstance(pending, list) else []:
        if (why := _unusable(entry)) is not None:
            problems.append(why)
        else:
            kept.append(entry)
    if pending is not None and not isinstance(pending, list):
        problems.append("the pending approvals are not a list: dropped")
    book = ApprovalBook.from_dict({**raw, "pending": kept})
    if (lost := len(kept) - len(book)) > 0:
        problems.append(f"{lost} pending approvals or undo offers could not be read")
    return book


def _unusable(entry: object) -> str | None:
    """Why a stored pending item cannot be acted on later, else None."""
    try:
        item = PendingItem.from_dict(entry)
    except ValueError as err:
        return f"a pending item was dropped: {err}"
    what = f"the pending {item.kind} of {item.record_id}"
    try:
        validate_record(item.payload.get("record"))
    except InvalidRecordError as err:
        return f"{what} was dropped: its record is not usable ({err})"
    if item.kind == "undo" and not isinstance(item.payload.get("snapshot"), list):
        return f"{what} was dropped: it has no states to restore"
    return None


def _history(raw: object, problems: list[str]) -> dict[str, Counter[str]]:
    history: dict[str, Counter[str]] = {}
    if raw is None:
        return history
    if not isinstance(raw, Mapping):
        problems.append("the action history is not an object: reset")
        return history
    for action, counts in raw.items():
        if not isinstance(action, str) or not isinstance(counts, Mapping):
            problems.append(f"the history of {action!r} is not readable: dropped")
            continue
        history[action] = Counter(
            {
                str(status): count
                for status, count in counts.items()
                if isinstance(count, int) and not isinstance(count, bool)
            }
        )
    return history


def _in_flight(raw: object, problems: list[str]) -> dict[str, dict[str, Any]]:
    flights: dict[str, dict[str, Any]] = {}
    if raw is None:
        return flights
    if not isinstance(raw, Mapping):
        problems.append("the actions in progress are not an object: dropped")
        return flights
    for record_id, entry in raw.items():
        record = entry.get("record") if isinstance(entry, Mapping) else None
        try:
            flights[str(record_id)] = {
                "record": validate_record(record),
                "verdict": str(entry.get("verdict")),
            }
        except InvalidRecordError as err:
            problems.append(
                f"the action in progress for {record_id} is not readable ({err})"
            )
    return flights
