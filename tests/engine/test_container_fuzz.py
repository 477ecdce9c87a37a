"""Mutation fuzzing of the .pai reader: damaged files are read cleanly or refused, nothing else.

Deterministic (seeded), in memory (BytesIO), and quick. Any exception other than
PaiFormatError fails with the iteration and the mutation, so a failure can be replayed.
"""

from __future__ import annotations

from collections import Counter
import io
import os
from pathlib import Path
import random
import resource
import struct

import orjson

from custom_components.pai.engine.container import (
    PaiFormatError,
    PaiReader,
    SectionSource,
    SectionType,
    json_section,
    write_pai,
)

ITERATIONS = 50_000
SEED = 0x9A1F11E

# Offsets of a table entry's fields after its name, and their struct formats.
FIELDS = {"stype": (0, "<I"), "compressed": (4, "<B"), "offset": (5, "<Q")}
FIELDS |= {"size": (13, "<Q"), "raw_size": (21, "<Q"), "name_len": (-2, "<H")}
HEADER_FIELDS = {"version": (4, "<I"), "count": (8, "<I"), "flags": (12, "<I")}


def base_file(tmp_path: Path) -> bytes:
    weights = tmp_path / "w.gguf"
    weights.write_bytes(b"GGUF" + random.Random(1).randbytes(3000))  # noqa: S311
    path = tmp_path / "base.pai"
    write_pai(
        path,
        [
            json_section(
                "manifest.json", {"name": "fuzz", "version": "1", "kind": "x"}
            ),
            json_section(
                "rules.json", [{"name": "r", "when": {}, "intent": {"level": 1}}]
            ),
            SectionSource("notes.txt", SectionType.TEXT, data=b"hello " * 40),
            SectionSource("empty.bin", SectionType.BINARY, data=b""),
            SectionSource("weights.gguf", SectionType.GGUF, path=weights),
            SectionSource(
                "adapters/active.gguf", SectionType.GGUF, data=b"GGUF\x00\x01"
            ),
        ],
        created_at=1_700_000_000,
    )
    return path.read_bytes()


def entry_starts(blob: bytes) -> list[int]:
    """Where each table entry's fixed fields start (just after its name)."""
    starts, position = [], 32
    for _ in range(struct.unpack_from("<I", blob, 8)[0]):
        (name_len,) = struct.unpack_from("<H", blob, position)
        starts.append(position + 2 + name_len)
        position += 2 + name_len + 61
    return starts


def interesting(rng: random.Random, blob: bytes) -> int:
    return rng.choice(
        [0, 1, 2, 5, 32, 63, 64, 65, 128, 255, 256, 2**16 - 1, 2**31, 2**32 - 1, 2**32,
         2**63, 2**64 - 1, len(blob), len(blob) - 1, len(blob) + 64, rng.randrange(2**16),
         rng.randrange(len(blob) + 1)]
    )  # fmt: skip


def put(blob: bytearray, position: int, fmt: str, value: int) -> None:
    size = struct.calcsize(fmt)
    value &= (1 << (8 * size)) - 1
    blob[position : position + size] = struct.pack(fmt, value)


def mutate(
    rng: random.Random, base: bytes, starts: list[int], table_end: int
) -> tuple[bytes, str]:
    blob = bytearray(base)
    kind = rng.choice(
        ["flip", "flip-table", "bytes", "bytes-table", "truncate", "field", "field", "header",
         "shift", "junk"]
    )  # fmt: skip
    if kind in {"flip", "flip-table"}:
        end = table_end if kind == "flip-table" else len(blob)
        for _ in range(rng.randint(1, 8)):
            blob[rng.randrange(end)] ^= 1 << rng.randrange(8)
    elif kind in {"bytes", "bytes-table"}:
        end = table_end if kind == "bytes-table" else len(blob)
        for _ in range(rng.randint(1, 4)):
            blob[rng.randrange(end)] = rng.choice(
                [0, 0xFF, 0x7F, 0x80, rng.randrange(256)]
            )
    elif kind == "truncate":
        del blob[rng.randrange(len(blob)) :]
    elif kind == "field":
        for _ in range(rng.randint(1, 2)):
            start = rng.choice(starts)
            name, (delta, fmt) = rng.choice(list(FIELDS.items()))
            current = struct.unpack_from(fmt, blob, start + delta)[0]
            value = rng.choice(
                [interesting(rng, base), current + rng.choice([-64, -1, 1, 64])]
            )
            put(blob, start + delta, fmt, value)
            kind += f":{name}"
    elif kind == "header":
        name, (position, fmt) = rng.choice(list(HEADER_FIELDS.items()))
        put(blob, position, fmt, rng.choice([interesting(rng, base), rng.randrange(8)]))
        kind += f":{name}"
    elif kind == "shift":
        at = rng.randrange(len(blob))
        blob[at:at] = bytes(rng.randint(1, 80))
    else:
        blob = bytearray(base[:32] + rng.randbytes(rng.randrange(400)))
    return bytes(blob), kind


def read_everything(blob: bytes, extract_to: Path | None) -> None:
    with PaiReader(io.BytesIO(blob)) as reader:
        reader.verify()
        for info in reader.sections:
            reader.read(info.name)
            if info.stype is SectionType.JSON:
                reader.read_json(info.name)
            if extract_to is not None:
                reader.extract(
                    info.name, extract_to / f"{len(os.listdir(extract_to))}.out"
                )


def test_mutated_files_are_read_cleanly_or_refused(tmp_path: Path) -> None:
    base = base_file(tmp_path)
    read_everything(base, None)
    starts = entry_starts(base)
    table_end = starts[-1] + 61
    rng = random.Random(SEED)  # noqa: S311  # reproducible, not secret
    outcomes: Counter[str] = Counter()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    for iteration in range(ITERATIONS):
        blob, kind = mutate(rng, base, starts, table_end)
        extract_to = out_dir if iteration % 400 == 0 else None
        try:
            read_everything(blob, extract_to)
        except PaiFormatError as error:
            message = str(error)
            assert message, (iteration, kind)
            assert "\n" not in message, (iteration, kind, message)
            outcomes[type(error).__name__] += 1
        except Exception as error:  # the point: nothing else may escape
            raise AssertionError(
                f"iteration {iteration} ({kind}) leaked {error!r}"
            ) from error
        else:
            outcomes["read cleanly"] += 1
        if extract_to is not None:
            assert not [name for name in os.listdir(out_dir) if name.endswith(".tmp")]

    growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert growth_kib < 64 * 1024, f"peak RSS grew by {growth_kib} KiB"
    assert sum(outcomes.values()) == ITERATIONS
    assert outcomes["read cleanly"] > 100  # some mutations hit padding or are benign
    refusal_kinds = set(outcomes) - {"read cleanly"}
    assert len(refusal_kinds) >= 10, outcomes


def test_random_junk_after_a_valid_header_is_refused() -> None:
    rng = random.Random(SEED + 1)  # noqa: S311
    header = b"PAI\x01" + struct.pack("<IIIQ", 1, 3, 1, 0) + bytes(8)
    assert all(
        _refused(header + rng.randbytes(rng.randrange(600))) for _ in range(2000)
    )


def _refused(blob: bytes) -> bool:
    try:
        read_everything(blob, None)
    except PaiFormatError:
        return True
    return False


# -- JSON values Home Assistant's storage cannot keep ------------------------------------

JSON_ITERATIONS = 1_500

HOSTILE: dict[str, list[bytes]] = {
    "lone surrogate": [b'"\\ud800"', b'"a\\udfffb"', b'"\\udc00\\ud800"'],
    "not finite": [b"1e400", b"-1e400", b"1E999", b"123456789e301"],
    "beyond 64 bits": [
        b"18446744073709551616",
        b"-9223372036854775809",
        b"1" + b"0" * 309,
        b"-" + b"9" * 30,
    ],
    "too deep": [b"[" * 40 + b"]" * 40, b'{"a":' * 33 + b"0" + b"}" * 33],
}
BENIGN = [
    b"0", b"-0", b"1.5", b"-1e-300", b"1.7976931348623157e308", b"18446744073709551615",
    b"-9223372036854775808", b"true", b"null", b'""', b'"\\ud83d\\ude00"', b'"\\u00e9"',
    "\"廚房\"".encode(), b"[]", b"{}",
]  # fmt: skip


def random_document(rng: random.Random, hostile: bytes | None) -> bytes:
    """A random JSON document a few levels deep; `hostile` placed somewhere inside it."""

    def value(depth: int) -> bytes:
        if depth >= 4 or rng.random() < 0.4:
            return rng.choice(BENIGN)
        items = [value(depth + 1) for _ in range(rng.randrange(4))]
        if rng.random() < 0.5:
            return b"[" + b",".join(items) + b"]"
        pairs = [b'"k%d":%s' % (index, item) for index, item in enumerate(items)]
        return b"{" + b",".join(pairs) + b"}"

    document = value(0)
    if hostile is None:
        return document
    depth = rng.randrange(3)
    return b"[" * depth + b'{"x":' + document + b',"y":' + hostile + b"}" + b"]" * depth


def test_json_that_home_assistant_could_not_store_is_refused(tmp_path: Path) -> None:
    rng = random.Random(SEED + 2)  # noqa: S311
    refused: Counter[str] = Counter()
    accepted = 0
    path = tmp_path / "f.pai"
    for iteration in range(JSON_ITERATIONS):
        kind = rng.choice([None, *HOSTILE])
        hostile = None if kind is None else rng.choice(HOSTILE[kind])
        document = random_document(rng, hostile)
        write_pai(path, [SectionSource("policy.json", SectionType.JSON, data=document)])
        problem = None
        with PaiReader(path) as reader:
            try:
                value = reader.read_json("policy.json")
            except PaiFormatError as error:
                problem = str(error)
        if problem is not None:
            assert kind is not None, (iteration, document[:200], problem)
            assert "\n" not in problem
            assert problem.startswith("section 'policy.json' is not valid JSON")
            refused[kind] += 1
            continue
        assert kind is None, (iteration, kind, document[:200])
        # What is read is exactly what Home Assistant's JSON (orjson) writes and reads back.
        assert orjson.loads(orjson.dumps(value)) == value, iteration
        accepted += 1
    assert set(refused) == set(HOSTILE), refused
    assert accepted > JSON_ITERATIONS // 10
