"""The local brain: the GGUF model embedded in the agent's .pai, run by llama.cpp in the home.

Nothing leaves the house, so events marked private may still reach it. The model is loaded
in the background when the agent is set up (never awaited by setup: a big model takes
minutes); the first event that needs it waits for it. Its answer is constrained by a
grammar, so even a 270M model answers in intents: the compact format of `engine.compact`
(a few tokens per intent; today's JSON objects for an agent with a LoRA adapter). Only the
event part of the prompt is evaluated: the fixed part's KV state is kept per model
(`llama_prefix`).

When llama-cpp-python cannot be installed or imported, or the weights are missing or will
not load, a repair issue says so and the agent runs on its rules meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
import contextlib
import json
import logging
from pathlib import Path
import time
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from ..agent_files import CONF_WEIGHTS, weights_dir
from ..const import CONF_AGENT_NAME, DEFAULT_LOCAL_N_CTX, DOMAIN
from ..engine.brain import (
    BrainError,
    BrainRequest,
    BrainResult,
    FailureKind,
    Usage,
    parse_answer,
    salvage_cut_off,
    system_prompt,
    user_message,
)
from ..engine.compact import compact_grammar, compact_system_prompt, expand
from ..llama_prefix import common_prefix
from ..llama_runtime import (
    LlamaCannotBuildError,
    LlamaUnavailableError,
    LoadedModel,
    ModelKey,
    async_ensure_llama,
    model_pool,
)
from ..repairs import async_raise_cannot_build
from ..settings import AgentSettings

_LOGGER = logging.getLogger(__name__)

WEIGHTS_SECTION = "weights.gguf"
ADAPTER_SECTION = "adapters/active.gguf"
ISSUE_PREFIX = "local_brain_unavailable_"

MAX_LOCAL_INTENTS = 3
RATIONALE_CHARS = 80
TOKENS_PER_INTENT = 120
"""Room for the longest intent the schema allows: ~30 tokens of keys, the rationale."""
ANSWER_TOKENS = 8
COMPACT_TOKENS_PER_INTENT = 56
"""The longest compact intent: ~12 tokens of digits and brackets, the reason's 40 chars."""
TEMPERATURE = 0.2
SCORES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def local_schema(request: BrainRequest) -> dict[str, Any]:
    """Return the answer's schema, tightened for a small model under a grammar.

    Scores are picked from a few values and free-form `params` are left out: unbounded
    numbers and objects let a small model ramble until it runs out of tokens, and each
    token under a grammar costs a scan of the whole vocabulary.
    """
    return {
        "type": "object",
        "properties": {
            "intents": {
                "type": "array",
                "maxItems": max_intents(request),
                "items": {
                    "type": "object",
                    "properties": {
                        "action": {"enum": sorted(request.action_names)},
                        "confidence": {"enum": list(SCORES)},
                        "urgency": {"enum": list(SCORES)},
                        "level": {"enum": [0, 1, 2, 3]},
                        "rationale": {"type": "string", "maxLength": RATIONALE_CHARS},
                    },
                    "required": [
                        "action",
                        "confidence",
                        "urgency",
                        "level",
                        "rationale",
                    ],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["intents"],
        "additionalProperties": False,
    }


def max_intents(request: BrainRequest) -> int:
    """One intent per action at most (small models otherwise repeat themselves)."""
    return max(1, min(MAX_LOCAL_INTENTS, len(request.action_names)))


def answer_tokens(request: BrainRequest, *, compact: bool = False) -> int:
    """Return the token budget of an answer: the longest one the schema allows."""
    per_intent = COMPACT_TOKENS_PER_INTENT if compact else TOKENS_PER_INTENT
    return ANSWER_TOKENS + per_intent * max_intents(request)


def messages_for(
    request: BrainRequest, model: LoadedModel, *, compact: bool = False
) -> list[dict[str, str]]:
    """Return the chat: the system prompt (the fixed part), then the event as data."""
    system = compact_system_prompt(request) if compact else system_prompt(request)
    user = user_message(request)
    if model.system_in_user:
        return [{"role": "user", "content": f"{system}\n\n{user}"}]
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": user},
    ]


def decode(text: str) -> Mapping[str, Any] | str:
    """Return the answer object, salvaging the whole intents of a cut-off answer.

    A model stopped by `max_tokens` leaves the JSON open; the intents it finished are
    still good. Text that cannot be read is returned as it is, for `parse_answer` to judge.
    """
    try:
        obj = json.loads(text, strict=False)  # a raw newline in a rationale is no crime
    except ValueError:
        obj = None
    if isinstance(obj, Mapping):
        return obj
    found = salvage_cut_off(
        text,
        "}",
        "]}",
        lambda found: isinstance(found, Mapping) and bool(found.get("intents")),
    )
    return found if isinstance(found, Mapping) else text


def complete(
    model: LoadedModel,
    messages: list[dict[str, str]],
    schema: dict[str, Any] | None,
    max_tokens: int,
    *,
    grammar: str | None = None,
    fixed: str | None = None,
    temperature: float = TEMPERATURE,
) -> dict[str, Any]:
    """Run one constrained chat completion. Blocks: runs in the pool's executor job.

    The answer is held to `grammar` (GBNF) if given, else to the JSON `schema`. `fixed` is the prompt's fixed part (the system prompt): its KV state is put back rather
    than evaluated again (see `llama_prefix`). None evaluates the whole prompt, as PAI did
    before (the benchmark's baseline). The usage gains `cached_tokens`: the prompt tokens
    that were not evaluated.
    """
    llama = model.llama
    if fixed is None:
        llama.reset()
    else:
        model.prefixes.before(llama, fixed)
    held = llama.input_ids[: llama.n_tokens].tolist()
    constraint: dict[str, Any] = {}
    if grammar is not None:
        from llama_cpp.llama_grammar import LlamaGrammar  # noqa: PLC0415

        constraint["grammar"] = LlamaGrammar.from_string(grammar, verbose=False)
    else:
        constraint["response_format"] = {"type": "json_object", "schema": schema}
    result: dict[str, Any] = llama.create_chat_completion(
        messages=messages,
        temperature=temperature,
        max_tokens=max_tokens,
        **constraint,
    )
    usage = result.get("usage") or {}
    prompt_tokens = int(usage.get("prompt_tokens", 0))
    prompt = llama.input_ids[:prompt_tokens].tolist()
    # llama-cpp-python evaluates at least the prompt's last token (for its logits).
    reused = min(common_prefix(held, prompt), max(0, prompt_tokens - 1))
    result["usage"] = {**usage, "cached_tokens": reused}
    if fixed is not None and prompt_tokens:
        model.prefixes.after(llama, fixed, prompt_tokens)
    return result


class LocalBrain:
    """An LLM brain on the agent's own GGUF weights (and LoRA adapter), via llama.cpp."""

    name = "local"
    is_local = True

    def __init__(
        self,
        hass: HomeAssistant,
        *,
        entry_id: str,
        agent: str,
        weights: Path | None,
        key: ModelKey | None,
        adapter: Path | None = None,
    ) -> None:
        """Keep the settings; nothing loads until `async_start`."""
        self.hass = hass
        self.entry_id = entry_id
        self.agent = agent
        self.weights = weights
        self.adapter = adapter
        self.key = key
        self.error: str | None = None
        self._ready: asyncio.Task[None] | None = None
        self._acquired = False
        self.compact = adapter is None
        """Ask for the compact answer (`engine.compact`); False: today's JSON objects.

        An agent with a LoRA adapter keeps today's format: its adapter was trained on the
        exported preference dataset (`engine.preferences`), whose answers are in it.
        """
        self.reuse_prefix = True
        """Restore the fixed part's KV state; False: evaluate the whole prompt each time."""
        self.temperature = TEMPERATURE

    @property
    def model(self) -> str:
        """A label for records: the weights' (and adapter's) hash prefix."""
        if self.key is None:
            return "gguf"
        label = f"gguf:{self.key.weights[:12]}"
        return f"{label}+lora:{self.key.adapter[:12]}" if self.key.adapter else label

    @property
    def issue_id(self) -> str:
        """The repair issue raised while this agent cannot use its model."""
        return f"{ISSUE_PREFIX}{self.entry_id}"

    @callback
    def async_start(self) -> asyncio.Task[None]:
        """Start installing, checking and loading in the background (setup never waits)."""
        if self._ready is None:
            self._ready = self.hass.async_create_background_task(
                self._async_prepare(), f"{DOMAIN} local brain {self.agent}"
            )
        return self._ready

    async def async_ready(self) -> ModelKey:
        """Wait until the model is loaded; raises `LlamaUnavailableError` if it cannot be."""
        await asyncio.shield(self.async_start())
        if self.error is not None or self.key is None:
            raise LlamaUnavailableError(self.error or "no model")
        return self.key

    async def _async_prepare(self) -> None:
        """Get the model ready; a failure is kept in `error` (and Repairs), not raised."""
        try:
            await self._async_load()
        except LlamaCannotBuildError as err:  # nothing was installed: offer a server
            self._fail(str(err), cannot_build=True)
            return
        except LlamaUnavailableError as err:
            self._fail(str(err))
            return
        except Exception as err:  # noqa: BLE001  # whatever it is, the rules take over
            self._fail(f"could not load the model: {err}")
            return
        ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)
        _LOGGER.info("%s: local model %s ready", self.agent, self.model)

    async def _async_load(self) -> None:
        await async_ensure_llama(self.hass)
        if self.key is None or self.weights is None:
            raise LlamaUnavailableError(
                f"the agent file has no {WEIGHTS_SECTION} to run locally"
            )
        if missing := await self.hass.async_add_executor_job(self._missing_files):
            raise LlamaUnavailableError(f"the model file {missing} is missing")
        pool = model_pool(self.hass)
        pool.acquire(self.key, self.weights, self.adapter)
        self._acquired = True
        await pool.async_model(self.key)

    def _missing_files(self) -> str | None:
        for path in (self.weights, self.adapter):
            if path is not None and not path.is_file():
                return path.name
        return None

    def _fail(self, error: str, *, cannot_build: bool = False) -> None:
        self.error = error
        _LOGGER.warning("%s: the local brain is unavailable: %s", self.agent, error)
        if cannot_build:
            async_raise_cannot_build(
                self.hass,
                self.issue_id,
                entry_id=self.entry_id,
                agent=self.agent,
                error=error,
                weights=self.weights,
            )
            return
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self.issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="local_brain_unavailable",
            translation_placeholders={"agent": self.agent, "error": error},
        )

    async def async_think(self, request: BrainRequest) -> BrainResult:
        """Ask the local model; raises `BrainError` (the router then asks the rules)."""
        try:
            key = await self.async_ready()
        except LlamaUnavailableError as err:
            raise BrainError(FailureKind.UNAVAILABLE, self.error or str(err)) from err
        if not request.actions:  # nothing it could propose (and no grammar to build)
            return BrainResult((), Usage(brain=self.name, model=self.model))
        pool = model_pool(self.hass)
        model = await pool.async_model(key)
        compact = self.compact
        grammar = compact_grammar(request, max_intents(request)) if compact else None
        schema = None if compact else local_schema(request)
        messages = messages_for(request, model, compact=compact)
        fixed = None
        if self.reuse_prefix:  # the key of the fixed part: the system prompt itself
            fixed = (
                compact_system_prompt(request) if compact else system_prompt(request)
            )
        temperature = self.temperature
        started = time.perf_counter()
        try:
            completion = await pool.async_run(
                key,
                lambda loaded: complete(
                    loaded,
                    messages,
                    schema,
                    answer_tokens(request, compact=compact),
                    grammar=grammar,
                    fixed=fixed,
                    temperature=temperature,
                ),
            )
        except (ValueError, RuntimeError) as err:  # e.g. the prompt outgrew n_ctx
            raise BrainError(FailureKind.UNAVAILABLE, str(err)) from err
        latency_ms = (time.perf_counter() - started) * 1000
        try:
            text = str(completion["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError) as err:
            raise BrainError(
                FailureKind.INVALID_OUTPUT, "the model gave no answer"
            ) from err
        answer = expand(text, request) if compact else decode(text)
        intents, dropped = parse_answer(answer, request)
        usage = completion.get("usage") or {}
        return BrainResult(
            intents=intents,
            usage=Usage(
                brain=self.name,
                model=self.model,
                latency_ms=latency_ms,
                input_tokens=int(usage.get("prompt_tokens", 0)),
                output_tokens=int(usage.get("completion_tokens", 0)),
                cached_tokens=int(usage.get("cached_tokens", 0)),
                cost=0.0,
            ),
            dropped=dropped,
        )

    async def async_validate(self) -> None:
        """Check, without loading it, that the model can run: llama usable, files there.

        Raises `BrainError(UNAVAILABLE)` with the reason (the config flow shows it).
        """
        if self.key is None:
            raise BrainError(
                FailureKind.UNAVAILABLE,
                f"the agent file has no {WEIGHTS_SECTION} to run locally",
            )
        try:
            await async_ensure_llama(self.hass)
        except LlamaUnavailableError as err:
            raise BrainError(FailureKind.UNAVAILABLE, str(err)) from err
        if missing := await self.hass.async_add_executor_job(self._missing_files):
            raise BrainError(
                FailureKind.UNAVAILABLE, f"the model file {missing} is missing"
            )

    async def async_release(self) -> None:
        """Let go of the model (freed with the last agent using it) and of the issue."""
        if self._ready is not None and not self._ready.done():
            self._ready.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ready
        if self._acquired and self.key is not None:
            self._acquired = False
            await model_pool(self.hass).async_release(self.key)
        ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)


def create_local_brain(
    hass: HomeAssistant, entry: ConfigEntry, settings: AgentSettings
) -> LocalBrain:
    """Build the local brain of an entry from its extracted weights and settings."""
    return local_brain_from(
        hass,
        entry.data,
        n_ctx=settings.local_n_ctx,
        threads=settings.local_threads,
        entry_id=entry.entry_id,
        agent=str(entry.data.get(CONF_AGENT_NAME, entry.title)),
    )


def local_brain_from(
    hass: HomeAssistant,
    data: Mapping[str, Any],
    *,
    n_ctx: int = DEFAULT_LOCAL_N_CTX,
    threads: int | None = None,
    entry_id: str,
    agent: str,
) -> LocalBrain:
    """Build a local brain from entry data (its `weights`), its context and its threads."""
    declared = data.get(CONF_WEIGHTS)
    declared = declared if isinstance(declared, Mapping) else {}
    folder = weights_dir(hass)
    weights_sha = _sha(declared.get(WEIGHTS_SECTION))
    adapter_sha = _sha(declared.get(ADAPTER_SECTION))
    key = (
        ModelKey(weights=weights_sha, adapter=adapter_sha, n_ctx=n_ctx, threads=threads)
        if weights_sha
        else None
    )
    return LocalBrain(
        hass,
        entry_id=entry_id,
        agent=agent,
        weights=folder / f"{weights_sha}.gguf" if weights_sha else None,
        adapter=folder / f"{adapter_sha}.gguf" if adapter_sha else None,
        key=key,
    )


async def async_validate(hass: HomeAssistant, data: Mapping[str, Any]) -> None:
    """Check that entry data can run locally; raises `BrainError(UNAVAILABLE)` with why."""
    brain = local_brain_from(hass, data, entry_id="", agent="")
    await brain.async_validate()


def _sha(info: Any) -> str | None:
    sha = info.get("sha256") if isinstance(info, Mapping) else None
    return sha if isinstance(sha, str) and len(sha) == 64 else None
