"""Moving agents in and out of Home Assistant as `.pai` files, by path.

Exporting writes the agent file's sections as they were imported, plus `ha_bindings.json`
(what this Home Assistant bound the agent to, and its options) and, when asked, the model
weights kept under `<config>/pai/weights/`; paigent's `load_agent` reads the result.
Importing by path serves files too large for the browser's upload: it starts the config
flow's `import_file` step, which reads the file and asks for the bindings.

Paths come from users, so both actions accept only a `.pai` file inside a directory Home
Assistant allows (`hass.config.is_allowed_path`: `<config>/www`, the media folders and
`allowlist_external_dirs`; a relative path is relative to the config directory), and an
export replaces an existing file only when asked to (`overwrite`). Both are admin-only
actions. File work runs in the executor: a weights file can be gigabytes.
"""

from __future__ import annotations

from collections.abc import Mapping
import logging
import os
from pathlib import Path
import re
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .agent_files import CONF_WEIGHTS, weights_dir
from .const import CONF_AGENT, CONF_AGENT_NAME, CONF_BINDINGS, CONF_HA_TRIGGERS, DOMAIN
from .engine.container import (
    PaiFormatError,
    PaiReader,
    SectionSource,
    SectionType,
    json_section,
    write_pai,
)

_LOGGER = logging.getLogger(__name__)

SUFFIX = ".pai"
BINDINGS_SECTION = "ha_bindings.json"
SOURCE_IMPORT_FILE = "import_file"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def refuse_path(key: str, path: str) -> ServiceValidationError:
    """Return the translated error for a user's path (`exceptions.<key>`, naming it)."""
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={"path": path},
    )


def resolve_path(
    hass: HomeAssistant,
    raw: str,
    *,
    existing: bool,
    suffix: str = SUFFIX,
    overwrite: bool = False,
) -> Path:
    """Check a user's path (blocking I/O): a `suffix` file inside an allowed directory.

    `existing`: the file must be there (import); otherwise its directory must (export),
    and a file already there is refused unless `overwrite`. Raises a translated
    ServiceValidationError that names the path (a wrong suffix: `path_not_<suffix>`,
    e.g. `path_not_pai`).
    """
    path = Path(hass.config.path(raw.strip()))
    if path.suffix.lower() != suffix:
        raise refuse_path(f"path_not_{suffix.removeprefix('.')}", raw)
    if not hass.config.is_allowed_path(str(path)):
        raise refuse_path("path_not_allowed", raw)
    if existing and not path.is_file():
        raise refuse_path("path_not_a_file", raw)
    if not existing and (path.is_dir() or not path.parent.is_dir()):
        raise refuse_path("path_not_writable", raw)
    if not existing and not overwrite and path.exists():
        raise refuse_path("path_exists", raw)
    return path


def bindings_document(
    data: Mapping[str, Any], options: Mapping[str, Any]
) -> dict[str, Any]:
    """Describe what ties the agent to this Home Assistant: bindings, triggers, options."""
    return {
        CONF_BINDINGS: data.get(CONF_BINDINGS, {}),
        CONF_HA_TRIGGERS: data.get(CONF_HA_TRIGGERS, []),
        "options": dict(options),
    }


def weights_sources(
    data: Mapping[str, Any], folder: Path
) -> tuple[list[SectionSource], dict[str, str], list[str]]:
    """Return the weights present (as sections, with their SHA-256) and those missing."""
    sources: list[SectionSource] = []
    expected: dict[str, str] = {}
    missing: list[str] = []
    for name, info in (data.get(CONF_WEIGHTS) or {}).items():
        sha256 = str(info.get("sha256", "")) if isinstance(info, Mapping) else ""
        file = folder / f"{sha256}.gguf"
        if not _SHA256.fullmatch(sha256) or not file.is_file():
            missing.append(name)
            continue
        stype = SectionType.GGUF if name.endswith(".gguf") else SectionType.BINARY
        sources.append(SectionSource(name, stype, path=file))
        expected[name] = sha256
    return sources, expected, missing


def write_export(
    path: Path, sources: list[SectionSource], expected: Mapping[str, str]
) -> int:
    """Write the file atomically, check the weights arrived unchanged; return its size."""
    write_pai(path, sources)
    with PaiReader(path) as reader:
        changed = [
            info.name
            for info in reader.sections
            if info.name in expected and info.sha256_hex != expected[info.name]
        ]
    if changed:
        path.unlink()
        raise PaiFormatError(
            f"the weights {', '.join(changed)} changed since the agent was imported"
        )
    return path.stat().st_size


async def async_export_agent(
    hass: HomeAssistant,
    data: Mapping[str, Any],
    options: Mapping[str, Any],
    raw_path: str,
    *,
    include_weights: bool,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Export one agent to `raw_path`; return {path, sections, size, missing_weights}."""
    from .agent_draft import minimal_sections  # noqa: PLC0415

    path = await hass.async_add_executor_job(
        lambda: resolve_path(hass, raw_path, existing=False, overwrite=overwrite)
    )
    agent = data.get(CONF_AGENT) or minimal_sections(data[CONF_AGENT_NAME])
    sources = [json_section(name, value) for name, value in agent.items()]
    sources.append(json_section(BINDINGS_SECTION, bindings_document(data, options)))
    expected: dict[str, str] = {}
    missing: list[str] = []
    if include_weights:
        folder = weights_dir(hass)
        weights, expected, missing = await hass.async_add_executor_job(
            weights_sources, data, folder
        )
        sources += weights
        for name in missing:
            _LOGGER.warning(
                "%s: weights %s are not in %s; exported without them",
                data[CONF_AGENT_NAME],
                name,
                folder,
            )
    try:
        size = await hass.async_add_executor_job(write_export, path, sources, expected)
    except (OSError, PaiFormatError) as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="export_failed",
            translation_placeholders={"path": raw_path, "error": str(err)},
        ) from err
    return {
        "path": os.fspath(path),
        "sections": [source.name for source in sources],
        "size": size,
        "missing_weights": missing,
    }


async def async_import_agent(hass: HomeAssistant, raw_path: str) -> dict[str, Any]:
    """Start the config flow's `import_file` step for a file on disk.

    Returns where the flow stands: a form waiting for bindings (finish it under Settings >
    Devices & services) or a created entry; an abort (the agent is already there, ...)
    raises a translated HomeAssistantError that gives the reason.
    """
    path = await hass.async_add_executor_job(
        lambda: resolve_path(hass, raw_path, existing=True)
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_IMPORT_FILE}, data={"path": os.fspath(path)}
    )
    if result["type"] is FlowResultType.ABORT:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="import_aborted",
            translation_placeholders={"path": raw_path, "reason": result["reason"]},
        )
    response: dict[str, Any] = {
        "flow_id": result["flow_id"],
        "type": str(result["type"]),
    }
    if "step_id" in result:
        response["step_id"] = result["step_id"]
    if (entry := result.get("result")) is not None:
        response["entry_id"] = entry.entry_id
    return response
