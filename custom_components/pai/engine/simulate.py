"""A dry run: an agent's triggers, rules, gate and survival layer over recorded history.

"What would this agent have done last week?" The host (Home Assistant) reads the recorder's
state history and hands it here in time order, in chunks; this module keeps a simulated
clock, fires the agent's triggers the way Home Assistant would have (state, numeric_state,
threshold, time, time_pattern; template triggers evaluated against the historical states of
the entities they name), turns each firing into the event the live agent would have
perceived (the host's `make_event`, the same function the live triggers use), judges it with
the agent's own rules, and decides it with the pure decision loop (`loop.steps`) against a
fresh ledger and record rate, as the runtime does. Nothing runs and nothing is sent: the
result is a report (decisions per level per day, interruptions against the hourly cap and
quiet hours, what would have been executed, the most telling examples, the triggers that
could not be simulated and why).

Pure: no Home Assistant, no clock, no I/O. Jinja2 (for template triggers) is imported only
when an agent has one.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
import heapq
import itertools
import re
from typing import Any

from .event_queue import CollapsingQueue
from .ledger import GovernanceLedger
from .loop import Delivery, steps
from .models import Decision, Event, Intent, Policy, SurvivalPolicy
from .rate import RecordRate
from .rules import RuleBrain

EXAMPLES = 10
"""How many telling examples the report keeps."""
MAX_TICKS_PER_DAY = 86_400
TEMPLATE_TICK = timedelta(minutes=1)
"""Templates that read the clock are rendered again at the start of every minute (as HA does)."""

_LEVELS = ("observe", "suggest", "ask", "act")
_QUOTED_ENTITY = re.compile(r"[\"']([a-z0-9_]+\.[a-z0-9_]+)[\"']")
_STATES_ENTITY = re.compile(r"\bstates\.([a-z0-9_]+)\.([a-z0-9_]+)")
_NOW = re.compile(r"\b(now|utcnow|today_at)\s*\(")
_TRUTHY = frozenset({"1", "true", "yes", "on", "enable"})
_SANDBOX_FLAGS = frozenset({"unsafe_callable", "alters_data"})
"""What jinja2's sandbox asks of a callable; `states.<domain>` must not answer it."""
_DURATION_KEYS = ("days", "hours", "minutes", "seconds", "milliseconds")


class NotSimulatedError(ValueError):
    """A trigger this dry run cannot reproduce; the message says why."""


@dataclass(frozen=True, slots=True)
class Change:
    """One recorded state of one entity (what the recorder keeps), UTC."""

    entity_id: str
    state: str
    when: datetime
    attributes: Mapping[str, Any] = field(default_factory=dict)
    raw: Any = field(default=None, compare=False)
    """The host's own state object, handed back in `Firing` (the live trigger's variables)."""


@dataclass(frozen=True, slots=True)
class TriggerPlan:
    """One of the agent's triggers, as the host attaches it (a Home Assistant trigger config)."""

    config: Mapping[str, Any]
    source: str
    kind: str | None = None
    extra: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Firing:
    """A trigger that fired: the variables a live trigger hands its action."""

    index: int
    """Which plan (the live trigger's `idx`)."""
    platform: str
    when: datetime
    """The simulated moment (local time, as Home Assistant's `now`)."""
    entity_id: str | None = None
    from_state: Any = None
    to_state: Any = None

    def variables(self) -> dict[str, Any]:
        """Return the trigger variables as Home Assistant's trigger platforms pass them."""
        out: dict[str, Any] = {"platform": self.platform, "idx": str(self.index)}
        if self.entity_id is not None or self.platform in ("state", "numeric_state"):
            out.update(
                entity_id=self.entity_id,
                from_state=self.from_state,
                to_state=self.to_state,
            )
        elif self.platform == "template":
            out.update(entity_id=None, from_state=None, to_state=None)
        if self.platform in ("time", "time_pattern"):
            out["now"] = self.when
        return out


type MakeEvent = Callable[[TriggerPlan, Firing], tuple[Event, str | None] | None]
"""The host's way from a firing to the event the live agent perceives and its collapse key.

None: not an event (the live trigger would have ignored it too).
"""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A trigger (or rule) the dry run left out, and why."""

    name: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        """Return the report's form."""
        return {"trigger": self.name, "reason": self.reason}


# --- time ----------------------------------------------------------------------------------


def parse_duration(raw: Any) -> timedelta:
    """Read a trigger's `for`: seconds, "HH:MM[:SS]" or {hours: .., minutes: ..}."""
    if isinstance(raw, timedelta):
        return raw
    if isinstance(raw, bool):
        raise NotSimulatedError(f"`for` {raw!r} is not a duration")
    if isinstance(raw, int | float):
        return timedelta(seconds=float(raw))
    if isinstance(raw, str):
        if "{" in raw:
            raise NotSimulatedError("`for` is a template")
        parts = raw.strip().split(":")
        try:
            numbers = [float(part) for part in parts]
        except ValueError as err:
            raise NotSimulatedError(f"`for` {raw!r} is not a duration") from err
        if len(numbers) == 1:
            return timedelta(seconds=numbers[0])
        while len(numbers) < 3:
            numbers.append(0.0)
        return timedelta(hours=numbers[0], minutes=numbers[1], seconds=numbers[2])
    if isinstance(raw, Mapping):
        if any(isinstance(value, str) and "{" in value for value in raw.values()):
            raise NotSimulatedError("`for` is a template")
        try:
            return timedelta(
                **{key: float(raw[key]) for key in _DURATION_KEYS if key in raw}
            )
        except (TypeError, ValueError) as err:
            raise NotSimulatedError(f"`for` {raw!r} is not a duration") from err
    raise NotSimulatedError(f"`for` {raw!r} is not a duration")


def _time_field(raw: Any, limit: int, what: str) -> Callable[[int], bool] | None:
    """Read a time_pattern field: None (any), a number, "*" or "/n"."""
    if raw is None or raw == "*":
        return None
    text = str(raw).strip()
    if text.startswith("/"):
        step = int(text[1:])
        if step <= 0:
            raise NotSimulatedError(f"time_pattern {what} {raw!r}")
        return lambda value: value % step == 0
    number = int(text)
    if not 0 <= number < limit:
        raise NotSimulatedError(f"time_pattern {what} {raw!r} is out of range")
    return lambda value: value == number


def pattern_times(config: Mapping[str, Any]) -> list[time]:
    """Every local time of day a time_pattern trigger fires at, in order."""
    hours, minutes, seconds = (
        config.get("hours"),
        config.get("minutes"),
        config.get("seconds"),
    )
    if minutes is None and hours is not None:
        minutes = 0
    if seconds is None and minutes is not None:
        seconds = 0
    try:
        matchers = (
            _time_field(hours, 24, "hours"),
            _time_field(minutes, 60, "minutes"),
            _time_field(seconds, 60, "seconds"),
        )
    except ValueError as err:
        raise NotSimulatedError(str(err)) from err
    ranges = [
        [value for value in range(limit) if matcher is None or matcher(value)]
        for matcher, limit in zip(matchers, (24, 60, 60), strict=True)
    ]
    return [time(h, m, s) for h, m, s in itertools.product(*ranges)]


def _at_times(config: Mapping[str, Any]) -> list[time]:
    raw = config.get("at")
    items = raw if isinstance(raw, list) else [raw]
    times = []
    for item in items:
        if isinstance(item, time):
            times.append(item)
            continue
        if isinstance(item, Mapping) or not isinstance(item, str):
            raise NotSimulatedError(f"time `at` {item!r} is not a time of day")
        try:
            times.append(time.fromisoformat(item))
        except ValueError as err:
            raise NotSimulatedError(
                f"time `at` {item!r} names an entity, whose value over time the "
                "recorder does not replay as a clock"
            ) from err
    return sorted(times)


def _local_days(start: datetime, end: datetime, zone: tzinfo) -> Iterable[date]:
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    while day <= last:
        yield day
        day += timedelta(days=1)


def _clock_firings(
    times: list[time], start: datetime, end: datetime, zone: tzinfo
) -> Iterable[datetime]:
    """Each local wall-clock time of each day in (start, end], as aware UTC times."""
    for day in _local_days(start, end, zone):
        for moment in times:
            local = datetime.combine(day, moment, zone)
            when = local.astimezone(UTC)
            if start < when <= end:
                yield when


# --- templates -----------------------------------------------------------------------------


class _StateView:
    """A state as templates see it (`states.light.x.state`, `.attributes`)."""

    __slots__ = ("attributes", "entity_id", "state")

    def __init__(self, change: Change) -> None:
        self.entity_id = change.entity_id
        self.state = change.state
        self.attributes = dict(change.attributes)


class _World:
    """The historical states at the simulated moment, as template functions read them."""

    def __init__(self, states: Mapping[str, Change], zone: tzinfo) -> None:
        self.states = states
        self.zone = zone
        self.now = datetime.now(UTC)

    def state(self, entity_id: str) -> str:
        change = self.states.get(str(entity_id))
        return change.state if change is not None else "unknown"

    def attr(self, entity_id: str, name: str) -> Any:
        change = self.states.get(str(entity_id))
        return change.attributes.get(name) if change is not None else None


class _Domain:
    def __init__(self, world: _World, domain: str) -> None:
        self._world, self._domain = world, domain

    def __getattr__(self, name: str) -> _StateView | None:
        if name in _SANDBOX_FLAGS:
            raise AttributeError(name)
        change = self._world.states.get(f"{self._domain}.{name}")
        return _StateView(change) if change is not None else None


class _States:
    def __init__(self, world: _World) -> None:
        self._world = world

    def __call__(self, entity_id: str) -> str:
        return self._world.state(entity_id)

    def __getattr__(self, domain: str) -> _Domain:
        if domain in _SANDBOX_FLAGS:
            raise AttributeError(domain)
        return _Domain(self._world, domain)


def _number(value: Any, default: Any = None) -> Any:
    try:
        return float(value)
    except TypeError, ValueError:
        if default is not None:
            return default
        raise


def _integer(value: Any, default: Any = None) -> Any:
    try:
        return int(float(value))
    except TypeError, ValueError:
        if default is not None:
            return default
        raise


def as_boolean(value: Any) -> bool:
    """Home Assistant's `result_as_boolean`: true, a non-zero number, '1'/'on'/'yes'..."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip().lower()
    if text in _TRUTHY:
        return True
    try:
        return float(text) != 0
    except ValueError:
        return False


class HistoryTemplate:
    """A template trigger's `value_template`, rendered against historical states.

    Knows the functions templates use to read states (`states`, `is_state`, `state_attr`,
    `is_state_attr`, `states.domain.object`), the clock (`now`, `utcnow`, `today_at`) and
    numbers (`float`, `int`, `bool`); a template that needs anything else is refused
    (`NotSimulatedError`), never guessed.
    """

    def __init__(self, source: str) -> None:
        """Compile `source` (raises NotSimulatedError when it cannot be rendered here)."""
        try:
            from jinja2 import StrictUndefined, TemplateError  # noqa: PLC0415
            from jinja2.sandbox import ImmutableSandboxedEnvironment  # noqa: PLC0415
        except ImportError as err:  # pragma: no cover - Home Assistant ships it
            raise NotSimulatedError("templates need jinja2") from err
        self.source = source
        self.entities = frozenset(_QUOTED_ENTITY.findall(source)) | frozenset(
            f"{domain}.{name}" for domain, name in _STATES_ENTITY.findall(source)
        )
        self.reads_clock = bool(_NOW.search(source))
        self._errors: tuple[type[Exception], ...] = (
            TemplateError,
            TypeError,
            ValueError,
            AttributeError,
            ZeroDivisionError,
        )
        env = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
        env.filters["float"] = _number
        env.filters["int"] = _integer
        env.filters["bool"] = as_boolean
        try:
            self._template = env.from_string(source)
        except TemplateError as err:
            raise NotSimulatedError(f"template does not parse: {err}") from err
        self._env = env

    def render(self, world: _World) -> bool:
        """Whether the template is true at `world.now`; NotSimulatedError if it cannot say."""
        now = world.now

        def today_at(value: str = "00:00") -> datetime:
            local = now.astimezone(world.zone)
            return datetime.combine(local.date(), time.fromisoformat(value), world.zone)

        def is_state(entity_id: str, value: Any) -> bool:
            state = world.state(entity_id)
            if isinstance(value, list | tuple):
                return state in value
            return bool(state == value)

        def is_state_attr(entity_id: str, name: str, value: Any) -> bool:
            return bool(world.attr(entity_id, name) == value)

        names = {
            "states": _States(world),
            "is_state": is_state,
            "state_attr": world.attr,
            "is_state_attr": is_state_attr,
            "now": lambda: now.astimezone(world.zone),
            "utcnow": lambda: now.astimezone(UTC),
            "today_at": today_at,
            "float": _number,
            "int": _integer,
            "bool": as_boolean,
        }
        try:
            return as_boolean(self._template.render(names).strip())
        except self._errors as err:
            raise NotSimulatedError(
                f"template cannot be rendered on history: {err}"
            ) from err


# --- trigger matching ----------------------------------------------------------------------


def _entity_ids(config: Mapping[str, Any]) -> list[str]:
    raw = config.get("entity_id")
    if isinstance(raw, str):
        return [part.strip().lower() for part in raw.split(",") if part.strip()]
    if isinstance(raw, list | tuple) and all(isinstance(item, str) for item in raw):
        return [item.lower() for item in raw]
    raise NotSimulatedError("entity_id is not a list of entities")


def _state_matcher(raw: Any, invert: bool = False) -> Callable[[Any], bool]:
    if raw is None:
        return lambda _: not invert
    if isinstance(raw, str) or not isinstance(raw, Iterable):
        return lambda value: invert is not (value == raw)
    allowed = set(raw)
    return lambda value: invert is not (value in allowed)


def _bound(raw: Any, what: str) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise NotSimulatedError(f"numeric_state {what} {raw!r} is not a number")
    if isinstance(raw, int | float):
        return float(raw)
    try:
        return float(raw)
    except (TypeError, ValueError) as err:
        raise NotSimulatedError(
            f"numeric_state {what} {raw!r} names an entity, not a number"
        ) from err


class _Matcher:
    """Fires one plan on changes and at moments; `watches` says which entities it reads."""

    platform = ""
    watches: frozenset[str] = frozenset()
    clock_times: list[time] | None = None
    reads_clock = False
    delay: timedelta = timedelta(0)

    def start(self, states: Mapping[str, Change], world: _World) -> None:
        """Arm against the states at the start of the window."""

    def on_change(
        self, old: Change | None, new: Change, world: _World
    ) -> tuple[bool, bool]:
        """(fire now or after `delay`, whether a pending delayed firing still holds)."""
        return False, True

    def on_tick(self, world: _World) -> tuple[bool, bool]:
        """Re-evaluate on the clock (templates that read it)."""
        return False, True


class _StateMatcher(_Matcher):
    platform = "state"

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.watches = frozenset(_entity_ids(config))
        self.attribute = config.get("attribute")
        if "to" in config:
            self.match_to = _state_matcher(config["to"])
        else:
            self.match_to = _state_matcher(
                config.get("not_to"), invert="not_to" in config
            )
        if "from" in config:
            self.match_from = _state_matcher(config["from"])
        else:
            self.match_from = _state_matcher(
                config.get("not_from"), invert="not_from" in config
            )
        self.match_all = not any(
            key in config for key in ("from", "not_from", "to", "not_to")
        )
        self.has_from_only = "from" in config and "to" not in config
        if config.get("for") is not None:
            self.delay = parse_duration(config["for"])
        self._pending_value: dict[str, Any] = {}

    def _value(self, change: Change | None) -> Any:
        if change is None:
            return None
        if self.attribute is None:
            return change.state
        return change.attributes.get(self.attribute)

    def on_change(
        self, old: Change | None, new: Change, world: _World
    ) -> tuple[bool, bool]:
        old_value, new_value = self._value(old), self._value(new)
        still = True
        if new.entity_id in self._pending_value:
            before, target = self._pending_value[new.entity_id]
            still = new_value != before if self.has_from_only else new_value == target
        if self.attribute is not None and old_value == new_value:
            return False, still
        if (
            not self.match_from(old_value)
            or not self.match_to(new_value)
            or (not self.match_all and old_value == new_value)
        ):
            return False, still
        self._pending_value[new.entity_id] = (old_value, new_value)
        return True, still


class _NumericMatcher(_Matcher):
    platform = "numeric_state"

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.watches = frozenset(_entity_ids(config))
        if config.get("value_template") is not None:
            raise NotSimulatedError("numeric_state with a value_template")
        self.above = _bound(config.get("above"), "above")
        self.below = _bound(config.get("below"), "below")
        self.attribute = config.get("attribute")
        if config.get("for") is not None:
            self.delay = parse_duration(config["for"])
        self._armed: set[str] = set()

    def _holds(self, change: Change | None) -> bool | None:
        """Whether the value is in range; None where Home Assistant reports an error.

        As its numeric_state condition: no entity is an error; a missing attribute,
        None, unknown or unavailable is out of range; another non-number is an error.
        """
        if change is None:
            return None
        if self.attribute is not None and self.attribute not in change.attributes:
            return False
        raw = (
            change.state
            if self.attribute is None
            else change.attributes.get(self.attribute)
        )
        if raw in (None, "unavailable", "unknown"):
            return False
        try:
            value = float(raw)
        except TypeError, ValueError:
            return None
        if self.below is not None and value >= self.below:
            return False
        return not (self.above is not None and value <= self.above)

    def start(self, states: Mapping[str, Change], world: _World) -> None:
        self._armed = {
            entity
            for entity in self.watches
            if self._holds(states.get(entity)) is False
        }

    def on_change(
        self, old: Change | None, new: Change, world: _World
    ) -> tuple[bool, bool]:
        holds = self._holds(new)
        if holds is None:  # logged by Home Assistant; a delayed firing is dropped
            return False, False
        if not holds:
            self._armed.add(new.entity_id)
            return False, False
        if new.entity_id not in self._armed:
            return False, True
        self._armed.discard(new.entity_id)
        return True, True


class _TemplateMatcher(_Matcher):
    platform = "template"

    def __init__(self, config: Mapping[str, Any]) -> None:
        source = config.get("value_template")
        if not isinstance(source, str):
            raise NotSimulatedError("template trigger without a value_template")
        self.template = HistoryTemplate(source)
        self.watches = self.template.entities
        self.reads_clock = self.template.reads_clock
        if not self.watches and not self.reads_clock:
            raise NotSimulatedError("template names no entity and no clock")
        if config.get("for") is not None:
            self.delay = parse_duration(config["for"])
        self._armed = False

    def start(self, states: Mapping[str, Change], world: _World) -> None:
        self._armed = not self.template.render(world)

    def _evaluate(self, world: _World) -> tuple[bool, bool]:
        if not self.template.render(world):
            self._armed = True
            return False, False
        if not self._armed:
            return False, True
        self._armed = False
        return True, True

    def on_change(
        self, old: Change | None, new: Change, world: _World
    ) -> tuple[bool, bool]:
        return self._evaluate(world)

    def on_tick(self, world: _World) -> tuple[bool, bool]:
        return self._evaluate(world)


class _ClockMatcher(_Matcher):
    def __init__(self, platform: str, times: list[time]) -> None:
        self.platform = platform
        self.clock_times = times


def _matcher(config: Mapping[str, Any]) -> _Matcher:
    platform = config.get("trigger") or config.get("platform")
    if config.get("enabled") is False:
        raise NotSimulatedError("the trigger is disabled")
    match platform:
        case "state":
            return _StateMatcher(config)
        case "numeric_state":
            return _NumericMatcher(config)
        case "template":
            return _TemplateMatcher(config)
        case "time":
            return _ClockMatcher("time", _at_times(config))
        case "time_pattern":
            times = pattern_times(config)
            if len(times) > MAX_TICKS_PER_DAY:  # pragma: no cover - 86,400 at most
                raise NotSimulatedError("time_pattern fires too often")
            return _ClockMatcher("time_pattern", times)
        case "event":
            raise NotSimulatedError(
                "the recorder keeps states, not the events this trigger waits for"
            )
        case _:
            raise NotSimulatedError(
                f"{platform!r} triggers are not in the recorder's state history"
            )


# --- the report ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Day:
    levels: Counter[str] = field(default_factory=Counter)
    interruptions: int = 0
    hourly: Counter[int] = field(default_factory=Counter)
    in_quiet_hours: int = 0
    lowered_by_cap: int = 0
    events: int = 0
    rate_skipped: int = 0


def _telling(decision: Decision, delivery: Delivery) -> int:
    """How much a decision tells about the agent: lowered by a limit > act > ask > rest."""
    score = 0
    codes = {str(reason.code) for reason in decision.reasons}
    if decision.granted < decision.requested:
        score += 3
    if codes & {"security_sensitive", "ceiling", "not_allowed"}:
        score += 2
    if codes & {"hourly_cap", "quiet_hours", "quiet_hours_urgent"}:
        score += 2
    if delivery is Delivery.ACT:
        score += 2
    elif delivery is Delivery.ASK:
        score += 1
    return score


@dataclass(frozen=True, slots=True)
class SimulatedStep:
    """One decision the dry run made."""

    when: datetime
    source: str
    kind: str
    decision: Decision
    delivery: Delivery
    brain: str = "rules"
    """Who proposed the intent: the rules, or the LLM brain that answered."""


@dataclass(frozen=True, slots=True)
class Escalation:
    """An event the rules escalated, held for the host to ask an LLM about (`hold_escalated`).

    Its settled intents are decided already; the host decides the answer (or, without one,
    `intents`: what the rules said) with `Simulation.decide(..., answer=True)` at `when`.
    """

    event: Event
    intents: list[Intent]
    when: datetime


class Simulation:
    """The simulated agent over one window of history; feed changes in time order."""

    def __init__(
        self,
        plans: list[TriggerPlan],
        rules: RuleBrain,
        policy: Policy,
        survival: SurvivalPolicy,
        runnable: Collection[str],
        *,
        make_event: MakeEvent,
        start: datetime,
        end: datetime,
        zone: tzinfo,
        interruption_cost: float = 0.3,
        skipped: Iterable[Skipped] = (),
        keep_steps: bool = False,
        hold_escalated: bool = False,
    ) -> None:
        """Prepare the dry run over (start, end]; `skipped`: what the host already left out.

        `hold_escalated`: escalated events are not decided by the rules' intents but held
        (`held`); `feed` and `finish` stop as soon as one is, so the host can ask an LLM and
        decide its answer before the simulated clock goes on.
        """
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("the window's times must be aware")
        self.plans = plans
        self.rules = rules
        self.policy = policy
        self.survival = survival
        self.runnable = runnable
        self.make_event = make_event
        self.start, self.end, self.zone = start, end, zone
        self.interruption_cost = interruption_cost
        self.skipped: list[Skipped] = list(skipped)
        self.ledger = GovernanceLedger()
        self.rate = RecordRate()
        self.states: dict[str, Change] = {}
        self.world = _World(self.states, zone)
        self.world.now = start
        self.matchers: dict[int, _Matcher] = {}
        self.watchers: dict[str, list[int]] = defaultdict(list)
        self._queue: list[tuple[datetime, int, int, str, Firing | None]] = []
        self._seq = itertools.count()
        self._pending: dict[tuple[int, str], int] = {}
        self._started = False
        self._batch: CollapsingQueue | None = None
        self._batch_first = False
        self.changes = 0
        self.events = 0
        self.firings: Counter[str] = Counter()
        self.days: dict[date, _Day] = defaultdict(_Day)
        self.executed: dict[str, list[datetime]] = defaultdict(list)
        self.steps: list[SimulatedStep] = []
        self._keep_steps = keep_steps
        self._hold = hold_escalated
        self.held: list[Escalation] = []
        self._examples: dict[tuple[Any, ...], list[tuple[int, SimulatedStep]]] = {}
        for index, plan in enumerate(plans):
            try:
                matcher = _matcher(plan.config)
            except NotSimulatedError as err:
                self.skipped.append(Skipped(plan.source, str(err)))
                continue
            self.matchers[index] = matcher
            for entity in matcher.watches:
                self.watchers[entity].append(index)

    @property
    def entities(self) -> frozenset[str]:
        """Every entity whose history the simulated triggers read."""
        return frozenset(self.watchers)

    # Feeding

    def set_initial(self, changes: Iterable[Change]) -> None:
        """Set the states at the window's start (not changes: nothing fires for them)."""
        for change in changes:
            self.states[change.entity_id] = change

    def _begin(self) -> None:
        self._started = True
        for index, matcher in list(self.matchers.items()):
            try:
                matcher.start(self.states, self.world)
            except NotSimulatedError as err:
                self._drop(index, str(err))
                continue
            if matcher.clock_times is not None:
                for when in _clock_firings(
                    matcher.clock_times, self.start, self.end, self.zone
                ):
                    self._push(when, index, "", None)
            if matcher.reads_clock:
                minute = self.start.replace(second=0, microsecond=0) + TEMPLATE_TICK
                while minute <= self.end:
                    self._push(minute, index, "", None)
                    minute += TEMPLATE_TICK

    def _drop(self, index: int, reason: str) -> None:
        matcher = self.matchers.pop(index, None)
        if matcher is None:
            return
        for entity in matcher.watches:
            if index in self.watchers.get(entity, []):
                self.watchers[entity].remove(index)
        self.skipped.append(Skipped(self.plans[index].source, reason))

    def _push(self, when: datetime, index: int, key: str, firing: Firing | None) -> int:
        seq = next(self._seq)
        heapq.heappush(self._queue, (when, seq, index, key, firing))
        return seq

    def feed(self, changes: Iterable[Change]) -> int:
        """Replay recorded changes (in time order, after the window's start).

        Returns how many were replayed: all of them, unless an escalated event was held
        (`hold_escalated`); then feed the rest again once `held` is decided.
        """
        if not self._started:
            self._begin()
        done = 0
        for change in changes:
            self._run_until(change.when)
            if self.held:
                return done
            self._change(change)
            done += 1
            if self.held:
                return done
        return done

    def finish(self) -> bool:
        """Run the clock to the window's end; False when it stopped at a held event."""
        if not self._started:
            self._begin()
        self._run_until(self.end, inclusive=True)
        return not self.held

    def take_held(self) -> list[Escalation]:
        """Return the held escalated events, in time order, and forget them."""
        held, self.held = self.held, []
        return held

    def _run_until(self, moment: datetime, inclusive: bool = False) -> None:
        queue = self._queue
        while (
            queue
            and not self.held
            and (queue[0][0] < moment or (inclusive and queue[0][0] <= moment))
        ):
            when, seq, index, key, firing = heapq.heappop(queue)
            self.world.now = when
            matcher = self.matchers.get(index)
            if matcher is None:
                continue
            if firing is not None:  # a delayed firing (`for`) that held all along
                if self._pending.get((index, key)) == seq:
                    del self._pending[(index, key)]
                    self._fire(firing, when)
                continue
            if matcher.clock_times is not None:
                self._fire(
                    Firing(index, matcher.platform, when.astimezone(self.zone)), when
                )
                continue
            self._evaluate(index, matcher, None, None, when, tick=True)

    def _change(self, change: Change) -> None:
        self.changes += 1
        old = self.states.get(change.entity_id)
        self.states[change.entity_id] = change
        self.world.now = change.when
        # As in the live agent: the first event a change fires is taken at once (its
        # worker starts eagerly); the others reach its queue while it is being decided,
        # and those with the same collapse key (the entity) collapse into the last one.
        self._batch = CollapsingQueue()
        self._batch_first = True
        try:
            for index in tuple(self.watchers.get(change.entity_id, ())):
                if (matcher := self.matchers.get(index)) is not None:
                    self._evaluate(index, matcher, old, change, change.when)
            batch = self._batch
        finally:
            self._batch = None
        while len(batch):
            self._decide_event(batch.pop(), change.when)

    def _evaluate(
        self,
        index: int,
        matcher: _Matcher,
        old: Change | None,
        new: Change | None,
        when: datetime,
        *,
        tick: bool = False,
    ) -> None:
        try:
            if new is None:
                fire, still = matcher.on_tick(self.world)
            else:
                fire, still = matcher.on_change(old, new, self.world)
        except NotSimulatedError as err:
            self._drop(index, str(err))
            return
        key = "" if matcher.platform == "template" or new is None else new.entity_id
        if not still:
            self._pending.pop((index, key), None)
        if not fire:
            return
        firing = Firing(
            index,
            matcher.platform,
            when.astimezone(self.zone),
            entity_id=new.entity_id if new is not None else None,
            from_state=old.raw if old is not None and old.raw is not None else old,
            to_state=new.raw if new is not None and new.raw is not None else new,
        )
        if matcher.delay:
            self._pending[(index, key)] = self._push(
                when + matcher.delay, index, key, firing
            )
            return
        self._fire(firing, when)

    # Deciding

    def _fire(self, firing: Firing, when: datetime) -> None:
        plan = self.plans[firing.index]
        self.firings[plan.source] += 1
        made = self.make_event(plan, firing)
        if made is None:
            return
        event, collapse_key = made
        if self._batch is not None and not self._batch_first:
            self._batch.put(event, collapse_key)
            return
        self._batch_first = False
        self._decide_event(event, when)

    def _decide_event(self, event: Event, when: datetime) -> None:
        self.events += 1
        # As the runtime without an LLM: the settled intents, then the escalated ones.
        settled, escalated = self.rules.assess(event)
        if self._hold and escalated:
            # As the runtime with an LLM: the settled intents now, the LLM's answer later.
            self.decide(event, settled, when)
            self.held.append(Escalation(event, escalated, when))
            return
        self.decide(event, settled + escalated, when)

    def decide(
        self,
        event: Event,
        intents: list[Intent],
        when: datetime,
        *,
        answer: bool = False,
        brain: str = "rules",
    ) -> None:
        """Gate the intents at `when` as the runtime does: rate, ledger, loop.

        `answer`: the intents answer a held escalation (its event is counted already);
        `brain`: who proposed them (the report's examples say it).
        """
        now = when.astimezone(self.zone)
        day = self.days[now.date()]
        if not answer:
            day.events += 1
        admitted = []
        for intent in intents:
            if self.rate.admit(now):
                admitted.append(intent)
            else:
                day.rate_skipped += 1
        if not admitted:
            return
        inputs = self.ledger.inputs(now, self.policy, self.interruption_cost)
        planned = steps(admitted, self.policy, inputs, self.survival, self.runnable)
        quiet = self.policy.quiet_hours
        for step in planned:
            decision = step.decision
            self.ledger.record(decision, now)
            day.levels[_LEVELS[decision.granted]] += 1
            codes = {str(reason.code) for reason in decision.reasons}
            if "hourly_cap" in codes:
                day.lowered_by_cap += 1
            if decision.interrupts:
                day.interruptions += 1
                day.hourly[now.hour] += 1
                if quiet is not None and quiet.contains(
                    now.time().replace(tzinfo=None)
                ):
                    day.in_quiet_hours += 1
            if step.delivery is Delivery.ACT:
                self.executed[decision.intent.action].append(now)
            simulated = SimulatedStep(
                now, event.source, event.kind, decision, step.delivery, brain
            )
            if self._keep_steps:
                self.steps.append(simulated)
            key = (
                decision.intent.action,
                int(decision.granted),
                tuple(sorted(codes)),
            )
            kept = self._examples.setdefault(key, [])
            if len(kept) < EXAMPLES:
                kept.append((_telling(decision, step.delivery), simulated))

    # The report

    def report(self) -> dict[str, Any]:
        """Return the dry run's findings, as plain JSON-able data."""
        cap = self.policy.max_interruptions_per_hour
        quiet = self.policy.quiet_hours
        days = []
        totals: Counter[str] = Counter()
        for day, seen in sorted(self.days.items()):
            totals.update(seen.levels)
            days.append(
                {
                    "date": day.isoformat(),
                    "events": seen.events,
                    **{level: seen.levels.get(level, 0) for level in _LEVELS},
                    "interruptions": seen.interruptions,
                    "busiest_hour": max(seen.hourly.values(), default=0),
                    "hours_at_cap": sum(1 for n in seen.hourly.values() if n >= cap),
                    "lowered_by_hourly_cap": seen.lowered_by_cap,
                    "in_quiet_hours": seen.in_quiet_hours,
                    "skipped_by_record_rate": seen.rate_skipped,
                }
            )
        # One of each kind of decision first (the most telling kinds first), then more.
        ranked = sorted(
            (
                (rank, score, step)
                for kept in self._examples.values()
                for rank, (score, step) in enumerate(kept)
            ),
            key=lambda item: (item[0], -item[1], item[2].when),
        )[:EXAMPLES]
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "changes": self.changes,
            "events": self.events,
            "decisions": {level: totals.get(level, 0) for level in _LEVELS},
            "hourly_cap": cap,
            "quiet_hours": (
                f"{quiet.start:%H:%M}-{quiet.end:%H:%M}" if quiet is not None else None
            ),
            "per_day": days,
            "would_execute": [
                {
                    "action": action,
                    "times": len(times),
                    "first": times[0].isoformat(),
                    "last": times[-1].isoformat(),
                }
                for action, times in sorted(self.executed.items())
            ],
            "examples": [_example(step) for _, _, step in ranked],
            "triggers_fired": dict(sorted(self.firings.items())),
            "not_simulated": [item.to_dict() for item in self.skipped],
        }


def _example(step: SimulatedStep) -> dict[str, Any]:
    decision = step.decision
    return {
        "time": step.when.isoformat(),
        "trigger": step.source,
        "kind": step.kind,
        "action": decision.intent.action,
        "requested": _LEVELS[decision.requested],
        "granted": _LEVELS[decision.granted],
        "delivery": str(step.delivery),
        "brain": step.brain,
        "rationale": decision.intent.rationale,
        "reasons": [reason.detail for reason in decision.reasons],
    }


def summary(report: Mapping[str, Any]) -> str:
    """Three lines of the report, in words (the config flow shows them)."""
    decisions = report.get("decisions", {})
    days = report.get("per_day", [])
    busiest = max((day.get("interruptions", 0) for day in days), default=0)
    executed = ", ".join(
        f"{item['action']} x{item['times']}" for item in report.get("would_execute", [])
    )
    skipped = ", ".join(item["trigger"] for item in report.get("not_simulated", []))
    return "\n".join(
        [
            f"{report.get('events', 0)} events from {report.get('changes', 0)} "
            "recorded changes",
            "decisions: "
            + ", ".join(f"{level} {decisions.get(level, 0)}" for level in _LEVELS)
            + f"; at most {busiest} interruptions a day",
            f"would run: {executed or 'nothing'}"
            + (f"; not simulated: {skipped}" if skipped else ""),
        ]
    )


__all__ = [
    "Change",
    "Escalation",
    "Firing",
    "HistoryTemplate",
    "NotSimulatedError",
    "Simulation",
    "Skipped",
    "TriggerPlan",
    "as_boolean",
    "parse_duration",
    "pattern_times",
    "summary",
]
