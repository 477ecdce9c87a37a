"""The fixed part of an agent's prompt, evaluated once per model and then only restored.

Every decision's prompt starts with the same text for a given agent (the instructions, its
actions and their caps, its rules in words, the household's profile); only the event differs.
llama-cpp-python already skips the tokens a prompt shares with the one evaluated just before,
so one agent asking twice in a row evaluates only its event. This keeps that benefit when
prompts of several agents (or of other users of the model) take turns on one shared model:
the KV cache of each fixed part is kept, and put back before the next prompt that starts
with it, instead of evaluating those hundreds of tokens again.

The fixed part is learned, not guessed: the tokens two prompts under the same key share. The
state is llama.cpp's own per-sequence KV state (`llama_state_seq_*`): only the cache, a few
MB, not `Llama.save_state`'s copy of the logits (a megabyte per token with a 262k-token
vocabulary). Putting the cache back changes nothing in the answer: the model sees the same
keys and values it would compute again, provided they are computed in the same batches:
llama.cpp evaluates a prompt `n_batch` tokens at a time, and the same token evaluated in a
batch of another size (or split elsewhere) can round differently, enough to flip a near-tie
in greedy decoding. So the saved part ends on a multiple of the model's `n_batch`
(`PROMPT_BATCH`, small so that little is lost to the rounding down), and the cache is cut
back to exactly the saved part before each prompt: the rest of the prompt is then evaluated
in the very batches a whole evaluation uses, and the answer is bit for bit the same.

Everything here runs in the model's own thread (see `llama_runtime.ModelPool`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
import ctypes
from dataclasses import dataclass
import logging
from typing import Any

_LOGGER = logging.getLogger(__name__)

PROMPT_BATCH = 64
"""The model's `n_batch`: a saved fixed part ends on a multiple of it (see above)."""
MIN_PREFIX = 32
"""Tokens below which a shared start is not worth a saved state."""
MAX_PREFIXES = 8
"""Fixed parts kept per model, the least recently used dropped first."""
SEQ = 0


@dataclass(slots=True)
class _Prefix:
    tokens: tuple[int, ...]
    """The fixed part's tokens; until a state is saved, the whole first prompt seen."""
    state: Any = None
    """The KV cache of exactly `tokens` (a ctypes byte array), once learned."""


def common_prefix(left: Sequence[int], right: Sequence[int]) -> int:
    """How many tokens two sequences share from the start."""
    count = 0
    for a, b in zip(left, right, strict=False):
        if a != b:
            break
        count += 1
    return count


class PrefixStates:
    """The saved KV state of each fixed prompt part used on one loaded model."""

    def __init__(self, limit: int = MAX_PREFIXES) -> None:
        """Start with none."""
        self.limit = limit
        self._prefixes: OrderedDict[str, _Prefix] = OrderedDict()
        self.restored = 0
        """How many times a fixed part was put back rather than evaluated."""

    @property
    def saved_bytes(self) -> int:
        """Memory the saved states take."""
        return sum(
            ctypes.sizeof(prefix.state)
            for prefix in self._prefixes.values()
            if prefix.state is not None
        )

    def fixed_tokens(self, key: str) -> int:
        """How many tokens of `key`'s prompts are known to be fixed (0: not learned yet)."""
        prefix = self._prefixes.get(key)
        return len(prefix.tokens) if prefix is not None and prefix.state else 0

    def before(self, llama: Any, key: str) -> int:
        """Make the model's cache hold `key`'s fixed part, and only it; return its tokens.

        When the cache already starts with it (the same agent asked last), the rest is cut
        off rather than reused: what follows the fixed part is evaluated in the batches a
        whole evaluation would use (see the module's docstring).
        """
        prefix = self._prefixes.get(key)
        if prefix is None or prefix.state is None:
            return 0
        self._prefixes.move_to_end(key)
        size = len(prefix.tokens)
        held = common_prefix(llama.input_ids[: llama.n_tokens].tolist(), prefix.tokens)
        if held >= size and _cut(llama, size):
            return size
        if not _restore(llama, prefix):
            _LOGGER.debug("Could not restore a saved prompt prefix; dropped")
            del self._prefixes[key]
            llama.reset()
            return 0
        self.restored += 1
        return size

    def after(self, llama: Any, key: str, prompt_tokens: int) -> None:
        """Learn `key`'s fixed part from the prompt just evaluated, and save its state."""
        prompt = tuple(llama.input_ids[:prompt_tokens].tolist())
        prefix = self._prefixes.get(key)
        if prefix is None:
            self._prefixes[key] = _Prefix(prompt)
            self._evict()
            return
        self._prefixes.move_to_end(key)
        fixed = aligned(common_prefix(prompt, prefix.tokens), llama.n_batch)
        if prefix.state is not None and fixed >= len(prefix.tokens):
            return  # this prompt starts with the saved part, as expected
        if fixed < MIN_PREFIX:  # too little in common: start again from this prompt
            prefix.tokens, prefix.state = prompt, None
            return
        state = _snapshot(llama, fixed)
        prefix.tokens = prompt[:fixed]
        prefix.state = state
        if state is None:
            prefix.tokens = prompt

    def _evict(self) -> None:
        while len(self._prefixes) > self.limit:
            self._prefixes.popitem(last=False)


def aligned(tokens: int, batch: int) -> int:
    """Round `tokens` down to a multiple of the batch size (a batch of 0 or less: as is)."""
    return tokens - tokens % batch if batch > 0 else tokens


def _cut(llama: Any, tokens: int) -> bool:
    """Cut the cache back to its first `tokens` (False: this model's cache cannot)."""
    if llama.n_tokens == tokens:
        return True
    if not llama._ctx.kv_cache_seq_rm(-1, tokens, -1):  # noqa: SLF001
        return False
    llama.n_tokens = tokens
    llama._requires_eval = True  # noqa: SLF001  # the next token must be evaluated first
    return True


def _snapshot(llama: Any, tokens: int) -> Any:
    """Cut the cache back to its first `tokens` and return a copy of it (None: cannot)."""
    import llama_cpp  # noqa: PLC0415  # only after the child's import check

    if not _cut(llama, tokens):
        return None  # a cache that cannot drop its end (recurrent models)
    ctx = llama._ctx.ctx  # noqa: SLF001
    size = int(llama_cpp.llama_state_seq_get_size(ctx, SEQ))
    if size <= 0:
        return None
    buffer = (ctypes.c_uint8 * size)()
    written = int(llama_cpp.llama_state_seq_get_data(ctx, buffer, size, SEQ))
    if written <= 0 or written > size:
        return None
    if written == size:
        return buffer
    exact = (ctypes.c_uint8 * written)()
    ctypes.memmove(exact, buffer, written)
    return exact


def _restore(llama: Any, prefix: _Prefix) -> bool:
    """Replace the model's cache by the saved fixed part; False when llama.cpp refuses."""
    import llama_cpp  # noqa: PLC0415

    ctx = llama._ctx.ctx  # noqa: SLF001
    llama._ctx.kv_cache_clear()  # noqa: SLF001
    read = int(
        llama_cpp.llama_state_seq_set_data(
            ctx, prefix.state, ctypes.sizeof(prefix.state), SEQ
        )
    )
    if read <= 0:
        return False
    size = len(prefix.tokens)
    llama.input_ids[:size] = prefix.tokens
    llama.n_tokens = size
    llama._requires_eval = True  # noqa: SLF001
    return True
