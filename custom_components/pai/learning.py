"""Feedback-driven learning, done elsewhere: a preference dataset out, a LoRA adapter back in.

Training a model does not belong in Home Assistant (hours of GPU time). What does: handing
the user's verdicts out as a preference dataset (JSONL, see `engine.preferences`), and
packing the adapter trained from it back into the agent (`adapters/active.gguf`), where the
local brain applies it and `export_agent` carries it in the `.pai`.

Paths come from users: only files inside a directory `allowlist_external_dirs` allows (a
relative path is relative to the config directory), with the right suffix. File work runs
in the executor; an adapter is stored by content hash like the weights.
"""

from __future__ import annotations

from collections.abc import Mapping
import contextlib
import hashlib
import os
from pathlib import Path
import shutil
import tempfile
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util.file import WriteError, write_utf8_file_atomic

from .agent_files import CONF_WEIGHTS, async_cleanup_weights, weights_dir
from .brains.local_gguf import ADAPTER_SECTION, WEIGHTS_SECTION
from .const import DOMAIN
from .engine.preferences import AgentPrompt, preference_pairs, to_jsonl
from .export import refuse_path, resolve_path
from .record_history import async_get_records
from .runtime import AgentRuntime

GGUF_MAGIC = b"GGUF"


async def async_export_preferences(
    hass: HomeAssistant,
    runtime: AgentRuntime,
    raw_path: str,
    limit: int,
    *,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the agent's judged records as a preference dataset; return {count, path}."""
    path = await hass.async_add_executor_job(
        lambda: resolve_path(
            hass, raw_path, suffix=".jsonl", existing=False, overwrite=overwrite
        )
    )
    records = await async_get_records(
        hass,
        entry_id=runtime.entry_id,
        since=None,
        limit=limit,
        status=None,
        shadow=False,  # a shadow version's decisions were never put to the user
    )
    definition = runtime.definition
    pairs = preference_pairs(
        records,
        AgentPrompt(
            agent=runtime.name,
            actions=runtime.action_choices(),  # what the brain is offered
            user_profile=definition.brain.user_profile,
            description=definition.manifest.description,
        ),
    )
    try:
        await hass.async_add_executor_job(
            write_utf8_file_atomic, os.fspath(path), to_jsonl(pairs)
        )
    except WriteError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="export_failed",
            translation_placeholders={"path": raw_path, "error": str(err)},
        ) from err
    return {"count": len(pairs), "path": os.fspath(path), "records": len(records)}


def store_adapter(source: Path, folder: Path) -> tuple[str, int]:
    """Copy a GGUF adapter into `folder` as `<sha256>.gguf`; return (sha256, size). Blocks.

    Raises ValueError when the file is not GGUF.
    """
    with source.open("rb") as file:
        if file.read(len(GGUF_MAGIC)) != GGUF_MAGIC:
            raise ValueError("not a GGUF file")
        file.seek(0)
        sha256 = hashlib.file_digest(file, "sha256").hexdigest()
    size = source.stat().st_size
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{sha256}.gguf"
    if not (target.is_file() and target.stat().st_size == size):
        handle, temp = tempfile.mkstemp(dir=folder, prefix=".adapter.")
        os.close(handle)
        try:
            shutil.copyfile(source, temp)
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
    return sha256, size


async def async_import_adapter(
    hass: HomeAssistant, entry: ConfigEntry, raw_path: str
) -> dict[str, Any]:
    """Make a LoRA adapter the agent's active one and reload the agent with it.

    Returns {sha256, size}. The agent must carry model weights (an adapter adapts them).
    """
    weights = entry.data.get(CONF_WEIGHTS)
    if not isinstance(weights, Mapping) or WEIGHTS_SECTION not in weights:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_local_weights",
            translation_placeholders={"agent": entry.title},
        )
    path = await hass.async_add_executor_job(
        lambda: resolve_path(hass, raw_path, suffix=".gguf", existing=True)
    )
    try:
        sha256, size = await hass.async_add_executor_job(
            store_adapter, path, weights_dir(hass)
        )
    except ValueError as err:
        raise refuse_path("adapter_not_gguf", raw_path) from err
    except OSError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="adapter_import_failed",
            translation_placeholders={"path": raw_path, "error": str(err)},
        ) from err
    hass.config_entries.async_update_entry(
        entry,
        data={
            **entry.data,
            CONF_WEIGHTS: {
                **weights,
                ADAPTER_SECTION: {"sha256": sha256, "size": size},
            },
        },
    )
    await hass.config_entries.async_reload(entry.entry_id)
    await async_cleanup_weights(
        hass
    )  # the adapter it replaced, if nothing else uses it
    return {"sha256": sha256, "size": size}
