"""The command line for agent authors: look into, check, build and take apart `.pai` files.

    python -m custom_components.pai.engine info FILE
    python -m custom_components.pai.engine verify FILE
    python -m custom_components.pai.engine pack DIR OUT.pai
    python -m custom_components.pai.engine unpack FILE DIR
    python -m custom_components.pai.engine keygen KEY.pem
    python -m custom_components.pai.engine sign FILE KEY.pem OUT.pai

Every refusal is one line on stderr and exit status 1, never a traceback: the files handled
here come from strangers, and an author needs to know what to fix, not where it broke.
Section names become paths only in `pack` and `unpack`, and both refuse any path that would
leave the folder they were given. `pack` reads JSON as strictly as a reader does, and fills
the manifest's `pai_format` and `kind` when they are missing, as paigent's `pack_agent` does.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
import json
import os
from pathlib import Path
import sys
import tempfile
from typing import Any

from .agent import (
    AGENT_KIND,
    JSON_SECTIONS,
    MANIFEST,
    SUPPORTED_PAI_FORMAT,
    AgentDefinition,
    AgentDefinitionError,
    load_agent_definition,
)
from .container import (
    PaiFormatError,
    PaiReader,
    SectionSource,
    SectionType,
    check_section_name,
    json_section,
    loads_json,
    write_pai,
)
from .signing import (
    SIGNATURE_SECTION,
    load_private_key,
    new_private_key_pem,
    read_signer,
    signature_section,
)

_TYPE_BY_SUFFIX = {
    ".json": SectionType.JSON,
    ".gguf": SectionType.GGUF,
    ".db": SectionType.SQLITE,
    ".sqlite": SectionType.SQLITE,
    ".txt": SectionType.TEXT,
    ".md": SectionType.TEXT,
}
_CANONICAL_ORDER = (*JSON_SECTIONS, "memory.db", "weights.gguf", "adapters/active.gguf")


class CliError(Exception):
    """A refusal of the command line itself (a path that escapes, a missing folder)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the exit status (0 done, 1 refused, 2 bad usage)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        result: int = args.run(args)
    except (PaiFormatError, AgentDefinitionError, CliError) as err:
        return _refuse(str(err))
    except OSError as err:
        where = f": {err.filename}" if err.filename else ""
        hint = ""
        if isinstance(err, FileNotFoundError) and os.environ.get("PAI_WORKDIR"):
            hint = (  # set by scripts/run inside its Debian root
                " (scripts/run sees only the repository and the folder it is run from)"
            )
        return _refuse(f"{err.strerror or err}{where}{hint}")
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m custom_components.pai.engine",
        description="Inspect, verify, pack and unpack PAI agent files (.pai).",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    info = commands.add_parser(
        "info", help="print a .pai file's header and sections as JSON"
    )
    info.add_argument("file", type=Path)
    info.set_defaults(run=_info)
    verify = commands.add_parser(
        "verify", help="check every checksum and the agent definition"
    )
    verify.add_argument("file", type=Path)
    verify.set_defaults(run=_verify)
    pack = commands.add_parser(
        "pack", help="build a .pai file from a folder of sections"
    )
    pack.add_argument("folder", type=Path)
    pack.add_argument("out", type=Path)
    pack.set_defaults(run=_pack)
    unpack = commands.add_parser(
        "unpack", help="write each section of a .pai file into a folder"
    )
    unpack.add_argument("file", type=Path)
    unpack.add_argument("folder", type=Path)
    unpack.set_defaults(run=_unpack)
    keygen = commands.add_parser(
        "keygen", help="make an Ed25519 private key (PEM) for signing your agents"
    )
    keygen.add_argument("key", type=Path)
    keygen.set_defaults(run=_keygen)
    sign = commands.add_parser(
        "sign", help="write a signed copy of a .pai file (Ed25519, signature.json)"
    )
    sign.add_argument("file", type=Path)
    sign.add_argument("key", type=Path)
    sign.add_argument("out", type=Path)
    sign.set_defaults(run=_sign)
    return parser


def _refuse(message: str) -> int:
    line = " ".join(message.split())
    sys.stderr.write(f"error: {line}\n")
    return 1


def _say(text: str) -> None:
    sys.stdout.write(f"{text}\n")


def _warn(problems: Sequence[str]) -> None:
    for problem in problems:
        sys.stderr.write(f"warning: {problem}\n")


def _info(args: argparse.Namespace) -> int:
    with PaiReader(args.file) as reader:
        report: dict[str, Any] = {
            "file": str(args.file),
            "version": reader.version,
            "flags": reader.flags,
            "created_at": reader.created_at,
            "n_sections": len(reader.sections),
            "manifest": reader.read_json("manifest.json")
            if "manifest.json" in reader
            else None,
            "sections": [
                {
                    "name": info.name,
                    "type": info.stype.name.lower(),
                    "compressed": info.compressed,
                    "size": info.size,
                    "raw_size": info.raw_size,
                    "sha256": info.sha256.hex(),
                }
                for info in reader.sections
            ],
        }
    _say(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


def _verify(args: argparse.Namespace) -> int:
    with PaiReader(args.file) as reader:
        reader.verify()
        definition = load_agent_definition(reader)
        count = len(reader.sections)
        signer = read_signer(reader)
    _warn(definition.problems)
    _say(f"OK {count} sections, " + (f"signed by {signer}" if signer else "unsigned"))
    return 0


def _keygen(args: argparse.Namespace) -> int:
    key: Path = args.key
    if key.exists():
        raise CliError(f"{key} exists; choose a new file for the key")
    descriptor = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(descriptor, "wb") as out:
        out.write(new_private_key_pem())
    _say(f"wrote a new private key to {key}; keep it secret")
    return 0


def _sign(args: argparse.Namespace) -> int:
    try:
        private_key = load_private_key(Path(args.key).read_bytes())
    except (ValueError, TypeError) as err:
        raise CliError(f"{args.key} is not an Ed25519 private key: {err}") from None
    with PaiReader(args.file) as reader, tempfile.TemporaryDirectory() as temp:
        reader.verify()
        load_agent_definition(reader)  # sign only an agent that loads
        sources = []
        for index, info in enumerate(reader.sections):
            if info.name == SIGNATURE_SECTION:
                continue  # signing again replaces an earlier signature
            part = Path(temp) / str(index)
            reader.extract(info.name, part)
            sources.append(SectionSource(info.name, info.stype, path=part))
        sources.append(signature_section(reader.sections, private_key))
        write_pai(args.out, sources, created_at=reader.created_at)
    with PaiReader(args.out) as signed:
        signer = read_signer(signed)
    _say(f"signed {args.out} as {signer}")
    return 0


def _pack(args: argparse.Namespace) -> int:
    folder: Path = args.folder
    if not folder.is_dir():
        raise CliError(f"{folder} is not a folder")
    out = Path(args.out).resolve()
    files = {name: path for name, path in _section_files(folder) if path != out}
    decoded: dict[str, Any] = {}
    for name in JSON_SECTIONS:
        if name in files:
            decoded[name] = _load_json_file(name, files[name])
    definition = AgentDefinition.from_sections(decoded)
    order = {name: index for index, name in enumerate(_CANONICAL_ORDER)}
    names = sorted(files, key=lambda name: (order.get(name, len(order)), name))
    sources = [
        SectionSource(name, _section_type(name), path=files[name]) for name in names
    ]
    manifest = decoded.get(MANIFEST)
    if isinstance(manifest, dict) and not {"pai_format", "kind"} <= manifest.keys():
        filled = {"pai_format": SUPPORTED_PAI_FORMAT, "kind": AGENT_KIND, **manifest}
        sources[names.index(MANIFEST)] = json_section(MANIFEST, filled)
    write_pai(args.out, sources)
    _warn(definition.problems)
    _say(f"packed {len(sources)} sections into {args.out}")
    return 0


def _section_files(folder: Path) -> Iterator[tuple[str, Path]]:
    """(section name, file) for every file under `folder`, refusing escapes and odd files."""
    root = folder.resolve()
    seen: set[Path] = set()
    for current, dirs, files in os.walk(root, followlinks=True):
        here = Path(current)
        real = here.resolve()
        if not real.is_relative_to(root):
            raise CliError(f"{here} leads outside {folder} (symlink)")
        if real in seen:  # a symlink back into the tree: already packed
            dirs.clear()
            continue
        seen.add(real)
        dirs.sort()
        for file_name in sorted(files):
            path = here / file_name
            target = path.resolve()
            if not target.is_relative_to(root):
                raise CliError(f"{path} leads outside {folder} (symlink)")
            if not target.is_file():
                raise CliError(f"{path} is not a regular file")
            name = path.relative_to(root).as_posix()
            check_section_name(name)
            yield name, target


def _load_json_file(name: str, path: Path) -> Any:
    try:
        return loads_json(path.read_bytes())
    except (ValueError, RecursionError) as err:
        raise CliError(
            f"{name} is not valid JSON: {err or 'nested too deeply'}"
        ) from None


def _section_type(name: str) -> SectionType:
    return _TYPE_BY_SUFFIX.get(Path(name).suffix.lower(), SectionType.BINARY)


def _unpack(args: argparse.Namespace) -> int:
    folder: Path = args.folder
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()
    with PaiReader(args.file) as reader:
        for info in reader.sections:
            check_section_name(info.name)
            target = root.joinpath(*info.name.split("/"))
            # Resolve before creating anything: a symlinked folder inside DIR could lead out.
            if not target.parent.resolve().is_relative_to(root):
                raise CliError(
                    f"section {info.name!r} would be written outside {folder}"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink() or (target.exists() and not target.is_file()):
                raise CliError(f"{target} exists and is not a regular file")
            reader.extract(info.name, target)
        count = len(reader.sections)
    _say(f"unpacked {count} sections into {folder}")
    return 0
