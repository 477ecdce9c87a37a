"""3,000 one-second interval triggers on one agent, with and without the cap on records.

Issue 13 measured an agent with 3,000 interval triggers of one second each (Home Assistant
`time_pattern` triggers, which is what a .pai `interval` trigger becomes): 77 % CPU and
~590 records a second, without end. The runtime now caps the records one agent makes in a
rolling minute (`engine.rate.RecordRate`, 60 by default) and collapses the excess into one
record that says how many decisions were skipped.

Same run, same agent, real Home Assistant core, real time: a round lets the triggers run for
55 s (within one fresh rolling minute of the cap) with the cap lifted (the state before the
cap: `rate.limit` set out of reach), then one with the cap as shipped, each after a
warm-up. Measured per round: the
process's CPU time over wall time, records per second (`pai_record` events), and the
event loop's lag seen by a 5 ms probe. Goals: records per second stay within the cap (60 a
minute, plus the notes that say how many were skipped), and CPU falls against the
uncapped same-run baseline. The triggers themselves still fire 3,000 times a second
(Home Assistant's work, and PAI's perceiving and queueing of each): the cap bounds the
decisions and records, not the trigger load the agent was given.

Run it with `scripts/bench rate`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import statistics
import time
from typing import Any

from homeassistant.core import Event, HomeAssistant, callback
from pytest_homeassistant_custom_component.common import MockConfigEntry  # type: ignore[import-untyped]

from benchmarks.bench_runtime import percentile, row
from benchmarks.ha_harness import LagProbe, running_hass
from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from custom_components.pai.engine.rate import DEFAULT_RECORDS_PER_MINUTE, RecordRate
from custom_components.pai.runtime import AgentRuntime

TRIGGERS = 3000
ROUND_SECONDS = 55.0
"""Just under one rolling minute (the cap's unit), so that the records the next minute
allows, right at its start, fall outside the round."""
ROUNDS = 1
WARMUP_SECONDS = 3.0
UNCAPPED = 10**9


def interval_agent() -> MockConfigEntry:
    """An agent with TRIGGERS one-second interval triggers and a rule noting each tick."""
    name = "Ticker"
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
                    "description": "3,000 one-second interval triggers",
                    "pai_format": 1,
                    "kind": "proactive-agent",
                },
                "policy.json": {"default_max_level": 0},
                "triggers.json": [],
                "rules.json": [
                    {
                        "name": "every tick",
                        "when": {"kind": "ha.time_pattern", "payload": []},
                        "intent": {
                            "action": "note",
                            "params": {},
                            "confidence": 0.95,
                            "urgency": 0.2,
                            "rationale": "tick",
                            "level": 0,
                        },
                    }
                ],
                "actions.json": {"note": {"type": "console"}},
            },
            "bindings": {"actions": {}},
            "ha_triggers": [
                {"trigger": "time_pattern", "seconds": "/1", "id": f"tick_{n}"}
                for n in range(TRIGGERS)
            ],
        },
        options={"notify_targets": []},
    )


@dataclass
class Round:
    """One round: wall and CPU seconds, records made, the probe's lateness."""

    capped: bool
    wall_s: float
    cpu_s: float
    records: int
    lateness_ms: list[float]

    @property
    def cpu_percent(self) -> float:
        return 100 * self.cpu_s / self.wall_s

    @property
    def records_per_s(self) -> float:
        return self.records / self.wall_s


class Records:
    """Counts the agent's `pai_record` events."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.count = 0
        self.stop = hass.bus.async_listen(EVENT_PAI_RECORD, self._count)

    @callback
    def _count(self, _event: Event[dict[str, Any]]) -> None:
        self.count += 1


def fresh_minute(runtime: AgentRuntime, limit: int) -> None:
    """Give the agent's flood guard a new rolling minute of `limit` records."""
    runtime.flood.rate = runtime.rate = RecordRate(limit)


async def one_round(
    hass: HomeAssistant, runtime: AgentRuntime, records: Records, *, capped: bool
) -> Round:
    limit = DEFAULT_RECORDS_PER_MINUTE if capped else UNCAPPED
    fresh_minute(runtime, limit)
    await asyncio.sleep(WARMUP_SECONDS)
    fresh_minute(runtime, limit)  # the round is a fresh minute
    probe = LagProbe()
    probe_task = asyncio.get_running_loop().create_task(probe.run())
    made = records.count
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.sleep(ROUND_SECONDS)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    made = records.count - made
    probe.stop()
    await probe_task
    return Round(capped, wall, cpu, made, probe.lateness_ms)


async def measure() -> list[Round]:
    async with running_hass() as hass:
        entry = interval_agent()
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        runtime: AgentRuntime = entry.runtime_data.runtime
        records = Records(hass)
        rounds = [
            await one_round(hass, runtime, records, capped=n % 2 == 1)
            for n in range(2 * ROUNDS)
        ]
        records.stop()
        await hass.config_entries.async_unload(entry.entry_id)
    return rounds


def rows(rounds: list[Round]) -> list[dict[str, Any]]:
    print(
        f"{TRIGGERS:,} one-second interval triggers on one observing agent, "
        f"{ROUNDS} rounds of {ROUND_SECONDS:g} s each way, alternating "
        f"(after {WARMUP_SECONDS:g} s to settle):"
    )
    for capped in (False, True):
        name = f"cap {DEFAULT_RECORDS_PER_MINUTE}/min" if capped else "no cap (before)"
        mine = [r for r in rounds if r.capped == capped]
        lateness = [late for r in mine for late in r.lateness_ms]
        print(
            f"  {name:<16} CPU "
            + ", ".join(f"{r.cpu_percent:.0f} %" for r in mine)
            + "; records/s "
            + ", ".join(f"{r.records_per_s:.1f}" for r in mine)
            + f"; loop lag p50 {percentile(lateness, 0.5):.1f} "
            f"p99 {percentile(lateness, 0.99):.1f} ms"
        )
    capped = [r for r in rounds if r.capped]
    free = [r for r in rounds if not r.capped]
    cpu, cpu_free = (statistics.fmean(r.cpu_percent for r in x) for x in (capped, free))
    rate, rate_free = (
        statistics.fmean(r.records_per_s for r in x) for x in (capped, free)
    )
    # A round is within one rolling minute: the cap's records in it, plus the note that
    # says how many the warm-up skipped.
    most = DEFAULT_RECORDS_PER_MINUTE + 1
    print(
        f"  capped: {rate:.2f} records/s, "
        + ", ".join(f"{r.records}" for r in capped)
        + f" records a round (at most {most}: {DEFAULT_RECORDS_PER_MINUTE} a minute and "
        f"the warm-up's note) vs {rate_free:.1f}/s "
        f"uncapped; CPU {cpu:.0f} % vs {cpu_free:.0f} % (process CPU over wall time)"
    )
    rows = [
        row(
            "interval_records_per_s",
            rate,
            rate_free,
            f"<= {most} records in {ROUND_SECONDS:g} s (60 a minute + 1 note)",
            all(r.records <= most for r in capped),
        ),
        row(
            "interval_cpu_percent",
            cpu,
            cpu_free,
            "below the uncapped same-run baseline",
            cpu < cpu_free,
        ),
    ]
    return [{**found, "benchmark": "rate"} for found in rows]


def main() -> list[dict[str, Any]]:
    return rows(asyncio.run(measure()))


if __name__ == "__main__":
    main()
