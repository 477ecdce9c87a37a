"""The dry run on history (`pai.simulate`) over a week of a synthetic home, in a real recorder.

A home of 300 entities (100 motion and door sensors, 50 lights and switches, 150 numeric
sensors) with 100,000 recorded state changes over 7 days, written straight into the real
recorder's SQLite database (its own schema: states_meta, state_attributes, states), is
replayed through a 20-rule agent whose triggers watch every one of them (state triggers,
numeric_state thresholds, a template, a time pattern and a daily time). Measured in the same
run, alternating: reading the same history alone in the same chunks (`async_read_history`,
the baseline) and the whole dry run, each with a probe that sleeps 5 ms over and over and
notes how late the event loop wakes it. Goals: the dry run under 10 s, loop lag p99 under
20 ms meanwhile.

Run it with `scripts/bench simulate`.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import json
import random
import statistics
import time
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import recorder as recorder_helper
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util

from benchmarks.ha_harness import LagProbe, running_hass
from custom_components.pai.dry_run import (
    async_read_history,
    async_simulate,
    dry_run_agent,
)
from custom_components.pai.engine.simulate import Simulation

ENTITIES = 300
CHANGES = 100_000
DAYS = 7
ROUNDS = 2
TIME_GOAL_S = 10.0
LAG_GOAL_MS = 20.0

MOTION = [f"binary_sensor.motion_{n:03d}" for n in range(100)]
LIGHTS = [f"light.lamp_{n:03d}" for n in range(50)]
SENSORS = [f"sensor.temperature_{n:03d}" for n in range(150)]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def agent_data() -> dict[str, Any]:
    """A 20-rule agent watching all 300 entities."""
    # Motion in one of eight zones.
    rules: list[dict[str, Any]] = [
        {
            "name": f"motion zone {n}",
            "when": {
                "kind": "ha.state",
                "source": "motion",
                "payload": [
                    {"field": "entity_id", "op": "==", "value": MOTION[n]},
                    {"field": "to_state", "op": "==", "value": "on"},
                ],
            },
            "intent": {"action": "light_on", "confidence": 0.9, "level": 3},
        }
        for n in range(8)
    ]
    rules += [  # heat, at rising levels
        {
            "name": f"hot {n}",
            "when": {
                "kind": "ha.numeric_state",
                "source": "heat",
                "payload": [{"field": "value", "op": ">", "value": 26 + n}],
            },
            "intent": {"action": "fan_on", "confidence": 0.8, "level": 2},
        }
        for n in range(6)
    ]
    rules += [  # lights left on
        {
            "name": f"lamp {n}",
            "when": {
                "kind": "ha.state",
                "source": "lights",
                "payload": [{"field": "entity_id", "op": "==", "value": LIGHTS[n]}],
            },
            "intent": {"action": "report", "confidence": 0.7, "level": 1},
        }
        for n in range(4)
    ]
    rules.append(
        {
            "name": "night motion",
            "when": {"kind": "ha.template", "source": "night"},
            "intent": {"action": "light_on", "confidence": 0.95, "level": 2},
        }
    )
    rules.append(
        {
            "name": "quarter hour",
            "when": {"kind": "ha.time_pattern", "source": "tick"},
            "intent": {"action": "report", "confidence": 0.6, "level": 0},
        }
    )
    assert len(rules) == 20
    return {
        "name": "Bench home",
        "agent": {
            "manifest.json": {
                "name": "Bench home",
                "version": "1.0.0",
                "author": "benchmarks",
                "description": "benchmark agent",
                "pai_format": 1,
                "kind": "proactive-agent",
            },
            "policy.json": {"default_max_level": 3, "max_interruptions_per_hour": 6},
            "triggers.json": [],
            "rules.json": rules,
            "actions.json": {
                name: {"type": "console"} for name in ("light_on", "fan_on", "report")
            },
        },
        "bindings": {
            "actions": {
                "light_on": [
                    {"action": "light.turn_on", "target": {"entity_id": LIGHTS[0]}}
                ]
            }
        },
        "ha_triggers": [
            {"trigger": "state", "entity_id": MOTION, "id": "motion"},
            {"trigger": "state", "entity_id": LIGHTS, "id": "lights"},
            {
                "trigger": "numeric_state",
                "entity_id": SENSORS,
                "above": 26,
                "id": "heat",
            },
            {
                "trigger": "template",
                "value_template": (
                    f"{{{{ is_state('{MOTION[0]}', 'on') and now().hour < 6 }}}}"
                ),
                "id": "night",
            },
            {"trigger": "time_pattern", "minutes": "/15", "id": "tick"},
            {"trigger": "time", "at": "07:00:00", "id": "morning"},
        ],
    }


def _write_history(hass: HomeAssistant, start_ts: float, end_ts: float) -> int:
    """Insert the synthetic week into the recorder's own tables (in its thread)."""
    from homeassistant.components.recorder.db_schema import (
        StateAttributes,
        States,
        StatesMeta,
    )
    from homeassistant.components.recorder.util import session_scope
    from sqlalchemy import insert

    rng = random.Random(16)  # noqa: S311  # a repeatable synthetic home
    entities = MOTION + LIGHTS + SENSORS
    assert len(entities) == ENTITIES
    with session_scope(hass=hass) as session:
        session.execute(
            insert(StatesMeta), [{"entity_id": entity} for entity in entities]
        )
        metas = {meta.entity_id: meta.metadata_id for meta in session.query(StatesMeta)}
        attrs = {
            "binary_sensor": {"device_class": "motion"},
            "light": {"brightness": 200},
            "sensor": {"unit_of_measurement": "°C", "device_class": "temperature"},
        }
        ids = {}
        for domain, value in attrs.items():
            row = StateAttributes(
                shared_attrs=json.dumps(value), hash=hash(domain) & 0xFFFF
            )
            session.add(row)
            session.flush()
            ids[domain] = row.attributes_id
        rows = []
        values: dict[str, Any] = {}
        for entity in entities:  # the states before the window
            domain = entity.split(".")[0]
            values[entity] = "off" if domain != "sensor" else 21.0
            rows.append(_row(metas[entity], values[entity], start_ts - 60, ids[domain]))
        times = sorted(rng.uniform(start_ts, end_ts) for _ in range(CHANGES))
        for moment in times:
            entity = rng.choice(entities)
            domain = entity.split(".")[0]
            if domain == "sensor":
                values[entity] = round(
                    min(32.0, max(15.0, values[entity] + rng.uniform(-1.5, 1.5))), 1
                )
            else:
                values[entity] = "on" if values[entity] == "off" else "off"
            rows.append(_row(metas[entity], values[entity], moment, ids[domain]))
        for at in range(0, len(rows), 10_000):
            session.execute(insert(States), rows[at : at + 10_000])
    return len(rows)


def _row(
    metadata_id: int, value: Any, moment: float, attributes_id: int
) -> dict[str, Any]:
    return {
        "metadata_id": metadata_id,
        "state": str(value),
        "last_updated_ts": moment,
        "last_changed_ts": moment,
        "attributes_id": attributes_id,
        "origin_idx": 0,
    }


CPU: list[float] = []
"""The process's CPU time (all threads) of each probed run, in order."""


async def _probed(work: Any) -> tuple[float, list[float], Any]:
    probe = LagProbe()
    task = asyncio.create_task(probe.run())
    await asyncio.sleep(0.05)
    began, cpu = time.perf_counter(), time.process_time()
    result = await work
    elapsed = time.perf_counter() - began
    CPU.append(time.process_time() - cpu)
    probe.stop()
    await task
    return elapsed, probe.lateness_ms, result


async def run_all() -> list[dict[str, Any]]:
    async with running_hass() as hass:
        recorder_helper.async_initialize_recorder(hass)
        assert await async_setup_component(
            hass,
            "recorder",
            {"recorder": {"db_url": f"sqlite:///{hass.config.path('bench.db')}"}},
        )
        await hass.async_block_till_done()
        from homeassistant.components.recorder import get_instance

        recorder = get_instance(hass)
        await recorder.async_db_ready
        end = dt_util.utcnow()
        start = end - timedelta(days=DAYS)
        began = time.perf_counter()
        written = await recorder.async_add_executor_job(
            _write_history, hass, start.timestamp(), end.timestamp() - 1
        )
        print(f"  wrote {written:,} states in {time.perf_counter() - began:.1f} s")
        data = agent_data()
        agent = dry_run_agent(hass, "Bench home", data, {})
        probe_sim = Simulation(
            agent.plans,
            agent.rules,
            agent.settings.policy,
            agent.survival,
            agent.runnable,
            make_event=agent.make_event,
            start=start,
            end=end,
            zone=dt_util.get_default_time_zone(),
        )
        entity_ids = sorted(probe_sim.entities)
        assert len(entity_ids) == ENTITIES, len(entity_ids)

        idle: list[float] = []
        read_cpu: list[float] = []
        sim_cpu: list[float] = []
        reads: list[float] = []
        read_lag: list[float] = []
        sims: list[float] = []
        sim_lag: list[float] = []
        report: dict[str, Any] = {}
        for _ in range(ROUNDS):
            idle += (await _probed(asyncio.sleep(2)))[1]
            elapsed, lag, (initial, chunks) = await _probed(
                async_read_history(hass, entity_ids, start, end)
            )
            read = len(initial) + sum(len(chunk) for chunk in chunks)
            reads.append(elapsed)
            read_cpu.append(CPU[-1])
            read_lag += lag
            elapsed, lag, report = await _probed(
                async_simulate(hass, "Bench home", data, {}, DAYS, end=end)
            )
            sims.append(elapsed)
            sim_cpu.append(CPU[-1])
            sim_lag += lag
    read_s, sim_s = statistics.median(reads), statistics.median(sims)
    read_p99, sim_p99 = percentile(read_lag, 0.99), percentile(sim_lag, 0.99)
    idle_p99 = percentile(idle, 0.99)
    print(
        f"  an idle loop's lag p99 on this machine now: {idle_p99:.2f} ms (the noise floor)"
    )
    print(
        f"  read {read:,} states alone in {read_s:.2f} s (loop lag p99 {read_p99:.2f} ms); "
        f"dry run {report['changes']:,} changes -> {report['events']:,} events, "
        f"{sum(report['decisions'].values()):,} decisions in {sim_s:.2f} s "
        f"(loop lag p99 {sim_p99:.2f} ms)"
    )
    print(
        f"  CPU (all threads): reading {statistics.median(read_cpu):.2f} s, "
        f"dry run {statistics.median(sim_cpu):.2f} s"
    )
    print(f"  decisions {report['decisions']}, not simulated {report['not_simulated']}")
    return [
        row("dry_run_s", sim_s, read_s, f"< {TIME_GOAL_S:g} s", sim_s < TIME_GOAL_S),
        row(
            "dry_run_loop_lag_p99_ms",
            sim_p99,
            read_p99,
            f"< {LAG_GOAL_MS:g} ms",
            sim_p99 < LAG_GOAL_MS,
        ),
    ]


def row(
    metric: str, value: float, baseline: float, goal: str, met: bool
) -> dict[str, Any]:
    return {
        "benchmark": "simulate",
        "metric": metric,
        "value": value,
        "baseline": baseline,
        "ratio": value / baseline if baseline else float("inf"),
        "goal": goal,
        "met": met,
    }


def main() -> list[dict[str, Any]]:
    return asyncio.run(run_all())


if __name__ == "__main__":
    main()
