"""llama-cpp-python inside Home Assistant, without letting it take Home Assistant down.

llama-cpp-python is not in the manifest: it compiles for minutes, and a build made for
another CPU dies with SIGILL the moment it is imported. So it is installed through Home
Assistant's requirements mechanism only when an agent with a local brain is set up, and its
import is first tried in a child process: a crash there is a repair issue, not a dead home.

Models are heavy (hundreds of MB to many GB), so one `Llama` is loaded per (weights,
adapter, context size, threads) and shared by every agent that uses it, released when the
last one lets go. Loading and inference are blocking native calls: they run in executor
jobs, and inference is serialised per model (a `Llama` is not thread-safe).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
import ctypes
from dataclasses import dataclass, field
import functools
import importlib
import logging
import os
from pathlib import Path
import signal
import sys
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.requirements import async_process_requirements
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN
from .llama_prefix import PROMPT_BATCH, PrefixStates
from .local_build import async_build_problem

_LOGGER = logging.getLogger(__name__)

LLAMA_REQUIREMENT = "llama-cpp-python==0.3.36"
LLAMA_MODULE = "llama_cpp"
IMPORT_CHECK_TIMEOUT = 120.0
"""Importing loads the native library; a minute on a slow disk is not a crash."""

IMPORT_CHECK = (
    "import llama_cpp\n"
    "llama_cpp.llama_backend_init()\n"  # runs native code: a wrong-CPU build dies here
    "print(llama_cpp.__version__)\n"
)
STDERR_TAIL = 600

DATA_CHECK: HassKey[asyncio.Task[str]] = HassKey(f"{DOMAIN}_llama_check")
DATA_CHILD_ENV: HassKey[dict[str, str]] = HassKey(f"{DOMAIN}_llama_child_env")
"""Extra environment for the import check's child; a `PYTHONPATH` here goes first."""
DATA_POOL: HassKey[ModelPool] = HassKey(f"{DOMAIN}_model_pool")

_SIGNAL_HINTS = {
    signal.SIGILL: "an instruction this CPU does not have: the build is for another CPU",
    signal.SIGSEGV: "a crash in the native library",
    signal.SIGBUS: "a crash in the native library",
    signal.SIGABRT: "the native library aborted",
}


class LlamaUnavailableError(HomeAssistantError):
    """llama-cpp-python cannot be used here, or a model cannot be loaded; says why."""


class LlamaCannotBuildError(LlamaUnavailableError):
    """No wheel for this system and no compiler to build one: no install was tried."""


async def async_ensure_llama(hass: HomeAssistant) -> str:
    """Install (if needed) and import-check llama-cpp-python; return its version.

    Raises `LlamaUnavailableError`. Done once per run, and the outcome is kept: a failed
    check is not retried on every reload (restart Home Assistant after fixing it).
    """
    task = hass.data.get(DATA_CHECK)
    if task is None:
        task = hass.async_create_background_task(
            _async_check(hass), f"{DOMAIN} llama-cpp-python check"
        )
        hass.data[DATA_CHECK] = task
    return await asyncio.shield(task)


async def _async_check(hass: HomeAssistant) -> str:
    # Seconds to know, rather than minutes of a source build that cannot succeed.
    problem = await async_build_problem(hass, LLAMA_REQUIREMENT, LLAMA_MODULE)
    if problem is not None:
        raise LlamaCannotBuildError(problem)
    try:
        await async_process_requirements(
            hass, DOMAIN, [LLAMA_REQUIREMENT], is_built_in=False
        )
    except HomeAssistantError as err:
        raise LlamaUnavailableError(
            f"{LLAMA_REQUIREMENT} could not be installed: {err}"
        ) from err
    version = await async_import_check(hass)
    # The child survived the import: now it is safe to import here (blocking: executor).
    await hass.async_add_executor_job(importlib.import_module, "llama_cpp")
    _LOGGER.debug("llama-cpp-python %s imported", version)
    return version


async def async_import_check(hass: HomeAssistant) -> str:
    """Import llama_cpp in a child process; return its version.

    Raises `LlamaUnavailableError` with the signal or exit status and the child's stderr.
    """
    env = dict(os.environ)
    configured = hass.data.get(DATA_CHILD_ENV)
    extra = dict(configured) if configured else {}
    # The child sees what this process sees (Home Assistant's deps folder included).
    paths = [extra.pop("PYTHONPATH", ""), *sys.path]
    env.update(extra)
    env["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        IMPORT_CHECK,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        async with asyncio.timeout(IMPORT_CHECK_TIMEOUT):
            stdout, stderr = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise LlamaUnavailableError(
            f"importing llama_cpp did not finish in {IMPORT_CHECK_TIMEOUT:g} s"
        ) from None
    if process.returncode != 0:
        raise LlamaUnavailableError(
            describe_failure(process.returncode, stderr.decode(errors="replace"))
        )
    lines = stdout.decode(errors="replace").split()
    return lines[-1] if lines else "unknown"


def describe_failure(returncode: int | None, stderr: str) -> str:
    """Say in one paragraph why the child could not import llama_cpp."""
    if returncode is not None and returncode < 0:
        try:
            sig = signal.Signals(-returncode)
        except ValueError:
            what = f"importing llama_cpp was killed by signal {-returncode}"
        else:
            hint = _SIGNAL_HINTS.get(sig, "killed by a signal")
            what = f"importing llama_cpp crashed with {sig.name} ({hint})"
    else:
        what = f"importing llama_cpp failed (exit status {returncode})"
    tail = stderr.strip()[-STDERR_TAIL:]
    return f"{what}: {tail}" if tail else what


# --- the shared models ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelKey:
    """What makes two loaded models the same one."""

    weights: str
    """SHA-256 of the GGUF weights."""
    adapter: str | None = None
    """SHA-256 of the LoRA adapter applied on top, if any."""
    n_ctx: int = 2048
    threads: int | None = None


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A loaded `llama_cpp.Llama` and how to talk to it."""

    llama: Any
    system_in_user: bool
    """The chat format has no system role (Gemma): the system prompt opens the user turn."""
    prefixes: PrefixStates = field(default_factory=PrefixStates)
    """The KV state of each agent's fixed prompt part, evaluated once (`llama_prefix`)."""


@dataclass(slots=True)
class _Slot:
    executor: ThreadPoolExecutor
    """One thread per model: it loads, runs every inference in turn, and frees it."""
    task: asyncio.Task[LoadedModel] | None = None
    refs: int = 0


class ModelPool:
    """Loaded models by `ModelKey`, reference-counted; one per Home Assistant run.

    Each model has an executor of its own with a single thread. Its jobs run one at a
    time, in order, even when a caller stops waiting (a timeout cannot interrupt a native
    call, and a second call on the same model at the same time would corrupt it), and the
    scratch memory llama.cpp allocates while it thinks stays in one thread's heap instead
    of one per Home Assistant executor thread that ever ran an inference.
    """

    def __init__(self, hass: HomeAssistant) -> None:
        """Start empty."""
        self.hass = hass
        self._slots: dict[ModelKey, _Slot] = {}
        self.loads = 0
        """How many models were loaded (a second agent on the same model adds none)."""

    @property
    def models(self) -> dict[ModelKey, int]:
        """Loaded (or loading) models, with how many agents use each."""
        return {key: slot.refs for key, slot in self._slots.items()}

    def acquire(self, key: ModelKey, weights: Path, adapter: Path | None) -> None:
        """Take a reference on `key`, starting its load in the background if it is new."""
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot(
                ThreadPoolExecutor(1, thread_name_prefix=f"{DOMAIN}_llama")
            )
            slot.task = self.hass.async_create_background_task(
                self._async_in(
                    slot, load_model, weights, adapter, key.n_ctx, key.threads
                ),
                f"{DOMAIN} load model {key.weights[:12]}",
            )
            self.loads += 1
        slot.refs += 1

    async def _async_in[*Ts, T](
        self, slot: _Slot, target: Callable[[*Ts], T], *args: *Ts
    ) -> T:
        return await self.hass.loop.run_in_executor(slot.executor, target, *args)

    def _task(self, key: ModelKey) -> asyncio.Task[LoadedModel]:
        task = self._slots[key].task
        assert task is not None  # noqa: S101  # set by acquire, with the slot
        return task

    async def async_model(self, key: ModelKey) -> LoadedModel:
        """Wait for `key`'s model (acquired before); raises what the load raised."""
        return await asyncio.shield(self._task(key))

    async def async_run[T](self, key: ModelKey, job: Callable[[LoadedModel], T]) -> T:
        """Run `job(model)` in the model's own thread, after the jobs queued before it."""
        model = await self.async_model(key)
        return await self._async_in(self._slots[key], _then_release, job, model)

    async def async_release(self, key: ModelKey) -> None:
        """Drop a reference; the last one frees the model once its work is done."""
        slot = self._slots.get(key)
        if slot is None:
            return
        slot.refs -= 1
        if slot.refs > 0:
            return
        task = self._task(key)
        del self._slots[key]
        if not task.done():
            # Still loading (a big model takes minutes): unloading does not wait for it.
            self.hass.async_create_background_task(
                self._async_close(key, slot, task),
                f"{DOMAIN} free model {key.weights[:12]}",
            )
            return
        await self._async_close(key, slot, task)

    async def _async_close(
        self, key: ModelKey, slot: _Slot, task: asyncio.Task[LoadedModel]
    ) -> None:
        try:
            model = await asyncio.shield(task)
        except Exception as err:  # noqa: BLE001  # it never loaded: nothing to free
            _LOGGER.debug("Model %s never loaded: %s", key.weights[:12], err)
        else:  # queued behind the inference in flight, if any
            await self._async_in(slot, close_model, model)
            _LOGGER.debug("Released model %s", key.weights[:12])
        # Its thread is idle now: wait (in the executor) until it has ended, so that
        # nothing of the model outlives its release.
        await self.hass.async_add_executor_job(slot.executor.shutdown, True)


def _then_release[T](job: Callable[[LoadedModel], T], model: LoadedModel) -> T:
    try:
        return job(model)
    finally:
        release_scratch()


def model_pool(hass: HomeAssistant) -> ModelPool:
    """Return this run's pool of loaded models."""
    if (pool := hass.data.get(DATA_POOL)) is None:
        pool = hass.data[DATA_POOL] = ModelPool(hass)
    return pool


def load_model(
    weights: Path, adapter: Path | None, n_ctx: int, threads: int | None
) -> LoadedModel:
    """Load a GGUF model (and LoRA adapter). Blocks for seconds: run it in an executor.

    The weights are memory-mapped (not with an adapter: llama.cpp applies it to a copy).
    The KV cache stays at llama.cpp's default 16 bits: a quantised one (8 bits, with flash
    attention) would save about 9 MB at 1024 tokens of context, but llama.cpp's kernels
    then round differently depending on how a prompt is split into batches, and restoring
    a prompt's fixed part (`llama_prefix`) would no longer give the same answer, token for
    token, as evaluating the whole prompt.
    """
    from llama_cpp import Llama  # noqa: PLC0415  # only after the child's import check

    try:
        llama = Llama(
            model_path=str(weights),
            lora_path=str(adapter) if adapter is not None else None,
            n_ctx=n_ctx,
            n_batch=PROMPT_BATCH,  # the saved prompt parts' alignment (llama_prefix)
            n_threads=threads,
            n_gpu_layers=0,
            use_mmap=True,
            verbose=False,
        )
    except (ValueError, RuntimeError, OSError) as err:
        raise LlamaUnavailableError(f"could not load {weights.name}: {err}") from err
    metadata: Mapping[str, str] = getattr(llama, "metadata", None) or {}
    system_in_user = False
    if "tokenizer.chat_template" not in metadata and metadata.get(
        "general.architecture", ""
    ).startswith("gemma"):
        # Without a template llama-cpp-python guesses Llama 2's; Gemma's has no system role.
        llama.chat_format = "gemma"
        llama.chat_handler = None
        system_in_user = True
    return LoadedModel(llama, system_in_user)


def release_scratch() -> None:
    """Give the heap's free pages back to the system (glibc; elsewhere nothing to do).

    While it answers under a grammar, llama.cpp allocates and frees large buffers (the
    grammar checks every token of the vocabulary, 262k of them for Gemma); glibc keeps the
    freed memory in the model thread's arena, where it would count as Home Assistant's.
    """
    if (trim := _malloc_trim()) is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except AttributeError, OSError:  # musl (Alpine) and others: nothing to trim
        return None
    return trim


def close_model(model: LoadedModel) -> None:
    """Free a model's memory now rather than whenever the garbage collector runs."""
    close = getattr(model.llama, "close", None)
    if callable(close):
        close()
