"""Byte compatibility with paigent, the reference: its files read here, ours read there."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
import hashlib
from pathlib import Path
import sqlite3
from typing import Any

from pai import paifile
import pytest

from custom_components.pai.engine.container import (
    PaiReader,
    SectionSource,
    SectionType,
    json_section,
    write_pai,
)

MANIFEST = {
    "name": "porch-light",
    "version": "1.0.0",
    "author": "me",
    "description": "燈",
}
POLICY = {
    "default_max_level": 1,
    "quiet_hours": [22, 7],
    "max_interruptions_per_hour": 3,
}
TRIGGERS = [{"type": "interval", "name": "tick", "params": {"interval_sec": 60}}]
RULES = [
    {
        "name": "dark",
        "when": {"kind": "tick", "payload": [{"field": "lux", "op": "<", "value": 10}]},
        "intent": {"action": "light_on", "params": {}, "confidence": 0.9, "level": 2},
    }
]
ACTIONS = {"light_on": {"type": "callback", "handler": "light.turn_on"}}
BRAIN = {"type": "rule", "learning": False}


def fake_gguf(path: Path, size: int, seed: int) -> Path:
    """A few KB that look like a GGUF file (magic, then noise), not a real model."""
    noise = hashlib.shake_256(seed.to_bytes(4, "little")).digest(size - 4)
    path.write_bytes(b"GGUF" + noise)
    return path


def memory_db(path: Path) -> Path:
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("create table memory (key text, value text)")
        db.executemany("insert into memory values (?, ?)", [("k", "v" * 50)] * 200)
    return path


@pytest.fixture(autouse=True)
def close_paigent_readers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every reader paigent opens: it never does, and would leak file handles."""
    opened: list[paifile.PaiReader] = []

    class ClosedAfterTest(paifile.PaiReader):
        def __init__(self, path: str) -> None:
            super().__init__(path)
            opened.append(self)

    monkeypatch.setattr(paifile, "PaiReader", ClosedAfterTest)
    yield
    for reader in opened:
        reader._raw.close()
        reader._f.close()


def paigent_pack(path: Path, **extra: Any) -> Path:
    paifile.pack_agent(
        str(path), MANIFEST, POLICY, TRIGGERS, RULES, ACTIONS, brain=BRAIN, **extra
    )
    return path


def our_sections(weights: Path | None = None) -> list[SectionSource]:
    sections = [
        json_section(
            "manifest.json", {"pai_format": 1, "kind": "proactive-agent"} | MANIFEST
        ),
        json_section("policy.json", POLICY),
        json_section("triggers.json", TRIGGERS),
        json_section("rules.json", RULES),
        json_section("actions.json", ACTIONS),
        json_section("brain.json", BRAIN),
    ]
    if weights is not None:
        sections.append(SectionSource("weights.gguf", SectionType.GGUF, path=weights))
    return sections


# -- paigent writes, we read -------------------------------------------------------------


def test_we_read_paigent_agents_without_weights(tmp_path: Path) -> None:
    pai = paigent_pack(tmp_path / "agent.pai")
    with PaiReader(pai) as reader:
        reader.verify()
        assert (
            reader.read_json("manifest.json")
            == {
                "pai_format": 1,
                "kind": "proactive-agent",
            }
            | MANIFEST
        )
        assert reader.read_json("policy.json") == POLICY
        assert reader.read_json("triggers.json") == TRIGGERS
        assert reader.read_json("rules.json") == RULES
        assert reader.read_json("actions.json") == ACTIONS
        assert reader.read_json("brain.json") == BRAIN
        assert "weights.gguf" not in reader


def test_we_read_paigent_weights_memory_and_adapter(tmp_path: Path) -> None:
    weights = fake_gguf(tmp_path / "w.gguf", 6000, seed=1)
    adapter = fake_gguf(tmp_path / "lora.gguf", 3000, seed=2)
    memory = memory_db(tmp_path / "memory.db")
    base = paigent_pack(
        tmp_path / "base.pai", weights_path=str(weights), memory_db=str(memory)
    )
    baked = tmp_path / "baked.pai"
    paifile.bake_adapter_into_pai(str(base), str(adapter), str(baked))

    out = tmp_path / "out"
    out.mkdir()
    with PaiReader(base) as reader:
        assert reader.section("memory.db").compressed  # paigent zlibs small files
        assert reader.extract("memory.db", out / "m.db") == sha256_hex(memory)
    with PaiReader(baked) as reader:  # bake_adapter rewrites every section raw
        reader.verify()
        assert reader.section("weights.gguf").stype is SectionType.GGUF
        assert not reader.section("weights.gguf").compressed
        assert reader.extract("weights.gguf", out / "w.gguf") == sha256_hex(weights)
        assert reader.extract("adapters/active.gguf", out / "a.gguf") == sha256_hex(
            adapter
        )
        assert reader.read("memory.db") == memory.read_bytes()
        assert reader.read_json("rules.json") == RULES
    assert (out / "w.gguf").read_bytes() == weights.read_bytes()
    assert (out / "a.gguf").read_bytes() == adapter.read_bytes()
    assert (out / "m.db").read_bytes() == memory.read_bytes()


def test_we_read_paigent_streamed_weights(tmp_path: Path) -> None:
    # paigent streams files above a size threshold from disk instead of holding them.
    weights = fake_gguf(tmp_path / "w.gguf", 9000, seed=3)
    writer = paifile.PaiWriter().add_json("manifest.json", MANIFEST)
    writer.add_file("weights.gguf", str(weights), compress=False, stream_threshold=0)
    writer.write(str(tmp_path / "a.pai"))
    with PaiReader(tmp_path / "a.pai") as reader:
        reader.verify()
        assert reader.read("weights.gguf") == weights.read_bytes()


@pytest.mark.parametrize("with_weights", [False, True])
def test_our_bytes_equal_paigents_for_the_same_agent(
    tmp_path: Path, with_weights: bool
) -> None:
    weights = fake_gguf(tmp_path / "w.gguf", 5000, seed=4) if with_weights else None
    extra = {"weights_path": str(weights)} if weights else {}
    theirs = paigent_pack(tmp_path / "theirs.pai", **extra)
    created_at = paifile.PaiReader(str(theirs)).created_at
    ours = tmp_path / "ours.pai"
    write_pai(ours, our_sections(weights), created_at=created_at)
    assert ours.read_bytes() == theirs.read_bytes()


# -- we write, paigent reads -------------------------------------------------------------


def test_paigent_loads_our_agent(tmp_path: Path) -> None:
    weights = fake_gguf(tmp_path / "w.gguf", 7000, seed=5)
    adapter = fake_gguf(tmp_path / "lora.gguf", 2000, seed=6)
    pai = tmp_path / "ours.pai"
    write_pai(
        pai,
        [
            *our_sections(weights),
            SectionSource(
                "memory.db", SectionType.SQLITE, path=memory_db(tmp_path / "m.db")
            ),
            SectionSource("adapters/active.gguf", SectionType.GGUF, path=adapter),
        ],
    )

    agent = paifile.load_agent(str(pai))
    assert agent["manifest"]["name"] == "porch-light"
    assert agent["policy"] == POLICY
    assert agent["rules"] == RULES
    assert agent["actions"] == ACTIONS
    assert agent["brain"] == BRAIN
    assert (agent["has_weights"], agent["has_memory"], agent["has_adapter"]) == (
        True,
    ) * 3

    reader = paifile.PaiReader(str(pai))
    for name in reader.section_names:
        reader.read_bytes(name, verify=True)  # raises on any checksum mismatch
    reader.extract_to("weights.gguf", str(tmp_path / "w2.gguf"))
    reader.extract_to("adapters/active.gguf", str(tmp_path / "a2.gguf"))
    assert (tmp_path / "w2.gguf").read_bytes() == weights.read_bytes()
    assert (tmp_path / "a2.gguf").read_bytes() == adapter.read_bytes()


def test_paigent_reads_our_uncompressed_and_text_sections(tmp_path: Path) -> None:
    pai = tmp_path / "ours.pai"
    text = tmp_path / "prompt.txt"
    text.write_text("Be brief.\n" * 300)
    write_pai(
        pai,
        [
            json_section("manifest.json", MANIFEST),
            SectionSource("prompt.txt", SectionType.TEXT, path=text),
            SectionSource("empty.bin", SectionType.BINARY, data=b""),
        ],
        compress=False,
    )
    reader = paifile.PaiReader(str(pai))
    assert reader.read_json("manifest.json") == MANIFEST
    assert reader.read_bytes("prompt.txt") == text.read_bytes()
    assert reader.read_bytes("empty.bin") == b""
    assert reader.flags == 0


def sha256_hex(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
