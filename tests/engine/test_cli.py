"""The authors' command line: what it prints, what it writes, and what it refuses."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
import runpy
import subprocess
import sys
from typing import Any

from pai import paifile as reference_paifile
import pytest

from custom_components.pai.engine.cli import main
from custom_components.pai.engine.container import (
    PaiReader,
    SectionSource,
    SectionType,
    write_pai,
)
from tests.engine.helpers import _refusal

from .helpers import OPS_GUARDIAN, _sections

REPO_ROOT = Path(__file__).resolve().parents[2]
EXTRA_FILES = {
    "weights.gguf": b"GGUF" + bytes(range(256)) * 40,
    "adapters/active.gguf": b"GGUF-lora" + bytes(100),
    "memory.db": b"SQLite format 3\x00" + bytes(200),
    "notes.md": b"# Notes\n",
    "docs/readme.txt": b"plain text\n",
    "blob.bin": bytes(range(50)),
}
EXPECTED_TYPES = {
    "manifest.json": ("json", True),
    "policy.json": ("json", True),
    "triggers.json": ("json", True),
    "rules.json": ("json", True),
    "actions.json": ("json", True),
    "brain.json": ("json", True),
    "memory.db": ("sqlite", False),
    "weights.gguf": ("gguf", False),
    "adapters/active.gguf": ("gguf", False),
    "blob.bin": ("binary", False),
    "docs/readme.txt": ("text", True),
    "notes.md": ("text", True),
}


@pytest.fixture
def agent_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "agent"
    for name, value in _sections().items():
        _write(folder / name, json.dumps(value, indent=2).encode())
    for name, data in EXTRA_FILES.items():
        _write(folder / name, data)
    return folder


@pytest.fixture
def packed(agent_dir: Path, tmp_path: Path) -> Path:
    out = tmp_path / "agent.pai"
    assert main(["pack", str(agent_dir), str(out)]) == 0
    return out


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_pack_then_info_shows_every_section(
    packed: Path, agent_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    assert main(["info", str(packed)]) == 0
    report = json.loads(capsys.readouterr().out)

    assert (report["version"], report["flags"], report["n_sections"]) == (1, 1, 12)
    assert report["created_at"] > 1_700_000_000
    assert report["manifest"]["name"] == "ops-guardian"
    assert [s["name"] for s in report["sections"]] == list(EXPECTED_TYPES)
    for section in report["sections"]:
        data = (agent_dir / section["name"]).read_bytes()
        assert (section["type"], section["compressed"]) == EXPECTED_TYPES[
            section["name"]
        ]
        assert section["raw_size"] == len(data)
        assert section["sha256"] == hashlib.sha256(data).hexdigest()
        if not section["compressed"]:
            assert section["size"] == len(data)


def test_pack_reports_what_it_did(
    agent_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.pai"

    assert main(["pack", str(agent_dir), str(out)]) == 0

    assert capsys.readouterr().out == f"packed 12 sections into {out}\n"


def test_paigent_reads_a_pack_made_here(packed: Path, agent_dir: Path) -> None:
    reader = reference_paifile.PaiReader(str(packed))
    try:
        for name in EXPECTED_TYPES:
            assert reader.read_bytes(name) == (agent_dir / name).read_bytes()
        assert reader.info()["sections"]["weights.gguf"]["type"] == 4  # GGUF
    finally:
        reader._raw.close()
        reader._f.close()


def test_verify_accepts_a_sound_agent(
    packed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    assert main(["verify", str(packed)]) == 0

    assert capsys.readouterr() == ("OK 12 sections, unsigned\n", "")


def test_verify_accepts_paigents_demo_pack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = tmp_path / "w.gguf"
    weights.write_bytes(os.urandom(4096))
    path = tmp_path / "ops-guardian.pai"
    reference_paifile.pack_agent(
        str(path),
        manifest=OPS_GUARDIAN["manifest"],
        policy=OPS_GUARDIAN["policy"],
        triggers=OPS_GUARDIAN["triggers"],
        rules=OPS_GUARDIAN["rules"],
        actions=OPS_GUARDIAN["actions"],
        brain=OPS_GUARDIAN["brain"],
        weights_path=str(weights),
    )

    assert main(["verify", str(path)]) == 0
    assert capsys.readouterr().out == "OK 7 sections, unsigned\n"


def test_verify_warns_about_what_it_keeps_but_cannot_run(
    agent_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    triggers = json.loads((agent_dir / "triggers.json").read_text())
    triggers.append({"type": "state", "name": "door", "params": {}})
    (agent_dir / "triggers.json").write_text(json.dumps(triggers))
    out = tmp_path / "warned.pai"
    assert main(["pack", str(agent_dir), str(out)]) == 0
    capsys.readouterr()

    assert main(["verify", str(out)]) == 0

    captured = capsys.readouterr()
    assert captured.out == "OK 12 sections, unsigned\n"
    assert captured.err == (
        "warning: triggers.json: trigger 'door' has unknown type 'state' (kept, not run)\n"
    )


def test_verify_refuses_a_tampered_file(
    packed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with PaiReader(packed) as reader:
        weights = reader.section("weights.gguf")
    data = bytearray(packed.read_bytes())
    data[weights.offset + 100] ^= 0xFF
    packed.write_bytes(bytes(data))
    capsys.readouterr()

    line = _refusal(capsys, ["verify", str(packed)])

    assert "weights.gguf" in line
    assert "sha-256" in line.lower() or "checksum" in line.lower()


def test_verify_refuses_an_agent_definition_that_does_not_parse(
    agent_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.pai"
    sections = _sections()
    sections["policy.json"]["min_confidence"] = "high"
    write_pai(
        path,
        [
            SectionSource(name, SectionType.JSON, data=json.dumps(value).encode())
            for name, value in sections.items()
        ],
    )

    assert _refusal(capsys, ["verify", str(path)]) == (
        "error: policy.json: min_confidence must be a number between 0 and 1"
    )


def test_verify_refuses_a_container_without_an_agent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bare.pai"
    write_pai(path, [SectionSource("notes.txt", SectionType.TEXT, data=b"hi")])

    assert _refusal(capsys, ["verify", str(path)]) == (
        "error: manifest.json: section is missing from the agent file"
    )


@pytest.mark.parametrize("command", ["info", "verify", "unpack"])
def test_what_is_not_a_pai_file_is_refused(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "random.pai"
    path.write_bytes(os.urandom(500))
    argv = [command, str(path)] + (
        [str(tmp_path / "out")] if command == "unpack" else []
    )

    line = _refusal(capsys, argv)

    assert "not a .pai file" in line


@pytest.mark.parametrize("command", ["info", "verify"])
def test_a_missing_file_is_one_line(
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    missing = tmp_path / "nope.pai"
    monkeypatch.delenv("PAI_WORKDIR", raising=False)

    assert _refusal(capsys, [command, str(missing)]) == (
        f"error: No such file or directory: {missing}"
    )


def test_a_missing_file_under_scripts_run_says_what_it_can_see(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAI_WORKDIR", "/src")
    missing = tmp_path / "nope.pai"

    assert _refusal(capsys, ["verify", str(missing)]) == (
        f"error: No such file or directory: {missing} (scripts/run sees only the "
        "repository and the folder it is run from)"
    )


def test_info_of_a_container_without_a_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bare.pai"
    write_pai(path, [SectionSource("blob", SectionType.BINARY, data=b"\x00\x01")])

    assert main(["info", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)

    assert report["manifest"] is None
    assert report["sections"] == [
        {
            "name": "blob",
            "type": "binary",
            "compressed": False,
            "size": 2,
            "raw_size": 2,
            "sha256": hashlib.sha256(b"\x00\x01").hexdigest(),
        }
    ]


def test_unpack_writes_every_section_back(
    packed: Path, agent_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "unpacked"
    capsys.readouterr()

    assert main(["unpack", str(packed), str(out)]) == 0

    assert capsys.readouterr().out == f"unpacked 12 sections into {out}\n"
    written = sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()
    )
    assert written == sorted(EXPECTED_TYPES)
    for name in written:
        assert (out / name).read_bytes() == (agent_dir / name).read_bytes()


def test_unpack_then_pack_gives_the_same_sections(
    packed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "unpacked"
    again = tmp_path / "again.pai"
    assert main(["unpack", str(packed), str(out)]) == 0
    assert main(["pack", str(out), str(again)]) == 0
    capsys.readouterr()

    infos = []
    for path in (packed, again):
        assert main(["info", str(path)]) == 0
        infos.append(json.loads(capsys.readouterr().out)["sections"])

    assert infos[0] == infos[1]


def test_unpack_refuses_a_symlinked_folder_that_leads_out(
    packed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "unpacked"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    out.mkdir()
    (out / "adapters").symlink_to(outside)

    line = _refusal(capsys, ["unpack", str(packed), str(out)])

    assert "'adapters/active.gguf' would be written outside" in line
    assert list(outside.iterdir()) == []


def test_unpack_does_not_write_through_a_symlinked_file(
    packed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "unpacked"
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out.mkdir()
    (out / "policy.json").symlink_to(victim)

    line = _refusal(capsys, ["unpack", str(packed), str(out)])

    assert "policy.json exists and is not a regular file" in line
    assert victim.read_text() == "keep me"


def test_unpack_refuses_section_names_that_climb_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "evil.pai"
    writer = reference_paifile.PaiWriter()  # paigent writes any name it is given
    writer.add_json("manifest.json", {"name": "x"})
    writer.add_bytes("../escaped.txt", b"gotcha")
    writer.write(str(path))
    out = tmp_path / "deep" / "unpacked"

    line = _refusal(capsys, ["unpack", str(path), str(out)])

    assert "../escaped.txt" in line
    assert not (tmp_path / "deep" / "escaped.txt").exists()


def test_pack_refuses_a_symlink_that_leads_out(
    agent_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    (agent_dir / "docs" / "leak.txt").symlink_to(secret)
    out = tmp_path / "out.pai"

    line = _refusal(capsys, ["pack", str(agent_dir), str(out)])

    assert "leak.txt leads outside" in line
    assert not out.exists()


def test_pack_refuses_a_symlinked_folder_that_leads_out(
    agent_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "home").mkdir()
    (agent_dir / "home").symlink_to(tmp_path / "home")

    line = _refusal(capsys, ["pack", str(agent_dir), str(tmp_path / "out.pai")])

    assert "home leads outside" in line


def test_pack_follows_symlinks_that_stay_inside(
    agent_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (agent_dir / "readme.md").symlink_to(agent_dir / "notes.md")
    (agent_dir / "docs" / "loop").symlink_to(agent_dir)  # a cycle must not hang
    out = tmp_path / "out.pai"
    assert main(["pack", str(agent_dir), str(out)]) == 0
    capsys.readouterr()

    assert main(["info", str(out)]) == 0
    names = [s["name"] for s in json.loads(capsys.readouterr().out)["sections"]]

    assert "readme.md" in names
    assert len(names) == len(set(names)) == 13


def test_pack_refuses_what_is_not_a_regular_file(
    agent_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.mkfifo(agent_dir / "pipe")

    line = _refusal(capsys, ["pack", str(agent_dir), str(tmp_path / "o.pai")])

    assert "pipe is not a regular file" in line


def test_pack_refuses_a_name_the_format_cannot_carry(
    agent_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (agent_dir / "back\\slash.txt").write_text("x")

    line = _refusal(capsys, ["pack", str(agent_dir), str(tmp_path / "o.pai")])

    assert "backslash" in line


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[{", "error: rules.json is not valid JSON: "),
        (b"[NaN]", "error: rules.json is not valid JSON: non-standard constant NaN"),
        (b'["\\ud800"]', "error: rules.json is not valid JSON: a string holds a lone"),
        (b"[1e400]", "error: rules.json is not valid JSON: the number 1e400 is too"),
        (b"[" * 40 + b"]" * 40, "error: rules.json is not valid JSON: nesting deeper"),
        (b"\xff", "error: rules.json is not valid JSON: "),
        (b"[" * 100_000, "error: rules.json is not valid JSON: "),
        (b"{}", "error: rules.json: rules must be a list of rule objects, not dict"),
    ],
)
def test_pack_refuses_an_agent_that_would_not_load(
    agent_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
    message: str,
) -> None:
    (agent_dir / "rules.json").write_bytes(content)
    out = tmp_path / "o.pai"

    assert _refusal(capsys, ["pack", str(agent_dir), str(out)]).startswith(message)
    assert not out.exists()


def test_pack_without_the_optional_sections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "minimal"
    for name, value in _sections().items():
        if name != "brain.json":
            _write(folder / name, json.dumps(value).encode())
    out = tmp_path / "minimal.pai"

    assert main(["pack", str(folder), str(out)]) == 0
    assert main(["verify", str(out)]) == 0
    assert capsys.readouterr().out.endswith("OK 5 sections, unsigned\n")


def test_pack_fills_the_manifest_as_paigent_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "reference"
    for name, value in _sections().items():
        _write(folder / name, json.dumps(value).encode())
    manifest = {"name": "Küchenhelfer 廚房", "version": "0.1.3", "base_model": "x"}
    _write(folder / "manifest.json", json.dumps(manifest, ensure_ascii=False).encode())
    out = tmp_path / "reference.pai"

    assert main(["pack", str(folder), str(out)]) == 0
    assert main(["verify", str(out)]) == 0

    reader = reference_paifile.PaiReader(str(out))
    try:
        written = reader.read_json("manifest.json")
    finally:
        reader._raw.close()
        reader._f.close()
    assert written == {"pai_format": 1, "kind": "proactive-agent", **manifest}
    # A manifest that says both already is packed byte for byte as it is.
    complete = {**manifest, "kind": "proactive-agent", "pai_format": 1}
    _write(folder / "manifest.json", json.dumps(complete).encode())
    assert main(["pack", str(folder), str(out)]) == 0
    with PaiReader(out) as ours:
        assert ours.read("manifest.json") == json.dumps(complete).encode()


def test_pack_leaves_out_its_own_output(
    agent_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = agent_dir / "agent.pai"
    assert main(["pack", str(agent_dir), str(out)]) == 0
    assert main(["pack", str(agent_dir), str(out)]) == 0  # again, over the first

    assert capsys.readouterr().out.endswith(f"packed 12 sections into {out}\n")


def test_pack_needs_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere"

    assert _refusal(capsys, ["pack", str(missing), str(tmp_path / "o.pai")]) == (
        f"error: {missing} is not a folder"
    )


@pytest.mark.parametrize(
    ("argv", "status"),
    [([], 2), (["info"], 2), (["explode", "x"], 2), (["--help"], 0)],
)
def test_usage(
    argv: list[str], status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == status
    assert "usage:" in capsys.readouterr()[status == 2]


def test_the_module_entry_point_exits_with_mains_status(
    packed: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["pai", "verify", str(packed)])
    sys.modules.pop("custom_components.pai.engine.__main__", None)

    with pytest.raises(SystemExit) as exited:
        runpy.run_module("custom_components.pai.engine", run_name="__main__")

    assert exited.value.code == 0
    assert capsys.readouterr().out.endswith("OK 12 sections, unsigned\n")


def test_python_dash_m_runs_verify(packed: Path, tmp_path: Path) -> None:
    env: dict[str, Any] = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "custom_components.pai.engine", "verify", str(packed)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    broken = subprocess.run(
        [sys.executable, "-m", "custom_components.pai.engine", "verify", str(tmp_path)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        "OK 12 sections, unsigned\n",
        "",
    )
    assert broken.returncode == 1
    assert broken.stdout == ""
    assert broken.stderr.startswith("error: ")
    assert "Traceback" not in broken.stderr
