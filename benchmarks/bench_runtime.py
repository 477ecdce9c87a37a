"""PAI's runtime inside a real Home Assistant: reaction latency, and a flood of state changes.

1. Latency. A PAI agent whose rule grants ACT, and a Home Assistant automation, each watch
   their own sensor with the same state trigger and call a no-op service (`bench.*_sink`),
   so both measure trigger -> service call, not an entity. The two take turns (the one that
   goes first alternates), each change awaited until its service is called and the loop is
   idle again, after a warm-up. Goal: PAI's p99 at most twice the automation's.
2. Flood. 10,000 changes of 10 watched sensors in about a second (batches of 100, yielding
   to the loop between batches), with an agent whose rule only observes (records only),
   against the same flood with no agent loaded, alternating: the event loop's lag seen by a
   probe that sleeps 5 ms over and over (goal: PAI adds less than 20 ms at p99), the
   tracemalloc peak (a pass of its own, as tracing slows everything), and what the queue
   did: every event accepted, collapsed into a newer one, dropped, or made into a record,
   none lost.

Run it with `scripts/run python -m benchmarks.bench_runtime` or `scripts/bench runtime`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
import gc
import statistics
import time
import tracemalloc
from typing import Any

from homeassistant.core import Event, HomeAssistant, ServiceCall, callback
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry  # type: ignore[import-untyped]

from benchmarks.ha_harness import LagProbe, running_hass
from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from custom_components.pai.runtime import AgentRuntime

BENCH_DOMAIN = "bench"
LATENCY_SAMPLES = 3000
LATENCY_WARMUP = 200
LATENCY_TIMEOUT_S = 5.0
LATENCY_GOAL = 2.0
PAI_SENSOR = "sensor.bench_pai"
AUTOMATION_SENSOR = "sensor.bench_automation"

FLOOD_CHANGES = 10_000
FLOOD_SENSORS = 10
FLOOD_BATCH = 100
FLOOD_SECONDS = 1.0
FLOOD_ROUNDS = 2
LAG_GOAL_MS = 20.0
MEMORY_GOAL_MIB = 8.0

PAIGENT_P50_MS = 807.0
"""paigent 0.1.3's threshold breach -> action, p50, its default loop (poll 0.5 s, check 1 s)."""


# --- the house --------------------------------------------------------------------------


def agent_entry(
    name: str, level: int, watched: list[str], bindings: dict[str, Any]
) -> MockConfigEntry:
    """A rules-only agent (as tests/test_runtime.py builds one) whose one rule always fires."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=name,
        unique_id=name,
        data={
            "name": name,
            "agent": {
                "manifest.json": {
                    "name": name,
                    "version": "1.0.0",
                    "author": "benchmarks",
                    "description": "benchmark agent",
                    "pai_format": 1,
                    "kind": "proactive-agent",
                },
                "policy.json": {"default_max_level": 3},
                "triggers.json": [],
                "rules.json": [
                    {
                        "name": "every change",
                        "when": {"kind": "ha.state", "payload": []},
                        "intent": {
                            "action": "sink",
                            "params": {},
                            "confidence": 0.95,
                            "urgency": 0.8,
                            "rationale": "benchmark",
                            "level": level,
                        },
                    }
                ],
                "actions.json": {"sink": {"type": "console"}},
            },
            "bindings": {"actions": bindings},
            "ha_triggers": [{"trigger": "state", "entity_id": watched, "id": "bench"}],
        },
        options={"notify_targets": []},
    )


async def start_agent(hass: HomeAssistant, entry: MockConfigEntry) -> AgentRuntime:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    runtime: AgentRuntime = entry.runtime_data.runtime
    runtime.rate.limit = 10**9  # the loop is measured here, not the cap on floods
    return runtime


async def stop_agent(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()


# --- 1. latency ---------------------------------------------------------------------------


class Sink:
    """A no-op service that notes when it was called and wakes whoever waits for it."""

    def __init__(self, hass: HomeAssistant, service: str, sensor: str) -> None:
        self.hass = hass
        self.action = f"{BENCH_DOMAIN}.{service}"
        self.sensor = sensor
        self.waiter: asyncio.Future[int] | None = None
        self.latencies_ns: list[int] = []
        hass.services.async_register(BENCH_DOMAIN, service, self._called)

    @callback
    def _called(self, call: ServiceCall) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(time.perf_counter_ns())

    async def measure(self, value: str, *, keep: bool) -> None:
        """Change the sensor, wait for the service call, then for the loop to go idle."""
        self.waiter = asyncio.get_running_loop().create_future()
        started = time.perf_counter_ns()
        self.hass.states.async_set(self.sensor, value)
        called = await asyncio.wait_for(self.waiter, LATENCY_TIMEOUT_S)
        if keep:
            self.latencies_ns.append(called - started)
        await self.hass.async_block_till_done()


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (`share` in 0..1) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


async def measure_latency(hass: HomeAssistant) -> tuple[list[float], list[float]]:
    """Latencies in ms of PAI and of an automation, same trigger, taking turns."""
    pai = Sink(hass, "pai_sink", PAI_SENSOR)
    automation = Sink(hass, "automation_sink", AUTOMATION_SENSOR)
    for sensor in (PAI_SENSOR, AUTOMATION_SENSOR):
        hass.states.async_set(sensor, "start")
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": [
                {
                    "id": "bench_sink",
                    "alias": "bench sink",
                    "mode": "parallel",  # as PAI runs its bound actions
                    "triggers": [{"trigger": "state", "entity_id": AUTOMATION_SENSOR}],
                    "actions": [{"action": automation.action}],
                }
            ]
        },
    )
    entry = agent_entry("Latency", 3, [PAI_SENSOR], {"sink": [{"action": pai.action}]})
    runtime = await start_agent(hass, entry)
    records = RecordCounter(hass, entry.entry_id)
    for i in range(LATENCY_WARMUP + LATENCY_SAMPLES):
        keep = i >= LATENCY_WARMUP
        first, second = (pai, automation) if i % 2 else (automation, pai)
        await first.measure(str(i), keep=keep)
        await second.measure(str(i), keep=keep)
    records.stop()
    assert records.statuses == Counter(executed=LATENCY_WARMUP + LATENCY_SAMPLES)
    assert runtime.queue.stats.dropped == 0
    await stop_agent(hass, entry)
    return _ms(pai.latencies_ns), _ms(automation.latencies_ns)


def _ms(latencies_ns: list[int]) -> list[float]:
    return [ns / 1e6 for ns in latencies_ns]


class RecordCounter:
    """Counts one agent's `pai_record` events by status (keeping a record would cost memory)."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        self.entry_id = entry_id
        self.statuses: Counter[str] = Counter()
        self.stop = hass.bus.async_listen(EVENT_PAI_RECORD, self._count)

    @callback
    def _count(self, event: Event[dict[str, Any]]) -> None:
        if event.data["entry_id"] == self.entry_id:
            self.statuses[event.data["record"]["4_execution"]["status"]] += 1


# --- 2. flood -----------------------------------------------------------------------------


FLOOD_SENSOR_IDS = [f"sensor.bench_flood_{n}" for n in range(FLOOD_SENSORS)]


class GcWatch:
    """Counts the garbage collections while it is on, and times the longest."""

    def __init__(self) -> None:
        self.collections = 0
        self.longest_ms = 0.0
        self._started = 0

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._note)

    def _note(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter_ns()
            return
        self.collections += 1
        self.longest_ms = max(
            self.longest_ms, (time.perf_counter_ns() - self._started) / 1e6
        )


@dataclass
class FloodRun:
    """One flood: firing and draining time, loop CPU, the probe's lateness, GC, memory."""

    fire_s: float
    drain_s: float
    cpu_s: float
    lateness_ms: list[float]
    gc: GcWatch
    peak_bytes: int = 0


async def fire_flood(hass: HomeAssistant, offset: int) -> tuple[float, float]:
    """Fire the changes in batches, a batch every slot; return firing and draining seconds."""
    loop = asyncio.get_running_loop()
    slot = FLOOD_SECONDS * FLOOD_BATCH / FLOOD_CHANGES
    started = loop.time()
    for batch in range(FLOOD_CHANGES // FLOOD_BATCH):
        for n in range(batch * FLOOD_BATCH, (batch + 1) * FLOOD_BATCH):
            hass.states.async_set(FLOOD_SENSOR_IDS[n % FLOOD_SENSORS], str(offset + n))
        await asyncio.sleep(max(0.0, started + (batch + 1) * slot - loop.time()))
    fired = loop.time()
    await hass.async_block_till_done()
    return fired - started, loop.time() - fired


async def flood(hass: HomeAssistant, offset: int, *, trace: bool) -> FloodRun:
    """One flood with the lag probe running; with `trace`, under tracemalloc instead."""
    gc.collect()  # each flood starts clean, not paying for what came before it
    probe = LagProbe()
    probe_task = asyncio.get_running_loop().create_task(probe.run())
    await asyncio.sleep(0)
    if trace:
        tracemalloc.start()
    cpu = time.thread_time()  # the event loop's thread: Home Assistant's and PAI's work
    with GcWatch() as collections:
        fire_s, drain_s = await fire_flood(hass, offset)
    cpu = time.thread_time() - cpu
    peak = 0
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    probe.stop()
    await probe_task
    return FloodRun(fire_s, drain_s, cpu, probe.lateness_ms, collections, peak)


@dataclass
class FloodCounts:
    """What the flood agent's queue did, and the records it fired."""

    accepted: int = 0
    collapsed: int = 0
    dropped: int = 0
    records: int = 0

    @property
    def processed(self) -> int:
        return self.accepted - self.collapsed - self.dropped


async def flood_with_agent(
    hass: HomeAssistant, offset: int, counts: FloodCounts, *, trace: bool
) -> FloodRun:
    """Load an observing agent on the flooded sensors, flood, count, unload it."""
    entry = agent_entry("Flood", 0, FLOOD_SENSOR_IDS, {})
    runtime = await start_agent(hass, entry)
    records = RecordCounter(hass, entry.entry_id)
    run = await flood(hass, offset, trace=trace)
    records.stop()
    stats = runtime.queue.stats
    assert set(records.statuses) == {"observed"}, records.statuses
    counts.accepted += stats.accepted
    counts.collapsed += stats.collapsed
    counts.dropped += stats.dropped
    counts.records += records.statuses.total()
    await stop_agent(hass, entry)
    return run


async def measure_flood(
    hass: HomeAssistant,
) -> tuple[list[FloodRun], list[FloodRun], FloodRun, FloodRun, FloodCounts]:
    """Lag rounds without and with an agent, alternating; then one traced pass of each."""
    for sensor in FLOOD_SENSOR_IDS:
        hass.states.async_set(sensor, "start")
    counts = FloodCounts()
    bare: list[FloodRun] = []
    with_pai: list[FloodRun] = []
    offset = 0
    for _ in range(FLOOD_ROUNDS):
        bare.append(await flood(hass, offset, trace=False))
        offset += FLOOD_CHANGES
        with_pai.append(await flood_with_agent(hass, offset, counts, trace=False))
        offset += FLOOD_CHANGES
    bare_traced = await flood(hass, offset, trace=True)
    offset += FLOOD_CHANGES
    pai_traced = await flood_with_agent(hass, offset, counts, trace=True)
    return bare, with_pai, bare_traced, pai_traced, counts


# --- report -------------------------------------------------------------------------------


def row(
    metric: str, value: float, baseline: float, goal: str, met: bool
) -> dict[str, Any]:
    return {
        "benchmark": "runtime",
        "metric": metric,
        "value": value,
        "baseline": baseline,
        "ratio": value / baseline if baseline else float("inf"),
        "goal": goal,
        "met": met,
    }


def latency_rows(pai: list[float], automation: list[float]) -> list[dict[str, Any]]:
    print(
        f"state change -> service call, {len(pai)} changes each, "
        f"after {LATENCY_WARMUP} to warm up, taking turns (ms):"
    )
    for name, values in (("PAI agent (ACT)", pai), ("automation", automation)):
        print(
            f"  {name:<16} p50 {percentile(values, 0.5):7.3f}  "
            f"p99 {percentile(values, 0.99):7.3f}  max {max(values):7.3f}  "
            f"mean {statistics.fmean(values):7.3f}"
        )
    pai_p50, pai_p99 = percentile(pai, 0.5), percentile(pai, 0.99)
    auto_p50, auto_p99 = percentile(automation, 0.5), percentile(automation, 0.99)
    print(
        f"  ratio pai/automation: p50 {pai_p50 / auto_p50:.2f}, "
        f"p99 {pai_p99 / auto_p99:.2f}; goal p99 <= {LATENCY_GOAL:g}x"
    )
    print(
        f"  paigent 0.1.3 (reference notes, not run here): threshold breach -> "
        f"action p50 {PAIGENT_P50_MS:g} ms (poll 0.5 s, check 1 s), "
        f"{PAIGENT_P50_MS / pai_p50:,.0f}x PAI's p50"
    )
    return [
        row(
            "pai_p50_ms",
            pai_p50,
            auto_p50,
            f"p99 <= {LATENCY_GOAL:g}x automation",
            pai_p99 <= LATENCY_GOAL * auto_p99,
        ),
        row(
            "pai_p99_ms",
            pai_p99,
            auto_p99,
            f"p99 <= {LATENCY_GOAL:g}x automation",
            pai_p99 <= LATENCY_GOAL * auto_p99,
        ),
    ]


def flood_rows(
    bare: list[FloodRun],
    with_pai: list[FloodRun],
    bare_traced: FloodRun,
    pai_traced: FloodRun,
    counts: FloodCounts,
) -> list[dict[str, Any]]:
    def lag(runs: list[FloodRun]) -> list[float]:
        return [late for run in runs for late in run.lateness_ms]

    print(
        f"flood: {FLOOD_CHANGES:,} changes of {FLOOD_SENSORS} sensors in batches of "
        f"{FLOOD_BATCH}, aimed at {FLOOD_SECONDS:g} s, {FLOOD_ROUNDS} rounds each, "
        "alternating:"
    )
    for name, runs in (("no agent", bare), ("observing agent", with_pai)):
        lateness = lag(runs)
        fire = ", ".join(f"{run.fire_s:.2f}" for run in runs)
        drain = ", ".join(f"{run.drain_s * 1e3:.1f}" for run in runs)
        cpu = ", ".join(f"{run.cpu_s:.2f}" for run in runs)
        collections = ", ".join(
            f"{run.gc.collections} (longest {run.gc.longest_ms:.1f} ms)" for run in runs
        )
        print(
            f"  {name:<16} fired in {fire} s, then drained in {drain} ms; "
            f"loop CPU {cpu} s; GC runs {collections}"
        )
        print(
            f"  {'':<16} probe ({len(lateness)} wake-ups) late "
            f"p50 {percentile(lateness, 0.5):.2f} p99 {percentile(lateness, 0.99):.2f} "
            f"max {max(lateness):.2f} ms"
        )
    bare_p99 = percentile(lag(bare), 0.99)
    pai_p99 = percentile(lag(with_pai), 0.99)
    added = pai_p99 - bare_p99
    extra_cpu = statistics.fmean(run.cpu_s for run in with_pai) - statistics.fmean(
        run.cpu_s for run in bare
    )
    print(
        f"  added loop lag p99 {added:.2f} ms (goal < {LAG_GOAL_MS:g} ms); added loop "
        f"CPU {extra_cpu:.2f} s a flood, {extra_cpu / FLOOD_CHANGES * 1e6:.1f} us a change"
    )

    mib = 1024 * 1024
    bare_peak, pai_peak = bare_traced.peak_bytes / mib, pai_traced.peak_bytes / mib
    print(
        f"  tracemalloc peak over a flood: no agent {bare_peak:.2f} MiB "
        f"(fired in {bare_traced.fire_s:.2f} s), observing agent {pai_peak:.2f} MiB "
        f"(fired in {pai_traced.fire_s:.2f} s); added {pai_peak - bare_peak:.2f} MiB, "
        f"goal < {MEMORY_GOAL_MIB:g} MiB"
    )
    lost = counts.processed - counts.records
    print(
        f"  agent's queue over {FLOOD_ROUNDS + 1} floods: accepted {counts.accepted:,}, "
        f"collapsed {counts.collapsed:,}, dropped {counts.dropped:,}; "
        f"records {counts.records:,} for {counts.processed:,} processed events "
        f"({lost} lost)"
    )
    return [
        row(
            "flood_lag_p99_ms",
            pai_p99,
            bare_p99,
            f"added lag p99 < {LAG_GOAL_MS:g} ms",
            added < LAG_GOAL_MS,
        ),
        row(
            "flood_peak_mib",
            pai_peak,
            bare_peak,
            f"added peak < {MEMORY_GOAL_MIB:g} MiB",
            pai_peak - bare_peak < MEMORY_GOAL_MIB,
        ),
        row(
            "flood_records",
            counts.records,
            counts.processed,
            "records == accepted - collapsed - dropped",
            lost == 0 and counts.accepted == (FLOOD_ROUNDS + 1) * FLOOD_CHANGES,
        ),
    ]


async def run_all() -> list[dict[str, Any]]:
    async with running_hass() as hass:
        pai, automation = await measure_latency(hass)
        floods = await measure_flood(hass)
    return latency_rows(pai, automation) + flood_rows(*floods)


def main() -> list[dict[str, Any]]:
    return asyncio.run(run_all())


if __name__ == "__main__":
    main()
