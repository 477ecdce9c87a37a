"""The .pai container: round trips, streaming extraction, and every way a hostile file is refused."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
import re
import struct
import tracemalloc
from typing import Any
import zlib

import pytest

from custom_components.pai.engine.container import (
    ALIGNMENT,
    BadMagicError,
    ChecksumError,
    DecompressionError,
    DuplicateSectionError,
    InvalidJsonError,
    Limits,
    MissingSectionError,
    PaiFormatError,
    PaiReader,
    SectionBoundsError,
    SectionSource,
    SectionTableError,
    SectionTooLargeError,
    SectionType,
    TooManySectionsError,
    TruncatedError,
    UnsafeSectionNameError,
    UnsupportedFlagsError,
    UnsupportedVersionError,
    check_json_value,
    json_section,
    loads_json,
    write_pai,
)

MANIFEST = {"name": "porch-light", "version": "1.0", "author": "me", "kind": "x"}

# -- building files by hand ------------------------------------------------------------

type RawSection = tuple[bytes, int, int, bytes, int, bytes]
# (name bytes, stype, compressed flag, stored bytes, raw_size, sha256)


def raw_section(
    name: str | bytes,
    content: bytes,
    *,
    stype: int = SectionType.BINARY,
    compress: bool = False,
) -> RawSection:
    encoded = name.encode() if isinstance(name, str) else name
    stored = zlib.compress(content) if compress else content
    return (
        encoded,
        stype,
        int(compress),
        stored,
        len(content),
        hashlib.sha256(content).digest(),
    )


def build_pai(
    sections: list[RawSection],
    *,
    magic: bytes = b"PAI\x01",
    version: int = 1,
    flags: int = 1,
    count: int | None = None,
    reserved: bytes = bytes(8),
) -> bytes:
    """A .pai file laid out like paigent's, from explicit (possibly hostile) fields."""
    table_len = sum(2 + len(name) + 4 + 1 + 24 + 32 for name, *_ in sections)
    cursor = 32 + table_len
    table, data = b"", b""
    for name, stype, compressed, stored, raw_size, sha in sections:
        offset = -(-cursor // ALIGNMENT) * ALIGNMENT
        data += bytes(offset - cursor) + stored
        table += struct.pack("<H", len(name)) + name
        table += struct.pack("<IBQQQ", stype, compressed, offset, len(stored), raw_size)
        table += sha
        cursor = offset + len(stored)
    count = len(sections) if count is None else count
    header = magic + struct.pack("<IIIQ", version, count, flags, 1_700_000_000)
    return header + reserved + table + data


FIELDS = {"stype": (0, "<I"), "compressed": (4, "<B"), "offset": (5, "<Q")}
FIELDS |= {"size": (13, "<Q"), "raw_size": (21, "<Q"), "sha256": (29, "32s")}


def field_position(blob: bytes, index: int, field: str) -> int:
    """Where a table entry's field sits in a well-formed file."""
    position = 32
    for _ in range(index):
        (name_len,) = struct.unpack_from("<H", blob, position)
        position += 2 + name_len + 61
    name_len = int(struct.unpack_from("<H", blob, position)[0])
    return position + 2 + name_len + FIELDS[field][0]


def patch(blob: bytes, index: int, field: str, value: int | bytes) -> bytes:
    position = field_position(blob, index, field)
    packed = struct.pack(FIELDS[field][1], value)
    return blob[:position] + packed + blob[position + len(packed) :]


def entry(blob: bytes, index: int, field: str) -> int:
    return int(
        struct.unpack_from(FIELDS[field][1], blob, field_position(blob, index, field))[
            0
        ]
    )


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def read_everything(blob: bytes, limits: Limits | None = None) -> None:
    with PaiReader(io.BytesIO(blob), limits=limits) as reader:
        reader.verify()
        for info in reader.sections:
            reader.read(info.name)


def refusal(blob: bytes, *, limits: Limits | None = None) -> PaiFormatError:
    """Open, verify and read every section; return the refusal (fail if there is none)."""
    with pytest.raises(PaiFormatError) as caught:
        read_everything(blob, limits)
    message = str(caught.value)
    assert "\n" not in message
    assert message
    return caught.value


GOOD = build_pai(
    [
        raw_section(
            "manifest.json", json.dumps(MANIFEST).encode(), stype=0, compress=True
        ),
        raw_section("weights.gguf", b"GGUF" + bytes(range(256)) * 8, stype=4),
    ]
)


# -- round trips -------------------------------------------------------------------------


def test_good_hand_built_file_reads_back() -> None:
    with PaiReader(io.BytesIO(GOOD)) as reader:
        reader.verify()
        assert reader.read_json("manifest.json") == MANIFEST
        assert reader.read("weights.gguf").startswith(b"GGUF")
        assert reader.created_at == 1_700_000_000


@pytest.mark.parametrize("compress", [True, False])
def test_round_trip_keeps_every_section(tmp_path: Path, compress: bool) -> None:
    blob = os.urandom(3000)
    sections = [
        json_section("manifest.json", MANIFEST | {"description": "燈 ☀"}),
        SectionSource("notes.txt", SectionType.TEXT, data=b"turn it on\n" * 100),
        SectionSource("blob.bin", SectionType.BINARY, data=blob),
        SectionSource("empty.bin", SectionType.BINARY, data=b""),
        SectionSource("empty.txt", SectionType.TEXT, data=b""),
        SectionSource("memory.db", SectionType.SQLITE, data=b"SQLite format 3\x00"),
        SectionSource("adapters/active.gguf", SectionType.GGUF, data=b"GGUF-lora"),
    ]
    path = tmp_path / "agent.pai"
    write_pai(path, sections, compress=compress, created_at=1234)

    with PaiReader(path) as reader:
        reader.verify()
        assert [info.name for info in reader.sections] == [s.name for s in sections]
        assert (reader.version, reader.flags, reader.created_at) == (
            1,
            int(compress),
            1234,
        )
        for source in sections:
            assert reader.read(source.name) == source.data
            info = reader.section(source.name)
            assert info.offset % ALIGNMENT == 0
            assert info.sha256_hex == hashlib.sha256(source.data or b"").hexdigest()
            assert info.compressed == (
                compress and source.stype in {SectionType.JSON, SectionType.TEXT}
            )
        assert reader.read_json("manifest.json")["description"] == "燈 ☀"
        assert reader.section("blob.bin").stype is SectionType.BINARY
        assert "blob.bin" in reader
        assert "nothing.bin" not in reader
    assert [p.name for p in tmp_path.iterdir()] == ["agent.pai"]


def test_json_section_serialises_like_paigent() -> None:
    source = json_section("policy.json", {"level": 1, "name": "燈"})
    assert source.data == b'{\n  "level": 1,\n  "name": "\xe7\x87\x88"\n}'
    with pytest.raises(InvalidJsonError, match="the number nan is not finite"):
        json_section("policy.json", {"threshold": float("nan")})


def test_created_at_defaults_to_now(tmp_path: Path) -> None:
    write_pai(tmp_path / "a.pai", [json_section("manifest.json", {})])
    with PaiReader(tmp_path / "a.pai") as reader:
        assert reader.created_at > 1_700_000_000


def test_large_weights_stream_from_path_and_extract_with_hash(tmp_path: Path) -> None:
    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"GGUF" + os.urandom(5 * 1024 * 1024))
    expected = hashlib.sha256(weights.read_bytes()).hexdigest()
    pai = tmp_path / "agent.pai"
    write_pai(
        pai,
        [
            json_section("manifest.json", MANIFEST),
            SectionSource("weights.gguf", SectionType.GGUF, path=weights),
        ],
    )

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with PaiReader(pai) as reader:
        info = reader.section("weights.gguf")
        assert (info.compressed, info.size) == (False, weights.stat().st_size)
        assert info.sha256_hex == expected
        reader.verify()
        assert reader.extract("weights.gguf", out_dir / "w.gguf") == expected
        assert reader.extract("manifest.json", out_dir / "m.json") == sha256_hex(
            json.dumps(MANIFEST, indent=2).encode()
        )
    assert (out_dir / "w.gguf").read_bytes() == weights.read_bytes()
    assert sorted(p.name for p in out_dir.iterdir()) == ["m.json", "w.gguf"]


def test_text_from_path_is_compressed_while_streaming(tmp_path: Path) -> None:
    text = tmp_path / "prompt.txt"
    text.write_bytes(b"You are a careful assistant.\n" * 5000)
    write_pai(
        tmp_path / "a.pai",
        [
            SectionSource("prompt.txt", SectionType.TEXT, path=text),
            SectionSource("copy.bin", SectionType.BINARY, path=text),
        ],
    )
    with PaiReader(tmp_path / "a.pai") as reader:
        info = reader.section("prompt.txt")
        assert info.compressed
        assert info.size < info.raw_size // 10
        assert reader.read("prompt.txt") == text.read_bytes()
        assert not reader.section("copy.bin").compressed
        assert reader.read("copy.bin") == text.read_bytes()


def test_empty_file_source(tmp_path: Path) -> None:
    (tmp_path / "empty.gguf").write_bytes(b"")
    write_pai(
        tmp_path / "a.pai",
        [SectionSource("weights.gguf", SectionType.GGUF, path=tmp_path / "empty.gguf")],
    )
    with PaiReader(tmp_path / "a.pai") as reader:
        assert reader.read("weights.gguf") == b""
        assert reader.extract("weights.gguf", tmp_path / "x") == sha256_hex(b"")


def test_reader_accepts_an_open_file_and_leaves_it_open(tmp_path: Path) -> None:
    (tmp_path / "a.pai").write_bytes(GOOD)
    with (tmp_path / "a.pai").open("rb") as handle:
        with PaiReader(handle) as reader:
            reader.verify()
        assert not handle.closed


def test_reader_closes_the_file_it_opened_even_when_refusing(tmp_path: Path) -> None:
    (tmp_path / "bad.pai").write_bytes(b"GGUF" + bytes(60))
    (tmp_path / "good.pai").write_bytes(GOOD)
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(BadMagicError):
        PaiReader(tmp_path / "bad.pai")
    reader = PaiReader(str(tmp_path / "good.pai"))
    reader.close()
    reader.close()
    assert len(os.listdir("/proc/self/fd")) == before


def test_missing_section_is_named() -> None:
    with (
        PaiReader(io.BytesIO(GOOD)) as reader,
        pytest.raises(MissingSectionError, match=r"no section named 'brain\.json'"),
    ):
        reader.read("brain.json")


# -- writer refusals ---------------------------------------------------------------------


def test_writer_refuses_unsafe_and_duplicate_names(tmp_path: Path) -> None:
    target = tmp_path / "a.pai"
    with pytest.raises(UnsafeSectionNameError, match=r"'\.\./x'"):
        write_pai(target, [SectionSource("../x", SectionType.BINARY, data=b"")])
    with pytest.raises(DuplicateSectionError, match=r"'a\.json' is given twice"):
        write_pai(target, [json_section("a.json", 1), json_section("a.json", 2)])
    with pytest.raises(TooManySectionsError):
        write_pai(target, [json_section(f"{i}.json", i) for i in range(65)])
    with pytest.raises(UnsafeSectionNameError, match="256 bytes; the limit is 255"):
        write_pai(target, [json_section("é" * 128, {})])
    assert list(tmp_path.iterdir()) == []


def test_section_source_needs_exactly_one_origin(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one of data and path"):
        SectionSource("a.bin", SectionType.BINARY)
    with pytest.raises(ValueError, match="exactly one of data and path"):
        SectionSource("a.bin", SectionType.BINARY, data=b"", path=tmp_path)
    with pytest.raises(ValueError, match="9 is not a valid SectionType"):
        SectionSource("a.bin", 9, data=b"")  # type: ignore[arg-type]


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a.pai"
    target.write_bytes(b"old")
    missing = tmp_path / "missing.gguf"
    with pytest.raises(FileNotFoundError):
        write_pai(
            target,
            [
                json_section("manifest.json", {}),
                SectionSource("weights.gguf", SectionType.GGUF, path=missing),
            ],
        )
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.pai"]


# -- header refusals ---------------------------------------------------------------------


def test_refuses_a_file_that_is_not_pai() -> None:
    error = refusal(b"GGUF" + bytes(200))
    assert isinstance(error, BadMagicError)
    assert "not a .pai file" in str(error)


@pytest.mark.parametrize("version", [0, 2, 2**32 - 1])
def test_refuses_unknown_versions(version: int) -> None:
    error = refusal(build_pai([], version=version))
    assert isinstance(error, UnsupportedVersionError)
    assert f"version {version}" in str(error)


@pytest.mark.parametrize("flags", [2, 4, 3, 0x80000000])
def test_refuses_unknown_flag_bits(flags: int) -> None:
    assert isinstance(refusal(build_pai([], flags=flags)), UnsupportedFlagsError)


def test_refuses_nonzero_reserved_bytes() -> None:
    error = refusal(build_pai([], reserved=b"\x00" * 7 + b"\x01"))
    assert isinstance(error, UnsupportedFlagsError)
    assert "reserved" in str(error)


@pytest.mark.parametrize("length", [0, 1, 4, 20, 31])
def test_refuses_a_truncated_header(length: int) -> None:
    error = refusal(GOOD[:length])
    assert isinstance(error, TruncatedError)
    assert "too short for the 32-byte header" in str(error)


@pytest.mark.parametrize("length", [33, 34, 40, 60, 100, 140])
def test_refuses_a_truncated_table(length: int) -> None:
    error = refusal(GOOD[:length])
    assert isinstance(error, TruncatedError)
    assert "runs past the end of the file" in str(error)


def test_refuses_a_table_longer_than_declared_count_allows() -> None:
    error = refusal(build_pai([raw_section("a.bin", b"x")], count=2))
    assert isinstance(error, TruncatedError | SectionBoundsError)


def test_refuses_too_many_sections() -> None:
    blob = build_pai([raw_section(f"s{i}", b"") for i in range(65)])
    error = refusal(blob)
    assert isinstance(error, TooManySectionsError)
    assert "65 sections; the limit is 64" in str(error)
    assert isinstance(refusal(build_pai([], count=2**32 - 1)), TooManySectionsError)
    with PaiReader(io.BytesIO(blob), limits=Limits(max_sections=65)) as reader:
        assert len(reader.sections) == 65


# -- table refusals ----------------------------------------------------------------------


def test_refuses_a_section_past_the_end_of_the_file() -> None:
    error = refusal(patch(GOOD, 1, "offset", 2**40))
    assert isinstance(error, SectionBoundsError)
    assert "'weights.gguf'" in str(error)
    assert "past the end of the file" in str(error)
    error = refusal(patch(GOOD, 1, "size", entry(GOOD, 1, "size") + 1))
    assert isinstance(error, SectionTableError | SectionBoundsError)
    blob = patch(GOOD, 1, "size", 2**64 - 1)
    assert isinstance(
        refusal(patch(blob, 1, "raw_size", 2**64 - 1)), SectionBoundsError
    )


def test_refuses_a_misaligned_offset() -> None:
    error = refusal(patch(GOOD, 1, "offset", entry(GOOD, 1, "offset") + 1))
    assert isinstance(error, SectionBoundsError)
    assert "'weights.gguf': offset" in str(error)
    assert "not 64-byte aligned" in str(error)


def test_refuses_a_section_inside_the_header_or_table() -> None:
    error = refusal(patch(GOOD, 0, "offset", 0))
    assert isinstance(error, SectionBoundsError)
    assert "inside the header and section table" in str(error)


def test_refuses_overlapping_sections() -> None:
    blob = patch(GOOD, 1, "offset", entry(GOOD, 0, "offset"))
    error = refusal(blob)
    assert isinstance(error, SectionBoundsError)
    assert "overlaps section" in str(error)


def test_empty_sections_may_share_an_offset() -> None:
    blob = build_pai(
        [raw_section("a", b""), raw_section("b", b""), raw_section("c", b"x")]
    )
    with PaiReader(io.BytesIO(blob)) as reader:
        reader.verify()
        assert reader.section("a").offset == reader.section("b").offset


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("../../x", "'..' component"),
        ("a/../../x", "'..' component"),
        ("./a", "'.' or '..' component"),
        ("/etc/passwd", "absolute path"),
        ("C:/windows", "absolute path"),
        ("a\\b", "backslash"),
        ("a//b", "empty"),
        ("a/", "empty"),
        ("", "the name is empty"),
        ("a\x00b", "control"),
        ("line\nbreak", "control"),
        ("evil\u202egnp.exe", "invisible"),
        ("x" * 256, "256 bytes; the limit is 255"),
    ],
)
def test_refuses_unsafe_section_names(name: str, problem: str) -> None:
    error = refusal(build_pai([raw_section(name, b"data")]))
    assert isinstance(error, UnsafeSectionNameError)
    assert problem in str(error)


def test_accepts_nested_and_unicode_names() -> None:
    blob = build_pai(
        [raw_section("adapters/active.gguf", b"GGUF"), raw_section("記憶.db", b"")]
    )
    with PaiReader(io.BytesIO(blob)) as reader:
        assert reader.read("adapters/active.gguf") == b"GGUF"


def test_refuses_a_name_that_is_not_utf8() -> None:
    error = refusal(build_pai([raw_section(b"caf\xe9.json", b"{}")]))
    assert isinstance(error, UnsafeSectionNameError)
    assert "not valid UTF-8" in str(error)
    assert "caf\\xe9" in str(error)


def test_refuses_a_name_length_beyond_the_limit_before_reading_it() -> None:
    blob = GOOD[:32] + struct.pack("<H", 60000) + bytes(100)
    error = refusal(blob)
    assert isinstance(error, UnsafeSectionNameError)
    assert "60000 bytes" in str(error)


def test_refuses_duplicate_names() -> None:
    blob = build_pai(
        [raw_section("policy.json", b"{}"), raw_section("policy.json", b"[]")]
    )
    error = refusal(blob)
    assert isinstance(error, DuplicateSectionError)
    assert "'policy.json' appears twice" in str(error)


def test_refuses_an_unknown_section_type() -> None:
    error = refusal(patch(GOOD, 1, "stype", 5))
    assert isinstance(error, SectionTableError)
    assert "'weights.gguf': unknown section type 5" in str(error)


@pytest.mark.parametrize("flag", [2, 255])
def test_refuses_a_compressed_flag_other_than_0_or_1(flag: int) -> None:
    error = refusal(patch(GOOD, 0, "compressed", flag))
    assert isinstance(error, SectionTableError)
    assert f"compressed flag is {flag}" in str(error)


def test_refuses_an_uncompressed_section_whose_sizes_disagree() -> None:
    error = refusal(patch(GOOD, 1, "raw_size", 5))
    assert isinstance(error, SectionTableError)
    assert "differs from raw size" in str(error)


def test_refuses_sections_whose_total_raw_size_exceeds_the_limit() -> None:
    blob = patch(GOOD, 0, "raw_size", 2**63)
    error = refusal(blob, limits=Limits(max_inflate_ratio=2**64))
    assert isinstance(error, SectionTooLargeError)
    assert "once decompressed" in str(error)
    # With the default limits the ratio is refused first, for the section itself.
    assert "more than 8 times as many" in str(refusal(blob))


# -- content refusals --------------------------------------------------------------------


def test_refuses_a_checksum_mismatch_on_read_verify_and_extract(tmp_path: Path) -> None:
    last = len(GOOD) - 1
    blob = GOOD[:last] + bytes([GOOD[last] ^ 1])
    error = refusal(blob)
    assert isinstance(error, ChecksumError)
    assert "'weights.gguf': SHA-256 checksum mismatch" in str(error)
    with PaiReader(io.BytesIO(blob)) as reader:
        with pytest.raises(ChecksumError):
            reader.extract("weights.gguf", tmp_path / "w.gguf")
        with pytest.raises(ChecksumError):
            reader.read("weights.gguf")
        assert reader.read_json("manifest.json") == MANIFEST
    assert list(tmp_path.iterdir()) == []


def test_streams_sections_spanning_many_buffers(tmp_path: Path) -> None:
    weights = tmp_path / "w.gguf"
    weights.write_bytes(b"GGUF" + os.urandom(16 * 1024 * 1024 - 4))  # 4 whole buffers
    write_pai(
        tmp_path / "a.pai",
        [SectionSource("weights.gguf", SectionType.GGUF, path=weights)],
    )
    with PaiReader(tmp_path / "a.pai") as reader:
        reader.verify()
        digest = reader.extract("weights.gguf", tmp_path / "out.gguf")
    assert digest == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert (tmp_path / "out.gguf").read_bytes() == weights.read_bytes()


class ShrunkFile(io.BytesIO):
    """A file that lost its tail after its size was taken (changed on disk while read)."""

    def __init__(self, data: bytes, claimed: int) -> None:
        super().__init__(data)
        self.claimed = claimed

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        if whence == os.SEEK_END:
            return self.claimed
        return super().seek(offset, whence)


def test_refuses_a_file_that_shrinks_while_it_is_read() -> None:
    with pytest.raises(TruncatedError, match="ends inside its header"):
        PaiReader(ShrunkFile(GOOD[:20], len(GOOD)))
    with pytest.raises(TruncatedError, match="entry 1 runs past the end"):
        PaiReader(ShrunkFile(GOOD[:150], len(GOOD)))
    blob = build_pai([raw_section("a.json", b"{}" * 100, stype=0, compress=True)])
    for cut, message in [(len(GOOD) - 8, "ends after"), (len(blob) - 4, "ends inside")]:
        source = GOOD if message == "ends after" else blob
        with (
            PaiReader(ShrunkFile(source[:cut], len(source))) as reader,
            pytest.raises(TruncatedError, match=message),
        ):
            reader.verify()


def test_refuses_a_checksum_mismatch_in_a_large_streamed_section(
    tmp_path: Path,
) -> None:
    weights = tmp_path / "w.gguf"
    weights.write_bytes(b"GGUF" + bytes(9 * 1024 * 1024))
    write_pai(
        tmp_path / "a.pai",
        [SectionSource("weights.gguf", SectionType.GGUF, path=weights)],
    )
    blob = bytearray((tmp_path / "a.pai").read_bytes())
    blob[-3] ^= 0xFF
    (tmp_path / "a.pai").write_bytes(blob)
    out = tmp_path / "out"
    out.mkdir()
    with PaiReader(tmp_path / "a.pai") as reader:
        with pytest.raises(ChecksumError):
            reader.verify()
        with pytest.raises(ChecksumError):
            reader.extract("weights.gguf", out / "w.gguf")
    assert list(out.iterdir()) == []


def test_refuses_a_zlib_bomb_without_inflating_it() -> None:
    bomb = zlib.compress(bytes(10 * 1024 * 1024), 9)
    section = (b"policy.json", 0, 1, bomb, 100, hashlib.sha256(bytes(100)).digest())
    blob = build_pai([section])
    tracemalloc.start()
    try:
        error = refusal(blob)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(error, DecompressionError)
    assert "'policy.json': inflates past its declared raw size of 100 bytes" in str(
        error
    )
    assert peak < 2 * 1024 * 1024


def test_refuses_zlib_data_that_inflates_short_of_its_raw_size() -> None:
    name, stype, _, stored, raw_size, sha = raw_section(
        "a.json", b"{}" * 50, compress=True
    )
    error = refusal(build_pai([(name, stype, 1, stored, raw_size + 1, sha)]))
    assert isinstance(error, DecompressionError)
    assert "inflates to 100 bytes, short of its declared raw size of 101" in str(error)


def test_refuses_corrupt_truncated_or_padded_zlib_data() -> None:
    content = os.urandom(5000)
    name, stype, _, stored, raw_size, sha = raw_section("a.bin", content, compress=True)
    corrupt = build_pai([(name, stype, 1, b"\x00" + stored[1:], raw_size, sha)])
    assert "corrupt zlib data" in str(refusal(corrupt))
    cut = build_pai([(name, stype, 1, stored[:-10], raw_size, sha)])
    assert "cut short" in str(refusal(cut))
    padded = build_pai([(name, stype, 1, stored + b"junk", raw_size, sha)])
    assert "follow the end of its zlib stream" in str(refusal(padded))
    empty = build_pai([(name, stype, 1, b"", raw_size, sha)])
    assert "cut short" in str(refusal(empty))


def test_refuses_a_large_section_that_inflates_more_than_eightfold() -> None:
    content = bytes(12 * 1024 * 1024)  # 12 MiB of zeros: about 12 KiB compressed
    blob = build_pai([raw_section("weights.gguf", content, stype=4, compress=True)])
    error = refusal(blob)
    assert isinstance(error, SectionTooLargeError)
    assert error.section == "weights.gguf"
    assert "more than 8 times as many (store large sections uncompressed)" in str(error)
    # Within the ratio, a large compressed section is fine.
    incompressible = os.urandom(9 * 1024 * 1024)
    ok = build_pai([raw_section("memory.db", incompressible, stype=2, compress=True)])
    read_everything(ok)


def test_inflates_large_compressed_sections_in_bounded_steps(tmp_path: Path) -> None:
    content = os.urandom(1024) * 12 * 1024  # 12 MiB raw, small when compressed
    blob = build_pai([raw_section("memory.db", content, stype=2, compress=True)])
    limits = Limits(max_inflate_ratio=2000)  # let this one through to inflate it
    with PaiReader(io.BytesIO(blob), limits=limits) as reader:
        reader.verify()
        assert reader.extract("memory.db", tmp_path / "m.db") == sha256_hex(content)
        assert reader.read("memory.db") == content
    bad = build_pai(
        [(b"memory.db", 2, 1, zlib.compress(content), len(content) - 1, bytes(32))]
    )
    assert isinstance(refusal(bad, limits=limits), DecompressionError)


def test_refuses_to_read_sections_beyond_the_read_limit(tmp_path: Path) -> None:
    limits = Limits(max_read_bytes=1000)
    with PaiReader(io.BytesIO(GOOD), limits=limits) as reader:
        with pytest.raises(
            SectionTooLargeError, match=r"'weights\.gguf' is 2052 bytes"
        ):
            reader.read("weights.gguf")
        assert (
            reader.extract("weights.gguf", tmp_path / "w")
            == reader.section("weights.gguf").sha256_hex
        )


def test_refuses_json_sections_beyond_the_json_limit() -> None:
    big = b'["' + b"a" * (8 * 1024 * 1024) + b'"]'
    blob = build_pai([raw_section("rules.json", big, stype=0)])
    with (
        PaiReader(io.BytesIO(blob)) as reader,
        pytest.raises(SectionTooLargeError, match="JSON sections are limited"),
    ):
        reader.read_json("rules.json")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{not json", "Expecting property name"),
        (b"", "Expecting value"),
        (b'{"a": 1} trailing', "Extra data"),
        (b'"caf\xe9"', "utf-8"),
        (b"\xef\xbb\xbf{}", "BOM"),
        (b'{"x": NaN}', "non-standard constant NaN"),
        (b"[" * 100_000 + b"]" * 100_000, "recursion|stack overflow"),
        (b"1" * 5000, "outside the 64-bit range"),
        # What Home Assistant's own JSON (orjson) cannot store: refused here, so no
        # value of a file can stop Home Assistant from saving its config entries.
        (b'{"name": "\\ud800"}', "lone surrogate"),
        (b'{"\\udfff": 1}', "lone surrogate"),
        (b"[" * 33 + b"]" * 33, "nesting deeper than 32 levels"),
        (b'{"a": ' * 33 + b"1" + b"}" * 33, "nesting deeper than 32 levels"),
        (b"[1e400]", "too large"),
        (b"[-1e400]", "too large"),
        (b"[1" + b"0" * 309 + b"]", "outside the 64-bit range"),
        (b"[18446744073709551616]", "outside the 64-bit range"),
        (b"[-9223372036854775809]", "outside the 64-bit range"),
    ],
    ids=[
        "garbage",
        "empty",
        "extra",
        "latin1",
        "bom",
        "nan",
        "deep",
        "huge-int",
        "surrogate",
        "surrogate-key",
        "depth-33-lists",
        "depth-33-objects",
        "inf",
        "minus-inf",
        "10^309",
        "2^64",
        "below-int64",
    ],
)
def test_refuses_invalid_json(content: bytes, problem: str) -> None:
    blob = build_pai([raw_section("policy.json", content, stype=0, compress=True)])
    with PaiReader(io.BytesIO(blob)) as reader:
        reader.verify()
        with pytest.raises(InvalidJsonError) as caught:
            reader.read_json("policy.json")
    assert str(caught.value).startswith("section 'policy.json' is not valid JSON: ")
    assert re.search(problem, str(caught.value), re.IGNORECASE)
    assert "\n" not in str(caught.value)


def test_accepts_what_home_assistant_can_store() -> None:
    content = (
        b'{"deep": ' + b"[" * 31 + b"]" * 31 + b', "pair": "\\ud83d\\ude00", '
        b'"max": 18446744073709551615, "min": -9223372036854775808, "big": 1.5e308}'
    )
    blob = build_pai([raw_section("policy.json", content, stype=0, compress=True)])
    with PaiReader(io.BytesIO(blob)) as reader:
        value = reader.read_json("policy.json")
    assert value["pair"] == "\U0001f600"
    assert (value["max"], value["min"]) == (2**64 - 1, -(2**63))


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"a": "\ud800"}, "lone surrogate"),
        ({"\udc00": 1}, "lone surrogate"),
        (_nested(33), "nesting deeper than 32"),
        ({"n": 2**64}, "64-bit"),
        ({"f": float("inf")}, "not finite"),
        ({"f": float("nan")}, "not finite"),
    ],
    ids=["surrogate", "surrogate-key", "depth", "big-int", "inf", "nan"],
)
def test_json_section_refuses_what_a_reader_would_refuse(
    value: Any, problem: str
) -> None:
    with pytest.raises(InvalidJsonError, match=r"^section 'x\.json' cannot be written"):
        json_section("x.json", value)
    with pytest.raises(ValueError, match=problem):
        check_json_value(value)
    json_section("x.json", _nested(32))  # the deepest a file may go


def test_errors_name_their_section() -> None:
    error = refusal(patch(GOOD, 1, "sha256", bytes(32)))
    assert error.section == "weights.gguf"


def test_long_hostile_names_are_shortened_in_messages() -> None:
    error = refusal(build_pai([raw_section("../" + "a" * 200, b"")]))
    assert len(str(error)) < 200
    assert "..." in str(error)


def test_loads_json_checks_a_bare_value_and_text_given_as_str() -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        loads_json('"\\ud800"')  # an escape in the JSON text
    with pytest.raises(ValueError, match="lone surrogate"):
        loads_json('["\ud800"]')  # a raw surrogate in a Python str
    with pytest.raises(ValueError, match="64-bit"):
        loads_json("-9223372036854775809")
    assert loads_json("9223372036854775807") == 2**63 - 1
    assert loads_json('{"a": ["\\\\ud800 is how it is written"]}') == {
        "a": ["\\ud800 is how it is written"]
    }
