"""Agent files on disk: verified reading, weights extracted by content hash, and cleanup."""

from __future__ import annotations

import hashlib
from pathlib import Path

from homeassistant.core import HomeAssistant
import pai
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pai import agent_files
from custom_components.pai.agent_files import (
    EmbeddedWeights,
    async_cleanup_weights,
    entry_weights,
    hold_weights,
    install_weights,
    read_agent_file,
    remove_file,
    stage_file,
    staging_dir,
    weights_dir,
)
from custom_components.pai.const import DOMAIN
from custom_components.pai.engine.container import ChecksumError

MODEL = b"GGUF" + bytes(range(256)) * 8
ADAPTER = b"GGUF-lora" * 30


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack(folder: Path, *, weights: bytes | None = MODEL) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    weights_path = None
    if weights is not None:
        weights_path = folder / "model.gguf"
        weights_path.write_bytes(weights)
    path = folder / "agent.pai"
    pai.pack_agent(
        str(path),
        manifest={"name": "Lab", "version": "3.1", "author": "t", "description": ""},
        policy={},
        triggers=[],
        rules=[],
        actions={"note": {"type": "console"}},
        weights_path=str(weights_path) if weights_path else None,
    )
    return path


def with_adapter(path: Path) -> Path:
    adapter = path.parent / "lora.gguf"
    adapter.write_bytes(ADAPTER)
    baked = path.parent / "baked.pai"
    pai.bake_adapter_into_pai(str(path), str(adapter), str(baked))
    return baked


def test_read_verifies_and_lists_the_weights(tmp_path: Path) -> None:
    path = with_adapter(pack(tmp_path))
    agent = read_agent_file(path)
    assert (agent.name, agent.version) == ("Lab", "3.1")
    assert agent.sections["actions.json"] == {"note": {"type": "console"}}
    assert agent.file_sha256 == sha(path.read_bytes())
    assert sorted(agent.weights, key=lambda w: w.section) == [
        EmbeddedWeights("adapters/active.gguf", sha(ADAPTER), len(ADAPTER)),
        EmbeddedWeights("weights.gguf", sha(MODEL), len(MODEL)),
    ]
    assert agent.weights[0].to_dict() == {
        "sha256": agent.weights[0].sha256,
        "size": agent.weights[0].size,
    }


def test_read_refuses_damaged_weights(tmp_path: Path) -> None:
    path = pack(tmp_path)
    data = bytearray(path.read_bytes())
    data[-10] ^= 1
    path.write_bytes(data)
    with pytest.raises(ChecksumError, match=r"'weights\.gguf'"):
        read_agent_file(path)


def test_install_extracts_by_content_hash_and_keeps_what_is_there(
    tmp_path: Path,
) -> None:
    path = with_adapter(pack(tmp_path / "src"))
    agent = read_agent_file(path)
    target = tmp_path / "weights"
    install_weights(path, agent.weights, target)
    assert sorted(p.name for p in target.iterdir()) == sorted(
        f"{sha(data)}.gguf" for data in (MODEL, ADAPTER)
    )
    assert (target / f"{sha(MODEL)}.gguf").read_bytes() == MODEL

    # Same name and size: trusted, not rewritten (documented: no re-hash of gigabytes).
    stand_in = bytes(len(MODEL))
    (target / f"{sha(MODEL)}.gguf").write_bytes(stand_in)
    install_weights(path, agent.weights, target)
    assert (target / f"{sha(MODEL)}.gguf").read_bytes() == stand_in
    # A file of the wrong size is replaced.
    (target / f"{sha(MODEL)}.gguf").write_bytes(b"short")
    install_weights(path, agent.weights, target)
    assert (target / f"{sha(MODEL)}.gguf").read_bytes() == MODEL


def test_install_without_weights_touches_nothing(tmp_path: Path) -> None:
    install_weights(tmp_path / "absent.pai", [], tmp_path / "weights")
    assert not (tmp_path / "weights").exists()


def test_install_leaves_nothing_when_the_weights_are_damaged(tmp_path: Path) -> None:
    path = pack(tmp_path / "src")
    weights = read_agent_file(path).weights
    data = bytearray(path.read_bytes())
    data[-10] ^= 1
    path.write_bytes(data)
    with pytest.raises(ChecksumError):
        install_weights(path, weights, tmp_path / "weights")
    assert list((tmp_path / "weights").iterdir()) == []


def test_stage_and_remove(tmp_path: Path) -> None:
    source = tmp_path / "upload" / "a.pai"
    source.parent.mkdir()
    source.write_bytes(b"x")
    target = tmp_path / "staging" / "flow.pai"
    stage_file(source, target)
    assert not source.exists()
    assert target.read_bytes() == b"x"
    remove_file(target)
    remove_file(target)  # already gone: fine
    assert not target.exists()


def test_entry_weights_reads_only_what_is_well_formed() -> None:
    assert entry_weights({}) == set()
    assert entry_weights({"weights": "nope"}) == set()
    assert entry_weights(
        {"weights": {"a": {"sha256": "ab", "size": 1}, "b": {"size": 2}, "c": 3}}
    ) == {"ab"}


async def test_hold_counts_each_holder(hass: HomeAssistant) -> None:
    first = hold_weights(hass, ["aa"])
    second = hold_weights(hass, ["aa", "bb"])
    first()
    first()  # releasing twice changes nothing
    assert hass.data[agent_files._HELD] == {"aa": 1, "bb": 1}
    second()
    assert not hass.data[agent_files._HELD]


async def test_cleanup_removes_only_what_nothing_refers_to(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    hass.config.config_dir = str(tmp_path)
    assert await async_cleanup_weights(hass) == []  # no folders yet

    used, removed_entry, held, orphan = (sha(bytes([n])) for n in range(4))
    folder = weights_dir(hass)
    folder.mkdir(parents=True)
    for digest in (used, removed_entry, held, orphan):
        (folder / f"{digest}.gguf").write_bytes(b"w")
    (folder / f".{orphan}.gguf.1234.tmp").write_bytes(b"partial")  # in progress
    (folder / "notes.txt").write_bytes(b"not ours")

    def entry_with(digest: str) -> MockConfigEntry:
        entry = MockConfigEntry(
            domain=DOMAIN,
            data={"name": digest, "weights": {"weights.gguf": {"sha256": digest}}},
        )
        entry.add_to_hass(hass)
        return entry

    entry_with(used)
    leaving = entry_with(removed_entry)
    release = hold_weights(hass, [held])

    staging = staging_dir(hass)
    staging.mkdir(parents=True)
    (staging / "abandoned.pai").write_bytes(b"x")
    (staging / "keep.txt").write_bytes(b"x")

    removed = await async_cleanup_weights(hass, exclude_entry_id=leaving.entry_id)
    assert sorted(removed) == sorted(
        [f"{removed_entry}.gguf", f"{orphan}.gguf", "abandoned.pai"]
    )
    left = sorted(p.name for p in folder.iterdir())
    assert left == sorted(
        [f"{used}.gguf", f"{held}.gguf", f".{orphan}.gguf.1234.tmp", "notes.txt"]
    )
    assert [p.name for p in staging.iterdir()] == ["keep.txt"]

    release()
    assert await async_cleanup_weights(hass) == [f"{held}.gguf"]


def test_unlink_of_a_file_already_gone_reports_nothing(tmp_path: Path) -> None:
    assert agent_files._unlink(tmp_path / "gone.gguf", "%s") == []


def test_install_refuses_a_file_changed_since_it_was_read(tmp_path: Path) -> None:
    weights = read_agent_file(pack(tmp_path / "first")).weights
    changed = pack(tmp_path / "second", weights=b"GGUF-other")
    with pytest.raises(ChecksumError, match="changed since it was read"):
        install_weights(changed, weights, tmp_path / "weights")
    assert list((tmp_path / "weights").iterdir()) == []
