"""Optional publisher signatures: signed, unsigned and tampered files; the CLI; paigent."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pai import loader as reference_loader
import pytest

from custom_components.pai.engine.cli import main
from custom_components.pai.engine.container import (
    PaiReader,
    SectionSource,
    SectionType,
    json_section,
    write_pai,
)
from custom_components.pai.engine.signing import (
    SignatureError,
    fingerprint,
    load_private_key,
    read_signer,
    sign,
    verify,
)

from .helpers import _refusal, _sections


@pytest.fixture
def key_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    key = tmp_path / "publisher.pem"
    assert main(["keygen", str(key)]) == 0
    assert (
        capsys.readouterr().out == f"wrote a new private key to {key}; keep it secret\n"
    )
    assert key.stat().st_mode & 0o777 == 0o600
    return key


def _public(key_file: Path) -> str:
    key = load_private_key(key_file.read_bytes())
    from cryptography.hazmat.primitives import serialization

    raw = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return fingerprint(raw)


def _agent(path: Path, **extra: bytes) -> Path:
    sections = [json_section(name, value) for name, value in _sections().items()]
    sections += [
        SectionSource(name, SectionType.BINARY, data=data)
        for name, data in extra.items()
    ]
    write_pai(path, sections)
    return path


@pytest.fixture
def signed(tmp_path: Path, key_file: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    plain = _agent(tmp_path / "plain.pai", **{"weights.gguf": b"GGUF" + bytes(300)})
    out = tmp_path / "signed.pai"
    assert main(["sign", str(plain), str(key_file), str(out)]) == 0
    assert capsys.readouterr().out == f"signed {out} as {_public(key_file)}\n"
    return out


def test_verify_names_the_signer(
    signed: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(signed)]) == 0
    assert capsys.readouterr().out == f"OK 8 sections, signed by {_public(key_file)}\n"
    assert len(_public(key_file)) == 39  # 8 groups of 4 hex digits


def test_paigent_still_loads_a_signed_file(signed: Path, tmp_path: Path) -> None:
    agent = reference_loader.load_runtime(
        str(signed),
        handlers={"ops.cleanup": print, "ops.archive": print},
        metrics={"cpu": lambda: 0.0},
        memory_path=str(tmp_path / "memory.db"),
    )
    assert agent.name == "ops-guardian"
    agent.memory.conn.close()


def _rewrite(signed: Path, out: Path, change: dict[str, bytes | None]) -> Path:
    """Copy a signed file, replacing (or dropping, None) sections: a tampered copy."""
    with PaiReader(signed) as reader:
        sections = []
        for info in reader.sections:
            if info.name in change:
                if change[info.name] is not None:
                    sections.append(
                        SectionSource(info.name, info.stype, data=change[info.name])
                    )
                continue
            sections.append(
                SectionSource(info.name, info.stype, data=reader.read(info.name))
            )
        for name, data in change.items():
            if name not in reader and data is not None:
                sections.append(SectionSource(name, SectionType.BINARY, data=data))
    write_pai(out, sections)
    return out


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {"policy.json": json.dumps({"default_max_level": 3}).encode()},
            "the section 'policy.json' was altered after signing",
        ),
        ({"weights.gguf": None}, "the signed section 'weights.gguf' was removed"),
        ({"extra.bin": b"x"}, "the section 'extra.bin' was added after signing"),
    ],
    ids=["altered", "removed", "added"],
)
def test_a_tampered_signed_file_is_refused(
    signed: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, bytes | None],
    problem: str,
) -> None:
    bad = _rewrite(signed, tmp_path / "bad.pai", change)

    line = _refusal(capsys, ["verify", str(bad)])

    assert line == f"error: section 'signature.json': {problem}"


def test_ha_bindings_may_be_added_to_a_signed_file(
    signed: Path, tmp_path: Path, key_file: Path
) -> None:
    exported = _rewrite(
        signed, tmp_path / "exported.pai", {"ha_bindings.json": b'{"options": {}}'}
    )
    with PaiReader(exported) as reader:
        reader.verify()
        assert read_signer(reader) == _public(key_file)


def test_a_forged_signature_is_refused(signed: Path) -> None:
    with PaiReader(signed) as reader:
        document = reader.read_json("signature.json")
        other = sign(reader.sections, Ed25519PrivateKey.generate())
        forged = {**document, "signature": other["signature"]}
        with pytest.raises(SignatureError, match="the signature does not match"):
            verify(reader.sections, forged)
        for broken, problem in (
            ({**document, "algorithm": "rsa"}, "not an ed25519 signature"),
            ({**document, "public_key": "%%%"}, "malformed"),
            ({**document, "sections": ["x"]}, "its list of sections is malformed"),
        ):
            with pytest.raises(SignatureError, match=problem):
                verify(reader.sections, broken)


def test_signing_needs_a_usable_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key_file: Path
) -> None:
    plain = _agent(tmp_path / "plain.pai")
    bad_key = tmp_path / "bad.pem"
    bad_key.write_bytes(b"not a key")
    line = _refusal(capsys, ["sign", str(plain), str(bad_key), str(tmp_path / "o.pai")])
    assert line.startswith(f"error: {bad_key} is not an Ed25519 private key")
    assert _refusal(capsys, ["keygen", str(key_file)]) == (
        f"error: {key_file} exists; choose a new file for the key"
    )
    seed = tmp_path / "seed.key"
    seed.write_bytes(bytes(range(32)))  # the raw 32-byte form works too
    assert main(["sign", str(plain), str(seed), str(tmp_path / "o.pai")]) == 0
