"""What the LLM tier costs: calls per 1000 trigger events, and how much of each prompt is cached.

A real Home Assistant runs a PAI agent whose brain is Claude, through the real `anthropic`
SDK, against the local fake Messages API of the tests (tests/brains/fake_anthropic.py): the
network and the model are the only stand-ins, and the fake counts tokens as characters / 4.

1. Calls per 1000 events. 1000 state changes of 10 sensors arrive in about `BURST_S`
   seconds. One sensor in ten is a door whose rule escalates to the LLM; the other rules
   settle their events alone. Three runs, same burst:
   - no routing (baseline): every event goes to the LLM (`llm_every_event`, no interval);
   - two tiers: only escalated events go to the LLM (no interval);
   - two tiers and coalescing: a minimum interval of `MIN_INTERVAL_S` between calls; events
     escalated meanwhile are held and the newest is asked about once the interval is over.
   The bound for the last is the rate limit: burst / interval + 1 calls. The rows' baseline
   is one call per event (1000), what an agent without routing would ask for; the measured
   no-routing run makes fewer calls only because its queue collapses the events that pile
   up while it waits for the model (printed: it loses them).
2. Prompt-cache hit ratio over `DECISIONS` decisions: of all the input tokens sent, the share
   read from the cache (the system prompt and tool definition are marked for caching and
   must be byte-identical from one event to the next), and the estimated dollars per
   decision with and without the cache. Then the same with the real API's minimum
   cacheable prefix of the default model modelled (4096 tokens for claude-haiku-4-5):
   a prefix under it is never cached, whatever the marks say.

Run it with `scripts/bench llm` (or `scripts/run python -m benchmarks.bench_llm`).
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from typing import Any

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry  # type: ignore[import-untyped]

from benchmarks.ha_harness import running_hass
from custom_components.pai.const import DOMAIN
from custom_components.pai.engine.brain import estimate_cost
from custom_components.pai.runtime import AgentRuntime
from tests.brains.fake_anthropic import API_KEY, MODEL, FakeAnthropic, intent, tool

EVENTS = 1000
SENSORS = 10
BURST_S = 5.0
MIN_INTERVAL_S = 0.5
DECISIONS = 50
CACHE_GOAL = 0.5
HAIKU_45_MIN_CACHEABLE = 4096
"""The real API caches no prefix shorter than this for claude-haiku-4-5 (the default)."""
DOOR = "sensor.bench_llm_0"


def agent_entry(name: str, options: dict[str, Any]) -> MockConfigEntry:
    """An agent with Claude as brain: the door's rule escalates, the others' do not."""
    sensors = [f"sensor.bench_llm_{i}" for i in range(SENSORS)]

    def rule(rule_name: str, op: str, level: int, escalate: bool) -> dict[str, Any]:
        return {
            "name": rule_name,
            "when": {
                "kind": "ha.state",
                "payload": [{"field": "entity_id", "op": op, "value": DOOR}],
            },
            "intent": {
                "action": "note",
                "params": {},
                "confidence": 0.9,
                "urgency": 0.2,
                "rationale": rule_name,
                "level": level,
            },
            "escalate": escalate,
        }

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
                    "description": "watches the door and the rooms",
                    "pai_format": 1,
                    "kind": "proactive-agent",
                },
                "policy.json": {"default_max_level": 1},
                "triggers.json": [],
                "rules.json": [
                    rule("door changed", "==", 1, escalate=True),
                    rule("room changed", "!=", 0, escalate=False),
                ],
                "actions.json": {"note": {"type": "console"}},
            },
            "bindings": {"actions": {}},
            "ha_triggers": [{"trigger": "state", "entity_id": sensors, "id": "bench"}],
            "brain": {"kind": "anthropic", "api_key": API_KEY},
        },
        options={"notify_targets": [], "llm_max_calls_per_hour": 100_000, **options},
    )


async def start_agent(hass: HomeAssistant, entry: MockConfigEntry) -> AgentRuntime:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    runtime: AgentRuntime = entry.runtime_data.runtime
    return runtime


async def stop_agent(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()


async def burst(
    hass: HomeAssistant, fake: FakeAnthropic, name: str, options: dict[str, Any]
) -> tuple[int, int, int, float]:
    """Fire the burst at a fresh agent; return LLM calls, events processed, collapsed, seconds.

    Collapsed events are those the agent's queue merged into a newer change of the same
    sensor (or dropped) because the agent was busy: what an agent that is slow to think loses.
    """
    entry = agent_entry(name, options)
    runtime = await start_agent(hass, entry)
    before = len(fake.messages)
    started = time.perf_counter()
    per_step = BURST_S / EVENTS
    for i in range(EVENTS):
        hass.states.async_set(f"sensor.bench_llm_{i % SENSORS}", f"{name} {i}")
        # keep to the burst's pace (sleep(0) lets the agent work while on schedule)
        await asyncio.sleep(
            max(0.0, started + (i + 1) * per_step - time.perf_counter())
        )
    await hass.async_block_till_done()
    # a held event is asked about when the interval is over
    await asyncio.sleep(float(options.get("llm_min_interval_seconds", 0)) + 0.2)
    await hass.async_block_till_done()
    seconds = time.perf_counter() - started
    stats = runtime.queue.stats
    processed = stats.accepted - stats.collapsed - stats.dropped
    await stop_agent(hass, entry)
    return (
        len(fake.messages) - before,
        processed,
        stats.collapsed + stats.dropped,
        seconds,
    )


async def cache_run(
    hass: HomeAssistant, fake: FakeAnthropic, name: str
) -> dict[str, float]:
    """Make DECISIONS escalated decisions on one agent; sum the fake's token counts."""
    entry = agent_entry(name, {"llm_min_interval_seconds": 0})
    runtime = await start_agent(hass, entry)
    read0, written0, plain0 = fake.cache_read, fake.cache_written, fake.uncached_input
    calls0 = len(fake.messages)
    for i in range(DECISIONS):
        await runtime.async_evaluate(
            "ha.state",
            {"entity_id": DOOR, "to_state": f"open {i}", "from_state": "closed"},
            escalate=True,
        )
    await stop_agent(hass, entry)
    read = fake.cache_read - read0
    written = fake.cache_written - written0
    plain = fake.uncached_input - plain0
    calls = len(fake.messages) - calls0
    output = sum(fake.output_tokens[calls0 : calls0 + calls])
    with_cache = estimate_cost(MODEL, plain, output, read, written) / calls
    without = estimate_cost(MODEL, plain + read + written, output) / calls
    return {
        "calls": calls,
        "read": read,
        "written": written,
        "plain": plain,
        "with_cache": with_cache,
        "without": without,
    }


def row(
    metric: str, value: float, baseline: float, goal: str, met: bool
) -> dict[str, Any]:
    return {
        "benchmark": "llm",
        "metric": metric,
        "value": value,
        "baseline": baseline,
        "ratio": value / baseline if baseline else float("inf"),
        "goal": goal,
        "met": met,
    }


async def run_all() -> list[dict[str, Any]]:
    fake = FakeAnthropic()
    await fake.start()
    fake.default = tool([intent("note", level=1, confidence=0.8)])
    os.environ["ANTHROPIC_BASE_URL"] = fake.url
    try:
        async with running_hass() as hass:
            every = await burst(
                hass,
                fake,
                "Every",
                {"llm_every_event": True, "llm_min_interval_seconds": 0},
            )
            routed = await burst(hass, fake, "Routed", {"llm_min_interval_seconds": 0})
            coalesced = await burst(
                hass, fake, "Coalesced", {"llm_min_interval_seconds": MIN_INTERVAL_S}
            )
            cache = await cache_run(hass, fake, "Cache")
            fake.min_cacheable = HAIKU_45_MIN_CACHEABLE
            floored = await cache_run(hass, fake, "Cache floor")
    finally:
        os.environ.pop("ANTHROPIC_BASE_URL", None)
        await fake.stop()

    bound = math.ceil(coalesced[3] / MIN_INTERVAL_S) + 1
    escalated = EVENTS // SENSORS
    print(
        f"{EVENTS} state changes of {SENSORS} sensors in ~{BURST_S:g} s; "
        f"1 in {SENSORS} escalates (the door); Claude via the SDK against the local fake:"
    )
    for label, (calls, processed, collapsed, seconds) in (
        ("no routing (every event)", every),
        ("two tiers", routed),
        (f"two tiers + {MIN_INTERVAL_S:g} s interval", coalesced),
    ):
        print(
            f"  {label:<30} {calls:5d} LLM calls for {processed:5d} processed events, "
            f"{collapsed:4d} collapsed while the agent was busy ({seconds:.1f} s)"
        )
    print(
        f"  rate-limit bound for the last: {coalesced[3]:.1f} s / {MIN_INTERVAL_S:g} s "
        f"+ 1 = {bound} calls"
    )
    total_in = cache["read"] + cache["written"] + cache["plain"]
    hit = cache["read"] / total_in if total_in else 0.0
    prefix = cache["read"] / (cache["read"] + cache["written"] or 1)
    print(
        f"prompt cache over {cache['calls']:.0f} decisions: {cache['read']:.0f} input tokens "
        f"read from the cache, {cache['written']:.0f} written, {cache['plain']:.0f} uncached; "
        f"hit ratio {hit:.3f} of all input tokens, {prefix:.3f} of the cacheable prefix"
    )
    print(
        f"  estimated cost a decision ({MODEL}): ${cache['with_cache']:.6f} with the cache, "
        f"${cache['without']:.6f} without ({cache['with_cache'] / cache['without']:.2f}x)"
    )
    prefix_tokens = cache["written"]  # one agent, one prefix: written once
    floored_total = floored["read"] + floored["written"] + floored["plain"]
    print(
        f"  but the cacheable prefix is ~{prefix_tokens:.0f} tokens, under the real API's "
        f"minimum for {MODEL} ({HAIKU_45_MIN_CACHEABLE}); with that floor modelled the hit "
        f"ratio is {floored['read'] / floored_total if floored_total else 0:.3f} and a "
        f"decision costs ${floored['with_cache']:.6f}: caching pays only for agents whose "
        "prompt prefix (rules, actions, profile) passes the floor"
    )
    return [
        row(
            "calls_per_1000_events",
            coalesced[0],
            EVENTS,
            f"<= rate-limit bound ({bound})",
            coalesced[0] <= bound,
        ),
        row(
            "calls_two_tiers_only",
            routed[0],
            EVENTS,
            f"<= escalated events ({escalated})",
            routed[0] <= escalated,
        ),
        row(
            "prompt_cache_hit_ratio",
            hit,
            0.0,
            f">= {CACHE_GOAL:g} of input tokens",
            hit >= CACHE_GOAL,
        ),
        row(
            "cost_per_decision_usd",
            cache["with_cache"],
            cache["without"],
            "cheaper with the cache",
            cache["with_cache"] < cache["without"],
        ),
    ]


def main() -> list[dict[str, Any]]:
    return asyncio.run(run_all())


if __name__ == "__main__":
    main()
