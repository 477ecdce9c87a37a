"""Read and write `.pai` files (format version 1), byte-compatible with paigent.

A `.pai` file arrives from the internet, so every byte of it is treated as hostile: sizes and
offsets are bounded and checked against the file before anything is read, names are checked
and never used as paths, zlib output is capped at the declared size, and every refusal is a
`PaiFormatError` with one readable line. Large sections (model weights) are streamed and hashed
in the same pass, on a helper thread, so memory stays flat and hashing runs at disk speed.

Layout (little-endian): a 32-byte header (magic, version, section count, flags, created_at,
8 reserved bytes), one table entry per section (name_len u16, name, stype u32, compressed u8,
offset u64, size u64, raw_size u64, sha256 of the raw content), then the data, each section
on a 64-byte boundary.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Buffer, Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
import contextlib
from dataclasses import dataclass
from enum import IntEnum
import hashlib
import io
import json
import math
import os
import re
import secrets
import struct
import time
from typing import Any, BinaryIO, Protocol, Self
import unicodedata
import zlib

MAGIC = b"PAI\x01"
FORMAT_VERSION = 1
ALIGNMENT = 64
FLAG_COMPRESSED = 0x1
KNOWN_FLAGS = FLAG_COMPRESSED

_HEADER = struct.Struct("<4sIII Q 8s")
_ENTRY_HEAD = struct.Struct("<H")
_ENTRY_TAIL = struct.Struct("<IBQQQ32s")
_ENTRY_FIXED = _ENTRY_HEAD.size + _ENTRY_TAIL.size  # a table entry, less its name

_CHUNK = 4 * 1024 * 1024  # streaming buffer; three of them in flight at most
_IN_FLIGHT = 3
_INFLATE_IN = 256 * 1024  # compressed bytes read per step when inflating
_ZLIB_LEVEL = 9  # paigent's level: the same input gives the same bytes
_DISPLAY_LIMIT = 80

MAX_JSON_DEPTH = 32
"""How deep a JSON section may nest (Home Assistant's storage refuses past 255)."""
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1
"""The integers Home Assistant's JSON (orjson) reads and writes: 64-bit, signed or not."""
_INT_DIGITS = len(str(INT_MIN))  # longer digit strings are refused before converting
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONG_DIGITS = re.compile(r"\d{19}")
_CONTAINERS = frozenset({dict, list, tuple})


class SectionType(IntEnum):
    """What a section holds (the integers stored in the file)."""

    JSON = 0
    BINARY = 1
    SQLITE = 2
    TEXT = 3
    GGUF = 4


_COMPRESSIBLE = frozenset({SectionType.JSON, SectionType.TEXT})


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds a reader enforces on untrusted files; raise them deliberately, never blindly."""

    max_sections: int = 64
    max_name_bytes: int = 255
    max_json_bytes: int = 8 * 1024 * 1024
    max_read_bytes: int = 64 * 1024 * 1024
    max_total_raw_bytes: int = 64 * 1024**3
    max_inflate_ratio: int = 8
    """A compressed section larger than `max_json_bytes` once inflated may grow this much."""


class PaiFormatError(Exception):
    """A `.pai` file (or a section written to one) was refused; str() is one readable line."""

    def __init__(self, message: str, *, section: str | None = None) -> None:
        """Keep the message and, when there is one, the section it is about."""
        super().__init__(message)
        self.section = section


class BadMagicError(PaiFormatError):
    """The file does not start with the `.pai` magic bytes."""


class UnsupportedVersionError(PaiFormatError):
    """The header declares a format version this reader does not know."""


class UnsupportedFlagsError(PaiFormatError):
    """The header sets flag bits or reserved bytes this reader does not know."""


class TruncatedError(PaiFormatError):
    """The file ends inside its header, section table or a section."""


class SectionTableError(PaiFormatError):
    """A section table entry is malformed (type, compressed flag, sizes)."""


class TooManySectionsError(SectionTableError):
    """The header declares more sections than `Limits.max_sections`."""


class DuplicateSectionError(SectionTableError):
    """Two sections carry the same name."""


class UnsafeSectionNameError(PaiFormatError):
    """A section name is not UTF-8, too long, or looks like a path that could escape."""


class SectionBoundsError(PaiFormatError):
    """A section lies outside the file, off alignment, or over the table or another section."""


class ChecksumError(PaiFormatError):
    """A section's content does not match its SHA-256."""


class DecompressionError(PaiFormatError):
    """A compressed section is corrupt or inflates to a size other than the declared one."""


class SectionTooLargeError(PaiFormatError):
    """A section (or all of them together) exceeds a `Limits` bound."""


class MissingSectionError(PaiFormatError):
    """The file has no section with the requested name."""


class InvalidJsonError(PaiFormatError):
    """A JSON section is not UTF-8 or not standard JSON."""


@dataclass(frozen=True, slots=True)
class SectionInfo:
    """One validated section table entry."""

    name: str
    stype: SectionType
    compressed: bool
    offset: int
    size: int
    raw_size: int
    sha256: bytes

    @property
    def sha256_hex(self) -> str:
        """The checksum as lowercase hex, as `sha256sum` prints it."""
        return self.sha256.hex()


@dataclass(frozen=True, slots=True)
class SectionSource:
    """A section to write: in-memory `data` or a file `path` streamed at write time."""

    name: str
    stype: SectionType
    data: bytes | None = None
    path: str | os.PathLike[str] | None = None

    def __post_init__(self) -> None:
        """Refuse a source with both or neither of `data` and `path`."""
        if (self.data is None) == (self.path is None):
            raise ValueError(
                f"section {_show(self.name)}: give exactly one of data and path"
            )
        SectionType(self.stype)  # ValueError for a type the format does not define


class BinarySource(Protocol):
    """What PaiReader needs from an open file: `open(path, "rb")`, `io.BytesIO`, ..."""

    def seek(self, offset: int, whence: int = ..., /) -> int:
        """Move to a byte position."""
        ...

    def read(self, size: int = ..., /) -> bytes:
        """Read up to `size` bytes."""
        ...

    def readinto(self, buffer: Buffer, /) -> int | None:
        """Read into `buffer`, returning the count."""
        ...


def json_section(name: str, value: Any) -> SectionSource:
    """Make a JSON section serialised exactly as paigent does (UTF-8, indent 2).

    Refuses (InvalidJsonError) a value a reader would refuse: see `check_json_value`.
    """
    try:
        check_json_value(value)
    except ValueError as error:
        raise InvalidJsonError(
            f"section {_show(name)} cannot be written: {error}", section=name
        ) from None
    text = json.dumps(value, ensure_ascii=False, indent=2, allow_nan=False)
    return SectionSource(name, SectionType.JSON, data=text.encode("utf-8"))


def _show(name: str | bytes) -> str:
    """Render a name as one safe line: controls escaped, long names shortened."""
    text = repr(name)
    if len(text) > _DISPLAY_LIMIT:
        return text[: _DISPLAY_LIMIT - 4] + "...'"
    return text


_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def check_section_name(name: str, limits: Limits | None = None) -> None:
    """Refuse names that are not plain relative `a/b.ext` names (UnsafeSectionNameError)."""
    limits = limits or Limits()

    def refuse(problem: str) -> UnsafeSectionNameError:
        return UnsafeSectionNameError(f"section {_show(name)}: {problem}", section=name)

    size = len(name.encode("utf-8", "surrogatepass"))
    if size == 0:
        raise refuse("the name is empty")
    if size > limits.max_name_bytes:
        raise refuse(f"the name is {size} bytes; the limit is {limits.max_name_bytes}")
    if any(unicodedata.category(char) in _UNSAFE_CATEGORIES for char in name):
        raise refuse("the name contains control or invisible characters")
    if "\\" in name:
        raise refuse("the name contains a backslash")
    drive = len(name) > 1 and name[1] == ":" and name[0].isascii() and name[0].isalpha()
    if name.startswith("/") or drive:
        raise refuse("the name is an absolute path")
    for part in name.split("/"):
        if part in {"", ".", ".."}:
            raise refuse(f"the name has an empty, '.' or '..' component ({part!r})")


class PaiReader:
    """A validated view of a `.pai` file: the header and table are checked on open.

    Accepts a path (opened and closed here) or an open binary file (left open). Not
    thread-safe: one reader reads one section at a time.
    """

    version: int
    flags: int
    created_at: int
    sections: tuple[SectionInfo, ...]

    def __init__(
        self,
        path: str | os.PathLike[str] | BinarySource,
        *,
        limits: Limits | None = None,
    ) -> None:
        """Open `path` and validate its header and section table."""
        self.limits = limits or Limits()
        self._owned: io.FileIO | None = None
        self._file: BinarySource
        if isinstance(path, str | os.PathLike):
            self._file = self._owned = open(path, "rb", buffering=0)  # noqa: SIM115
        else:
            self._file = path
        try:
            self._size = self._file.seek(0, os.SEEK_END)
            self._parse()
        except BaseException:
            self.close()
            raise
        self._by_name = {info.name: info for info in self.sections}

    def __enter__(self) -> Self:
        """Use the reader as a context manager."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the file if this reader opened it."""
        self.close()

    def close(self) -> None:
        """Close the file if this reader opened it (a passed-in file stays open)."""
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    # -- parsing -----------------------------------------------------------------------

    def _parse(self) -> None:
        if self._size < _HEADER.size:
            raise TruncatedError(
                f"file is {self._size} bytes, too short for the {_HEADER.size}-byte header"
            )
        header = self._read_at(0, _HEADER.size)
        if len(header) < _HEADER.size:
            raise TruncatedError("the file ends inside its header")
        magic, version, count, flags, created_at, reserved = _HEADER.unpack(header)
        if magic != MAGIC:
            raise BadMagicError(
                f"not a .pai file: starts with {magic!r}, not {MAGIC!r}"
            )
        if version != FORMAT_VERSION:
            raise UnsupportedVersionError(
                f"unsupported .pai format version {version} "
                f"(this reader knows version {FORMAT_VERSION})"
            )
        if flags & ~KNOWN_FLAGS:
            raise UnsupportedFlagsError(
                f"unsupported header flags {flags:#x} (only bit 0, compressed, is defined)"
            )
        if reserved != bytes(len(reserved)):
            raise UnsupportedFlagsError(
                f"the header's reserved bytes are not zero ({reserved.hex()})"
            )
        if count > self.limits.max_sections:
            raise TooManySectionsError(
                f"the file declares {count} sections; the limit is "
                f"{self.limits.max_sections}"
            )
        self.version, self.flags, self.created_at = version, flags, created_at
        self.sections = self._parse_table(count)

    def _parse_table(self, count: int) -> tuple[SectionInfo, ...]:
        longest = count * (_ENTRY_FIXED + self.limits.max_name_bytes)
        table = self._read_at(_HEADER.size, min(longest, self._size - _HEADER.size))
        pos = 0
        entries: list[SectionInfo] = []
        seen: set[str] = set()
        for index in range(count):
            if pos + _ENTRY_HEAD.size > len(table):
                raise self._table_truncated(index)
            (name_len,) = _ENTRY_HEAD.unpack_from(table, pos)
            pos += _ENTRY_HEAD.size
            if name_len > self.limits.max_name_bytes:
                raise UnsafeSectionNameError(
                    f"section table entry {index}: name is {name_len} bytes; "
                    f"the limit is {self.limits.max_name_bytes}"
                )
            if pos + name_len + _ENTRY_TAIL.size > len(table):
                raise self._table_truncated(index)
            raw_name = table[pos : pos + name_len]
            pos += name_len
            try:
                name = raw_name.decode("utf-8")
            except UnicodeDecodeError:
                raise UnsafeSectionNameError(
                    f"section {_show(raw_name)} (table entry {index}): "
                    "the name is not valid UTF-8"
                ) from None
            check_section_name(name, self.limits)
            fields = _ENTRY_TAIL.unpack_from(table, pos)
            pos += _ENTRY_TAIL.size
            if name in seen:
                raise DuplicateSectionError(
                    f"section {_show(name)} appears twice in the section table",
                    section=name,
                )
            seen.add(name)
            entries.append(self._check_entry(name, fields))
        table_end = _HEADER.size + pos
        self._check_layout(entries, table_end)
        return tuple(entries)

    def _table_truncated(self, index: int) -> TruncatedError:
        return TruncatedError(
            f"section table entry {index} runs past the end of the file "
            f"({self._size} bytes)"
        )

    def _check_entry(self, name: str, fields: tuple[Any, ...]) -> SectionInfo:
        stype, compressed, offset, size, raw_size, sha256 = fields
        where = f"section {_show(name)}"
        try:
            section_type = SectionType(stype)
        except ValueError:
            raise SectionTableError(
                f"{where}: unknown section type {stype}", section=name
            ) from None
        if compressed not in {0, 1}:
            raise SectionTableError(
                f"{where}: compressed flag is {compressed}, expected 0 or 1",
                section=name,
            )
        if not compressed and size != raw_size:
            raise SectionTableError(
                f"{where}: stored size {size} differs from raw size {raw_size} "
                "in an uncompressed section",
                section=name,
            )
        if (
            compressed
            and raw_size > self.limits.max_json_bytes
            and raw_size > size * self.limits.max_inflate_ratio
        ):
            raise SectionTooLargeError(
                f"{where}: {size} compressed bytes declare {raw_size} once inflated, "
                f"more than {self.limits.max_inflate_ratio} times as many "
                "(store large sections uncompressed)",
                section=name,
            )
        return SectionInfo(
            name, section_type, bool(compressed), offset, size, raw_size, sha256
        )

    def _check_layout(self, entries: list[SectionInfo], table_end: int) -> None:
        for info in entries:
            where = f"section {_show(info.name)}"
            if info.offset % ALIGNMENT:
                raise SectionBoundsError(
                    f"{where}: offset {info.offset} is not {ALIGNMENT}-byte aligned",
                    section=info.name,
                )
            if info.offset + info.size > self._size:
                raise SectionBoundsError(
                    f"{where}: ends at byte {info.offset + info.size}, past the end of "
                    f"the file ({self._size} bytes)",
                    section=info.name,
                )
        total = sum(info.raw_size for info in entries)
        if total > self.limits.max_total_raw_bytes:
            raise SectionTooLargeError(
                f"the sections hold {total} bytes once decompressed; the limit is "
                f"{self.limits.max_total_raw_bytes}"
            )
        previous: SectionInfo | None = None
        for info in sorted(entries, key=lambda entry: (entry.offset, entry.size)):
            if info.offset < table_end:
                raise SectionBoundsError(
                    f"section {_show(info.name)}: starts at byte {info.offset}, inside "
                    f"the header and section table (which end at byte {table_end})",
                    section=info.name,
                )
            if previous is not None and info.offset < previous.offset + previous.size:
                raise SectionBoundsError(
                    f"section {_show(info.name)} overlaps section {_show(previous.name)}",
                    section=info.name,
                )
            previous = info

    def _read_at(self, offset: int, size: int) -> bytes:
        """Up to `size` bytes from `offset`: fewer where the file ends first."""
        self._file.seek(offset)
        data = bytearray(size)
        return bytes(data[: _fill(self._file, memoryview(data))])

    # -- sections ----------------------------------------------------------------------

    def __contains__(self, name: object) -> bool:
        """Whether the file has a section called `name`."""
        return name in self._by_name

    def section(self, name: str) -> SectionInfo:
        """Return the table entry for `name` (MissingSectionError if absent)."""
        try:
            return self._by_name[name]
        except KeyError:
            raise MissingSectionError(
                f"no section named {_show(name)} in this file", section=name
            ) from None

    def read(self, name: str) -> bytes:
        """Return the whole section, decompressed and checksum-verified."""
        info = self.section(name)
        if info.raw_size > self.limits.max_read_bytes:
            raise SectionTooLargeError(
                f"section {_show(name)} is {info.raw_size} bytes; reading it into memory "
                f"is limited to {self.limits.max_read_bytes} (extract it instead)",
                section=name,
            )
        content = bytearray()
        self._stream(info, content.extend)
        return bytes(content)

    def read_json(self, name: str) -> Any:
        """Parse the section as strict JSON (`loads_json`; InvalidJsonError otherwise)."""
        info = self.section(name)
        if info.raw_size > self.limits.max_json_bytes:
            raise SectionTooLargeError(
                f"section {_show(name)} is {info.raw_size} bytes; JSON sections are "
                f"limited to {self.limits.max_json_bytes}",
                section=name,
            )
        data = self.read(name)
        try:
            return loads_json(data)
        except (ValueError, RecursionError) as error:
            problem = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise InvalidJsonError(
                f"section {_show(name)} is not valid JSON: {problem}", section=name
            ) from None

    def extract(self, name: str, dest: str | os.PathLike[str]) -> str:
        """Stream the section to `dest` (temp file, then rename); return its SHA-256 hex.

        `dest` is the caller's choice: the section's name never becomes a path. On any
        failure, checksum included, `dest` stays as it was and no temp file remains.
        """
        info = self.section(name)
        target = os.fspath(dest)
        temp, out = _open_temp_beside(target)
        try:
            with out:
                digest = self._stream(info, out.write)
            os.replace(temp, target)
        except BaseException:
            _remove_quietly(temp)
            raise
        return digest.hex()

    def verify(self) -> None:
        """Check every section's checksum (and size), streaming; raise on the first fault."""
        for info in self.sections:
            self._stream(info, None)

    def _stream(
        self, info: SectionInfo, sink: Callable[[memoryview], object] | None
    ) -> bytes:
        """Feed the raw content to `sink`, hashing it on the way; return the digest."""
        digest = hashlib.sha256()
        if info.compressed:
            for chunk in self._inflate(info):
                digest.update(chunk)
                if sink is not None:
                    sink(chunk)
        else:
            self._file.seek(info.offset)
            moved = _pump(self._file, info.size, digest.update, sink)
            if moved != info.size:
                raise TruncatedError(
                    f"section {_show(info.name)}: the file ends after {moved} of its "
                    f"{info.size} bytes",
                    section=info.name,
                )
        if digest.digest() != info.sha256:
            raise ChecksumError(
                f"section {_show(info.name)}: SHA-256 checksum mismatch "
                "(the file is damaged or was altered)",
                section=info.name,
            )
        return digest.digest()

    def _inflate(self, info: SectionInfo) -> Iterator[memoryview]:
        """Decompress a section, never producing more than raw_size + 1 bytes."""
        where = f"section {_show(info.name)}"
        inflater = zlib.decompressobj()
        position, end, produced = info.offset, info.offset + info.size, 0
        try:
            while position < end and not inflater.eof:
                self._file.seek(position)
                pending = self._file.read(min(_INFLATE_IN, end - position))
                if not pending:
                    raise TruncatedError(
                        f"{where}: the file ends inside the section", section=info.name
                    )
                position += len(pending)
                while True:
                    room = min(_CHUNK, info.raw_size - produced + 1)
                    out = inflater.decompress(pending, room)
                    pending = inflater.unconsumed_tail
                    produced += len(out)
                    if produced > info.raw_size:
                        raise DecompressionError(
                            f"{where}: inflates past its declared raw size of "
                            f"{info.raw_size} bytes",
                            section=info.name,
                        )
                    if out:
                        yield memoryview(out)
                    if inflater.eof or (not pending and len(out) < room):
                        break
        except zlib.error as error:
            raise DecompressionError(
                f"{where}: corrupt zlib data ({error})", section=info.name
            ) from None
        if not inflater.eof:
            raise DecompressionError(
                f"{where}: its zlib stream is cut short", section=info.name
            )
        if inflater.unused_data or position < end:
            raise DecompressionError(
                f"{where}: stored bytes follow the end of its zlib stream",
                section=info.name,
            )
        if produced != info.raw_size:
            raise DecompressionError(
                f"{where}: inflates to {produced} bytes, short of its declared raw size "
                f"of {info.raw_size}",
                section=info.name,
            )


def loads_json(data: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    r"""Parse standard JSON that Home Assistant's own JSON (orjson) can store unchanged.

    Raises ValueError (one line) for anything else: invalid UTF-8 or JSON, NaN/Infinity
    or a number too large for a float, an integer outside 64 bits, a lone surrogate
    (`"\ud800"`), or nesting deeper than `max_depth`.
    """
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    value = json.loads(
        text,
        parse_constant=_refuse_constant,
        parse_float=_parse_float,
        # Only a run of 19 digits can be an integer outside 64 bits: check those.
        parse_int=_parse_int if _LONG_DIGITS.search(text) else None,
    )
    # A lone surrogate can only come from a \uD800-\uDFFF escape (raw ones are not
    # UTF-8): without one in the text, the strings need no look.
    strings = bool(_SURROGATE_ESCAPE.search(text) or _SURROGATE.search(text))
    check_json_value(value, max_depth=max_depth, leaves=strings)
    return value


def check_json_value(
    value: Any, *, max_depth: int = MAX_JSON_DEPTH, leaves: bool = True
) -> None:
    """Refuse (ValueError, one line) what Home Assistant's JSON could not store unchanged.

    Containers nested deeper than `max_depth` and, with `leaves`, strings or keys with a
    lone surrogate, integers outside 64 bits and non-finite floats. Other leaf types are
    left to the caller. Walks without recursion, so any depth is refused cleanly.
    """
    if not isinstance(value, dict | list | tuple):
        if leaves:
            _check_leaf(value)
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise ValueError(f"nesting deeper than {max_depth} levels")
        if isinstance(item, dict):
            if leaves:
                for key in item:
                    if isinstance(key, str):
                        _check_text(key)
            children = item.values()
        else:
            children = item
        if leaves:
            for child in children:
                if isinstance(child, dict | list | tuple):
                    stack.append((child, depth + 1))
                else:
                    _check_leaf(child)
        else:  # the common case: only containers matter (for their depth)
            deeper = depth + 1
            stack.extend(
                (child, deeper) for child in children if type(child) in _CONTAINERS
            )


def _check_leaf(item: Any) -> None:
    if isinstance(item, str):
        _check_text(item)
    elif isinstance(item, bool):
        return
    elif isinstance(item, int):
        _check_int(item)
    elif isinstance(item, float) and not math.isfinite(item):
        raise ValueError(f"the number {item} is not finite")


def _check_text(text: str) -> None:
    if (found := _SURROGATE.search(text)) is not None:
        raise ValueError(
            f"a string holds a lone surrogate (U+{ord(found.group()):04X}), "
            "which is not Unicode text"
        )


def _check_int(number: int) -> None:
    if not INT_MIN <= number <= INT_MAX:
        raise ValueError("an integer is outside the 64-bit range")


def _parse_int(digits: str) -> int:
    if len(digits) > _INT_DIGITS:
        raise ValueError("an integer is outside the 64-bit range")
    number = int(digits)
    _check_int(number)
    return number


def _parse_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:20]} is too large")
    return number


def _refuse_constant(constant: str) -> Any:
    raise ValueError(f"non-standard constant {constant}")


def _fill(source: BinarySource, view: memoryview) -> int:
    """Read until `view` is full or the source ends; return the count."""
    got = 0
    while got < len(view):
        count = source.readinto(view[got:])
        if not count:
            break
        got += count
    return got


def _pump(
    source: BinarySource,
    limit: int | None,
    update: Callable[[memoryview], None],
    sink: Callable[[memoryview], object] | None,
    size_hint: int | None = None,
) -> int:
    """Move up to `limit` bytes (None: to the end) from `source` to `sink`, hashing them.

    Past one buffer, hashing runs on a helper thread (hashlib releases the GIL) while this
    thread reads and writes the next buffers, so a copy costs about as long as the hash.
    Returns the number of bytes moved.
    """
    expected = limit if limit is not None else size_hint
    threaded = expected is None or expected > _CHUNK
    size = _CHUNK if threaded or expected is None else max(expected, 1)
    buffers = [
        memoryview(bytearray(size)) for _ in range(_IN_FLIGHT if threaded else 1)
    ]
    hashing: deque[Future[None]] = deque()
    moved = turn = 0
    pool = ThreadPoolExecutor(1, "pai-hash") if threaded else contextlib.nullcontext()
    with pool as hasher:
        while limit is None or moved < limit:
            if len(hashing) == len(buffers):
                hashing.popleft().result()  # frees the buffer this turn reuses
            buffer = buffers[turn % len(buffers)]
            turn += 1
            want = len(buffer) if limit is None else min(len(buffer), limit - moved)
            count = _fill(source, buffer[:want])
            if count:
                chunk = buffer[:count]
                if hasher is None:
                    update(chunk)
                else:
                    hashing.append(hasher.submit(update, chunk))
                if sink is not None:
                    sink(chunk)
                moved += count
            if count < want:
                break
        for pending in hashing:
            pending.result()
    return moved


def _open_temp_beside(target: str) -> tuple[str, BinaryIO]:
    """Create a file beside `target` (same filesystem, so renaming is atomic)."""
    directory, base = os.path.split(os.path.abspath(target))
    temp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    return temp, open(descriptor, "wb")  # the caller closes it


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _align(position: int) -> int:
    return -(-position // ALIGNMENT) * ALIGNMENT


def write_pai(
    path: str | os.PathLike[str],
    sections: Iterable[SectionSource],
    *,
    compress: bool = True,
    created_at: int | None = None,
    limits: Limits | None = None,
) -> None:
    """Write a `.pai` file in one pass over every source, atomically (temp file, rename).

    With `compress`, JSON and TEXT sections are zlib-compressed; other types are stored
    raw. File sources are streamed and hashed while copied; the table is written last.
    Refuses (PaiFormatError) what a reader with the same `limits` would refuse.
    """
    limits = limits or Limits()
    sources = list(sections)
    if len(sources) > limits.max_sections:
        raise TooManySectionsError(
            f"{len(sources)} sections given; the limit is {limits.max_sections}"
        )
    names: set[str] = set()
    for source in sources:
        check_section_name(source.name, limits)
        if source.name in names:
            raise DuplicateSectionError(
                f"section {_show(source.name)} is given twice", section=source.name
            )
        names.add(source.name)
    encoded = [source.name.encode("utf-8") for source in sources]
    data_start = _HEADER.size + sum(_ENTRY_FIXED + len(name) for name in encoded)

    target = os.fspath(path)
    temp, out = _open_temp_beside(target)
    try:
        with out:
            out.write(bytes(data_start))  # header and table, filled in at the end
            position = data_start
            table = bytearray()
            for source, name in zip(sources, encoded, strict=True):
                offset = _align(position)
                out.write(bytes(offset - position))
                squeeze = compress and source.stype in _COMPRESSIBLE
                size, raw_size, sha256 = _write_section(out, source, squeeze)
                table += _ENTRY_HEAD.pack(len(name)) + name
                table += _ENTRY_TAIL.pack(
                    source.stype, squeeze, offset, size, raw_size, sha256
                )
                position = offset + size
            out.seek(0)
            out.write(
                _HEADER.pack(
                    MAGIC,
                    FORMAT_VERSION,
                    len(sources),
                    FLAG_COMPRESSED if compress else 0,
                    int(time.time()) if created_at is None else created_at,
                    bytes(8),
                )
            )
            out.write(table)
        os.replace(temp, target)
    except BaseException:
        _remove_quietly(temp)
        raise


def _write_section(
    out: BinaryIO, source: SectionSource, squeeze: bool
) -> tuple[int, int, bytes]:
    """Write one section's stored bytes; return (stored size, raw size, sha256)."""
    if source.data is not None:
        stored = zlib.compress(source.data, _ZLIB_LEVEL) if squeeze else source.data
        out.write(stored)
        return len(stored), len(source.data), hashlib.sha256(source.data).digest()
    assert source.path is not None  # noqa: S101  # guaranteed by SectionSource
    digest = hashlib.sha256()
    with open(source.path, "rb", buffering=0) as src:
        if not squeeze:
            size_hint = os.fstat(src.fileno()).st_size
            moved = _pump(src, None, digest.update, out.write, size_hint)
            return moved, moved, digest.digest()
        deflater = zlib.compressobj(_ZLIB_LEVEL)
        raw_size = stored_size = 0
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            raw_size += len(chunk)
            stored_size += out.write(deflater.compress(chunk))
        stored_size += out.write(deflater.flush())
    return stored_size, raw_size, digest.digest()
