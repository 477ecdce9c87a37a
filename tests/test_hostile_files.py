"""Nothing an agent file holds can break Home Assistant.

Every value Home Assistant's storage (orjson) cannot keep is refused at upload with the
section's error; config entries are then saved by the real `Store` (pytest's stand-in is put
aside) and read back from disk. Weights that inflate far beyond their stored size, or do not
fit on the disk, are refused before anything is written. Triggers no file may bring are left
out of what an exported file suggests.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import storage
import pai  # paigent, the reference implementation
import pytest

from custom_components.pai.agent_files import (
    DISK_RESERVE,
    EmbeddedWeights,
    install_weights,
    read_agent_file,
)
from custom_components.pai.const import DOMAIN
from custom_components.pai.engine.container import (
    ChecksumError,
    SectionSource,
    SectionType,
    json_section,
    write_pai,
)
from custom_components.pai.engine.outreach import ha_trigger_id
from custom_components.pai.storable import storable_problem

from .helpers import (
    CLEANUP_RULE,
    CPU_TRIGGER,
    FAN_ON,
    STATE_TRIGGER,
    Uploads,
    _agent_sections,
    _exported,
    configure,
    files_under,
    import_agent,
    pack,
    pai_files,
    start_upload,
    upload,
)

# Home Assistant's own storage, kept before pytest-homeassistant's fixture stands in for it.
REAL_LOAD = storage.Store._async_load
REAL_WRITE = storage.Store._async_write_data


@pytest.fixture
def real_store(hass: HomeAssistant, tmp_path: Path) -> Iterator[None]:
    """Config entries (and everything else) are saved by the real Store, under tmp_path."""
    hass.config.config_dir = str(tmp_path / "config")
    with (
        patch.object(storage.Store, "_async_load", REAL_LOAD),
        patch.object(storage.Store, "_async_write_data", REAL_WRITE),
    ):
        yield


def _file_with(folder: Path, **raw: bytes) -> Path:
    """The default agent with some sections replaced by raw JSON bytes, as a stranger might."""
    sections = [
        SectionSource(name, SectionType.JSON, data=raw[name])
        if name in raw
        else json_section(name, value)
        for name, value in _agent_sections().items()
    ]
    folder.mkdir(parents=True, exist_ok=True)
    write_pai(folder / "hostile.pai", sections)
    return folder / "hostile.pai"


MANIFEST = b'{"name": "Server watch", "version": "1.0.0", '
HOSTILE = {
    "lone surrogate": (
        {"manifest.json": MANIFEST + b'"description": "\\ud800"}'},
        "'manifest.json' is not valid JSON: a string holds a lone surrogate (U+D800)",
    ),
    "deep nesting": (
        {"policy.json": b'{"x": ' + b"[" * 40 + b"]" * 40 + b"}"},
        "'policy.json' is not valid JSON: nesting deeper than 32 levels",
    ),
    "infinity": (
        {"policy.json": b'{"min_confidence": 1e400}'},
        "'policy.json' is not valid JSON: the number 1e400 is too large",
    ),
    "minus infinity": (
        {"rules.json": b'[{"name": "r", "when": {"payload": {"t": -1e400}}}]'},
        "'rules.json' is not valid JSON: the number -1e400 is too large",
    ),
    "10^309": (
        {"policy.json": b'{"max_interruptions_per_hour": 1' + b"0" * 309 + b"}"},
        "'policy.json' is not valid JSON: an integer is outside the 64-bit range",
    ),
}


async def _saved_entries(hass: HomeAssistant) -> list[dict[str, Any]]:
    """Save the config entries now, with the real Store, and read the file back."""
    entries = hass.config_entries
    await entries._store.async_save(entries._data_to_save())
    path = Path(hass.config.path(".storage", "core.config_entries"))
    stored = await hass.async_add_executor_job(path.read_text, "utf-8")
    return list(json.loads(stored)["data"]["entries"])


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
@pytest.mark.usefixtures("flow_house", "real_store")
async def test_values_storage_cannot_keep_are_refused_and_entries_still_save(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path, case: str
) -> None:
    raw, detail = HOSTILE[case]
    result = await upload(hass, uploads, _file_with(tmp_path / "bad", **raw))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_section"}
    assert detail in result["description_placeholders"]["detail"]
    assert "\n" not in result["description_placeholders"]["detail"]

    # Home Assistant goes on saving config entries: a good agent is kept on disk.
    entry = await import_agent(hass, uploads, pack(tmp_path / "good"))
    saved = await _saved_entries(hass)
    assert [item["entry_id"] for item in saved] == [entry.entry_id]
    assert saved[0]["data"]["agent"]["manifest.json"]["name"] == "Server watch"


@pytest.mark.usefixtures("real_store")
async def test_the_refused_values_would_stop_the_real_store(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """Why the checks exist: Home Assistant's Store cannot write these values at all."""
    store: storage.Store[dict[str, Any]] = storage.Store(hass, 1, "pai_probe")
    path = Path(hass.config.path(".storage", "pai_probe"))
    for value in ("\ud800", 2**64, _nested(300)):
        caplog.clear()
        await store.async_save({"value": value})
        assert "Error writing config for pai_probe" in caplog.text
        assert not await hass.async_add_executor_job(path.exists)
        assert storable_problem({"value": value}) is not None
    await store.async_save({"value": "fine"})
    written = await hass.async_add_executor_job(path.read_text, "utf-8")
    assert json.loads(written)["data"] == {"value": "fine"}
    assert storable_problem({"value": "fine", "list": (1, 2)}) is None


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("\ud800", "lone surrogate"),
        (2**64, "64-bit"),
        (float("inf"), "not finite"),
        (float("nan"), "not finite"),
        (_nested(65), "nesting deeper than 64"),
        ({1: "x"}, "changes when Home Assistant stores it"),
        (object(), "Type is not JSON serializable"),
    ],
    ids=["surrogate", "int", "inf", "nan", "deep", "int-key", "object"],
)
def test_storable_problem_names_the_problem(value: Any, problem: str) -> None:
    found = storable_problem({"value": value})
    assert found is not None
    assert problem in found
    assert "\n" not in found


@pytest.mark.usefixtures("flow_house", "real_store")
async def test_a_finish_that_could_not_be_stored_aborts_and_keeps_nothing(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    result = await upload(hass, uploads, pack(tmp_path / "src"))
    result = await configure(hass, result, {"cpu": "sensor.cpu"})
    bad_binding = [{**FAN_ON[0], "data": {"note": "\ud800"}}]
    result = await configure(hass, result, {"cleanup": bad_binding})
    result = await configure(hass, result, {"notify_targets": []})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_storable"
    assert "lone surrogate" in result["description_placeholders"]["detail"]
    assert hass.config_entries.async_entries(DOMAIN) == []
    assert await _saved_entries(hass) == []


# --- weights ----------------------------------------------------------------------------


def _bomb(folder: Path) -> Path:
    """12 MiB of weights stored as 12 KiB: inflating such sections once filled a disk."""
    sections = [json_section(name, value) for name, value in _agent_sections().items()]
    sections.append(
        SectionSource("weights.gguf", SectionType.TEXT, data=bytes(12 * 1024 * 1024))
    )
    folder.mkdir(parents=True, exist_ok=True)
    write_pai(folder / "bomb.pai", sections)
    return folder / "bomb.pai"


@pytest.mark.usefixtures("flow_house")
async def test_a_weights_bomb_is_refused_with_nothing_written(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    bomb = _bomb(tmp_path / "src")
    assert bomb.stat().st_size < 64 * 1024
    result = await upload(hass, uploads, bomb)
    assert result["errors"] == {"base": "too_large"}
    detail = result["description_placeholders"]["detail"]
    assert "'weights.gguf'" in detail
    assert "store large sections uncompressed" in detail
    await hass.async_block_till_done()
    assert pai_files(hass) == []
    assert files_under(uploads.folder) == []


@pytest.mark.usefixtures("flow_house")
async def test_weights_that_do_not_fit_on_the_disk_are_refused_first(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    weights = b"GGUF" + bytes(4000)
    path = pack(tmp_path / "src", weights=weights)
    full = type("Usage", (), {"free": DISK_RESERVE + 1000, "total": 0, "used": 0})
    with patch(
        "custom_components.pai.agent_files.shutil.disk_usage", return_value=full
    ):
        result = await upload(hass, uploads, path)
        assert result["errors"] == {"base": "no_space"}
        assert result["description_placeholders"]["detail"] == (
            "the model weights need 3.9 KiB on disk and 512 MiB is free "
            "(keeping 512 MiB for Home Assistant)"
        )
        imported = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": "import_file"}, data={"path": str(path)}
        )
        assert imported["reason"] == "invalid_file"
        assert "need 3.9 KiB on disk" in imported["description_placeholders"]["detail"]
    await hass.async_block_till_done()
    assert pai_files(hass) == []
    assert files_under(uploads.folder) == []


async def test_a_failed_install_leaves_no_weights_behind(tmp_path: Path) -> None:
    first, second = b"GGUF-one" * 50, b"GGUF-two" * 50
    path = tmp_path / "two.pai"
    model, adapter = tmp_path / "m.gguf", tmp_path / "a.gguf"
    model.write_bytes(first)
    adapter.write_bytes(second)
    sections = [json_section(name, value) for name, value in _agent_sections().items()]
    sections += [
        SectionSource("weights.gguf", SectionType.GGUF, path=model),
        SectionSource("adapters/active.gguf", SectionType.GGUF, path=adapter),
    ]
    write_pai(path, sections)
    agent = read_agent_file(path)
    good, other = agent.weights
    changed = EmbeddedWeights(other.section, "0" * 64, other.size)  # not what was read
    target = tmp_path / "weights"
    with pytest.raises(ChecksumError, match="not the one that was verified"):
        install_weights(path, [good, changed], target)
    assert list(target.iterdir()) == []
    install_weights(path, agent.weights, target)
    assert len(list(target.iterdir())) == 2


# --- triggers a file may not bring --------------------------------------------------------

FORBIDDEN_TRIGGERS = [
    {"trigger": "webhook", "webhook_id": "open", "local_only": False},
    {"platform": "webhook", "webhook_id": "old-style"},
    {"trigger": "event", "event_type": "state_changed"},
    {"trigger": "event", "event_type": ["tag_scanned", "call_service"]},
    {"trigger": "event", "event_type": "pai_*"},
    {"trigger": "event", "event_type": []},
    {"trigger": "event"},
]


@pytest.mark.usefixtures("flow_house")
async def test_an_exported_file_cannot_bring_forbidden_triggers(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    tag = {"trigger": "event", "event_type": "tag_scanned"}
    ha_bindings = {"ha_triggers": [*FORBIDDEN_TRIGGERS, STATE_TRIGGER, tag]}
    result = await start_upload(hass)
    path = _exported(tmp_path / "src", ha_bindings)
    result = await configure(hass, result, {"pai_file": uploads.add(path)})
    # Only the allowed triggers are offered at all.
    offered = [option["value"] for option in _options(result, "allow")]
    assert offered == ["webhook:hook", ha_trigger_id(STATE_TRIGGER), ha_trigger_id(tag)]
    result = await configure(hass, result, {"allow": offered[1:]})
    result = await configure(hass, result, {"cpu": "sensor.cpu"})
    result = await configure(hass, result, {"cleanup": FAN_ON})
    result = await configure(hass, result, {"notify_targets": []})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["ha_triggers"] == [STATE_TRIGGER, tag]


@pytest.mark.usefixtures("flow_house")
async def test_an_exported_file_brings_at_most_64_triggers(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    many = [{**STATE_TRIGGER, "id": f"t{number}"} for number in range(100)]
    path = _exported(tmp_path / "src", {"ha_triggers": many})
    allow = [ha_trigger_id(config) for config in many]
    result = await upload(hass, uploads, path, allow=allow[:64])
    result = await configure(hass, result, {"cpu": "sensor.cpu"})
    result = await configure(hass, result, {"cleanup": FAN_ON})
    result = await configure(hass, result, {"notify_targets": []})
    assert result["data"]["ha_triggers"] == many[:64]


# --- reference files ----------------------------------------------------------------------


@pytest.mark.usefixtures("flow_house")
async def test_a_paigent_file_with_only_a_name_and_version_uploads_and_runs(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    path = tmp_path / "reference.pai"
    pai.pack_agent(
        str(path),
        manifest={"name": "Küchenhelfer 廚房", "version": "0.1.3"},
        policy={"default_max_level": 3, "max_interruptions_per_hour": 100},
        triggers=[CPU_TRIGGER],
        rules=[CLEANUP_RULE],
        actions={"cleanup": {"type": "callback", "handler": "free_memory"}},
    )
    result = await upload(hass, uploads, path)
    result = await configure(hass, result, {"cpu": "sensor.cpu"})
    result = await configure(hass, result, {"cleanup": FAN_ON})
    result = await configure(hass, result, {"notify_targets": []})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Küchenhelfer 廚房"
    entry = result["result"]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED  # the manifest is checked again here

    hass.states.async_set("sensor.cpu", "92")
    await hass.async_block_till_done()
    assert hass.states.get("input_boolean.fan").state == "on"


def _options(result: Any, field: str) -> list[dict[str, str]]:
    """The options a select field offers on a form."""
    for key, selector in result["data_schema"].schema.items():
        if key == field:
            return list(selector.config["options"])
    raise KeyError(field)


@pytest.mark.usefixtures("flow_house")
async def test_the_review_shows_the_size_of_the_weights(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    path = pack(tmp_path / "src", weights=b"GGUF" + bytes(4000))
    result = await start_upload(hass)
    result = await configure(hass, result, {"pai_file": uploads.add(path)})
    assert result["step_id"] == "review"
    assert (
        "- model weights: 3.9 KiB to write under \\<config\\>/pai/weights (checked against "
        "the free disk space first)"
    ) in result["description_placeholders"]["outreach"]
