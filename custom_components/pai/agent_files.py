"""Agent files on disk: reading a .pai for import, and the model weights it may carry.

A .pai comes from the internet: it is read only through the engine's checked reader, every
section's checksum is verified before anything is kept, and nothing is written while it is
being judged. Embedded weights (`weights.gguf`, a LoRA `adapters/active.gguf`) are extracted
to `<config>/pai/weights/<sha256>.gguf`: named by content, so two agents with the same model
share one file, and removed once no config entry refers to them. A file already there with
the right name and size is trusted and not re-hashed (its name is the hash it was verified
against when it was written; re-hashing gigabytes on every import would cost minutes).

A file exported from Home Assistant also carries `ha_bindings.json` (what that installation
bound the agent to); it is read leniently, as suggestions for the binding steps: whatever
part of it is malformed is left out, never refused.

Everything here that touches the disk blocks: run it in an executor job.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
import contextlib
from dataclasses import dataclass
import hashlib
import logging
from pathlib import Path
import re
import shutil
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN
from .engine.agent import MAX_TRIGGERS, AgentDefinition, load_agent_definition
from .engine.container import (
    ChecksumError,
    InvalidJsonError,
    Limits,
    PaiFormatError,
    PaiReader,
)
from .engine.signing import read_signer

_LOGGER = logging.getLogger(__name__)

WEIGHT_SECTIONS = ("weights.gguf", "adapters/active.gguf")
"""Sections holding model weights, in the order they are listed."""

HA_BINDINGS_SECTION = "ha_bindings.json"
"""The section an export adds: {"bindings", "ha_triggers", "options"}."""

CONF_WEIGHTS = "weights"
"""entry.data key: {section name: {"sha256": hex, "size": bytes}}."""

FILE_LIMITS = Limits()
"""What an imported file may hold (the engine's defaults)."""

DISK_RESERVE = 512 * 1024**2
"""Free space left to Home Assistant after weights are extracted (its database, logs)."""

FORBIDDEN_EVENT_TYPES = frozenset({"state_changed", "call_service"})
"""Event types no file may trigger on: every state change, every action in the house."""


class NotEnoughSpaceError(PaiFormatError):
    """The file's model weights do not fit on the disk (with `DISK_RESERVE` to spare)."""


_WEIGHT_FILE = re.compile(r"[0-9a-f]{64}\.gguf")
_HELD: HassKey[Counter[str]] = HassKey(f"{DOMAIN}_weights_held")


@dataclass(frozen=True, slots=True)
class EmbeddedWeights:
    """One weights section of an agent file, as its table declares it."""

    section: str
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        """The file it is extracted to: its content hash (never the section's name)."""
        return f"{self.sha256}.gguf"

    def to_dict(self) -> dict[str, Any]:
        """Return the entry.data form."""
        return {"sha256": self.sha256, "size": self.size}


@dataclass(frozen=True, slots=True)
class AgentFile:
    """A verified agent file: its definition, JSON sections and embedded weights."""

    definition: AgentDefinition
    sections: dict[str, Any]
    weights: tuple[EmbeddedWeights, ...]
    file_sha256: str
    ha_bindings: dict[str, Any] | None = None
    """From `ha_bindings.json` if the file has one: see `parse_ha_bindings`."""
    signer: str | None = None
    """The fingerprint of the publisher's key for a signed file (engine/signing.py)."""

    @property
    def name(self) -> str:
        """The agent's name (manifest)."""
        return self.definition.manifest.name

    @property
    def version(self) -> str:
        """The agent's version (manifest)."""
        return self.definition.manifest.version


def read_agent_file(path: Path) -> AgentFile:
    """Open, verify (every section's checksum) and parse an agent file. Blocks.

    Raises the engine's `PaiFormatError` (the container) or `AgentDefinitionError` (the
    agent), each one readable line; writes nothing.
    """
    with PaiReader(path, limits=FILE_LIMITS) as reader:
        definition = load_agent_definition(reader)
        reader.verify()
        signer = read_signer(reader)  # SignatureError for a tampered signed file
        weights = tuple(
            EmbeddedWeights(info.name, info.sha256_hex, info.raw_size)
            for info in reader.sections
            if info.name in WEIGHT_SECTIONS
        )
        ha_bindings = None
        if HA_BINDINGS_SECTION in reader:
            try:
                ha_bindings = parse_ha_bindings(reader.read_json(HA_BINDINGS_SECTION))
            except InvalidJsonError as err:
                _LOGGER.warning("Ignoring the file's %s: %s", HA_BINDINGS_SECTION, err)
    # What the reader accepts, Home Assistant can store: the entry's data is checked
    # again, as a whole, before the entry is created (config_flow, storable.py).
    sections = definition.to_sections()
    with path.open("rb") as file:
        digest = hashlib.file_digest(file, "sha256").hexdigest()
    return AgentFile(definition, sections, weights, digest, ha_bindings, signer)


def parse_ha_bindings(document: Any) -> dict[str, Any]:
    """Keep the well-formed part of an exported `ha_bindings.json`.

    Returns {"metrics": {metric: entity_id}, "actions": {name: [action config]},
    "ha_triggers": [trigger config], "notify_targets": [target]}; anything of another
    shape is left out.
    """
    bindings = _mapping(_mapping(document).get("bindings"))
    options = _mapping(_mapping(document).get("options"))
    return {
        "metrics": {
            metric: entity_id
            for metric, entity_id in _mapping(bindings.get("metrics")).items()
            if isinstance(entity_id, str)
        },
        "actions": {
            name: [dict(step) for step in sequence]
            for name, sequence in _mapping(bindings.get("actions")).items()
            if isinstance(sequence, list)
            and sequence
            and all(isinstance(step, Mapping) for step in sequence)
        },
        "ha_triggers": [
            dict(trigger)
            for trigger in _list(_mapping(document).get("ha_triggers"))
            if isinstance(trigger, Mapping) and _allowed_from_a_file(trigger)
        ][:MAX_TRIGGERS],
        "notify_targets": [
            target
            for target in _list(options.get("notify_targets"))
            if isinstance(target, str)
        ],
    }


def _allowed_from_a_file(trigger: Mapping[str, Any]) -> bool:
    """Whether a file may bring this Home Assistant trigger (it is logged when not).

    Never a `webhook` (anyone who can reach Home Assistant could wake the agent), never an
    `event` trigger on every state change or action, or on a pattern of event types (the
    agent would wake on its own records and sensors, without end).
    """
    platform = trigger.get("trigger", trigger.get("platform"))
    refused = platform == "webhook"
    if platform == "event":
        types = trigger.get("event_type")
        types = types if isinstance(types, list) else [types]
        refused = not types or any(
            not isinstance(kind, str)
            or kind in FORBIDDEN_EVENT_TYPES
            or any(char in kind for char in "*?[{")
            for kind in types
        )
    if refused:
        _LOGGER.warning(
            "Left out a %s trigger the file brings: no agent file may add it", platform
        )
    return not refused


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def weights_dir(hass: HomeAssistant) -> Path:
    """Where extracted weights live: `<config>/pai/weights`."""
    return Path(hass.config.path(DOMAIN, "weights"))


def staging_dir(hass: HomeAssistant) -> Path:
    """Where an uploaded file with weights waits for its flow to finish."""
    return Path(hass.config.path(DOMAIN, "staging"))


def stage_file(source: Path, target: Path) -> None:
    """Move an uploaded file out of file_upload's reach (it deletes its own). Blocks."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(source, target)


def remove_file(path: Path) -> None:
    """Remove `path` if it is there. Blocks."""
    path.unlink(missing_ok=True)


def install_weights(
    source: Path, weights: Iterable[EmbeddedWeights], directory: Path
) -> None:
    """Extract `weights` from the agent file `source` into `directory`. Blocks.

    Each is streamed, verified against its checksum and renamed into place; one already
    there with the same name and size is kept as it is.
    """
    weights = list(weights)
    if not weights:
        return
    check_free_space(weights, directory)
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        with PaiReader(source, limits=FILE_LIMITS) as reader:
            for item in weights:
                _extract(reader, item, directory / item.filename, written)
    except BaseException:
        for path in written:  # nothing of a refused install stays on disk
            path.unlink(missing_ok=True)
        raise


def _extract(
    reader: PaiReader, item: EmbeddedWeights, target: Path, written: list[Path]
) -> None:
    if _present(target, item):
        return
    if reader.section(item.section).sha256_hex != item.sha256:
        raise ChecksumError(
            f"section {item.section!r} is not the one that was verified "
            "(the file changed since it was read)",
            section=item.section,
        )
    reader.extract(item.section, target)
    written.append(target)


def check_free_space(weights: Iterable[EmbeddedWeights], directory: Path) -> int:
    """Refuse weights that would not fit (NotEnoughSpaceError); return the bytes needed.

    Counts only what is not there yet, and keeps `DISK_RESERVE` free. Blocks.
    """
    needed = sum(
        item.size for item in weights if not _present(directory / item.filename, item)
    )
    if not needed:
        return 0
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed + DISK_RESERVE > free:
        raise NotEnoughSpaceError(
            f"the model weights need {size_words(needed)} on disk and "
            f"{size_words(free)} is free (keeping {size_words(DISK_RESERVE)} for "
            "Home Assistant)"
        )
    return needed


def _present(target: Path, item: EmbeddedWeights) -> bool:
    return target.is_file() and target.stat().st_size == item.size


def size_words(count: int) -> str:
    """Say a byte count in words: 2 GiB, 1.5 GiB, 512 MiB, 12 bytes."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}".replace(".0 ", " ")
    return f"{count} bytes"


def entry_weights(data: Mapping[str, Any]) -> set[str]:
    """Return the content hashes an entry's data refers to (its shadow's and previous's too)."""
    found: set[str] = set()
    for key in ("shadow", "previous"):  # the versions kept beside it (versions.py)
        kept = data.get(key)
        if isinstance(kept, Mapping) and isinstance(kept.get("data"), Mapping):
            found |= entry_weights(kept["data"])
    declared = data.get(CONF_WEIGHTS)
    if not isinstance(declared, Mapping):
        return found
    return found | {
        str(item["sha256"])
        for item in declared.values()
        if isinstance(item, Mapping) and "sha256" in item
    }


@callback
def hold_weights(hass: HomeAssistant, hashes: Iterable[str]) -> Callable[[], None]:
    """Keep `hashes` from cleanup until the returned callback is called (a flow's work)."""
    held = hass.data.setdefault(_HELD, Counter())
    taken = list(hashes)
    held.update(taken)
    released = False

    @callback
    def release() -> None:
        nonlocal released
        if not released:
            released = True
            held.subtract(taken)
            for sha in taken:
                if held[sha] <= 0:
                    del held[sha]

    return release


async def async_cleanup_weights(
    hass: HomeAssistant, exclude_entry_id: str | None = None
) -> list[str]:
    """Remove extracted weights that no config entry refers to; return the removed names.

    `exclude_entry_id`: an entry being removed (still listed while `async_remove_entry`
    runs). Weights held by a flow in progress are kept.
    """
    keep: set[str] = set(hass.data.get(_HELD, ()))
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.entry_id != exclude_entry_id:
            keep |= entry_weights(entry.data)
    flows = {
        flow["flow_id"]
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    }
    return await hass.async_add_executor_job(
        _remove_unreferenced,
        weights_dir(hass),
        frozenset(keep),
        staging_dir(hass),
        frozenset(flows),
    )


def _remove_unreferenced(
    directory: Path, keep: frozenset[str], staging: Path, flows: frozenset[str]
) -> list[str]:
    removed: list[str] = []
    # Only finished weight files: a temp file of an extraction in progress stays.
    for path in _listing(directory):
        if _WEIGHT_FILE.fullmatch(path.name) and path.stem not in keep:
            removed += _unlink(path, "Removed model weights no agent uses: %s")
    # Uploads staged by flows that ended without cleaning up (a restart, a crash).
    for path in _listing(staging):
        if path.suffix == ".pai" and path.stem not in flows:
            removed += _unlink(path, "Removed an abandoned upload: %s")
    return removed


def _listing(directory: Path) -> list[Path]:
    return sorted(directory.iterdir()) if directory.is_dir() else []


def _unlink(path: Path, message: str) -> list[str]:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        _LOGGER.info(message, path.name)
        return [path.name]
    return []
