"""Write a real LoRA adapter for a GGUF model, in GGUF, without training or extra packages.

No adapter can be trained here, but llama.cpp's adapter format is plain: GGUF metadata
(`general.type = adapter`, `adapter.type = lora`, the base model's architecture) and, for a
base tensor W of shape [n_in, n_out], two F32 tensors `W.lora_a` [n_in, r] and `W.lora_b`
[r, n_out]. This reads the base model's tensor shapes and writes small random ones, which
llama.cpp loads and applies like a trained adapter.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
import random
import struct
from typing import BinaryIO

MAGIC = b"GGUF"
ALIGNMENT = 32
_STRING, _ARRAY = 8, 9
_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
F32 = 0


def _read(file: BinaryIO, fmt: str) -> int | float | bool:
    size = struct.calcsize("<" + fmt)
    return struct.unpack("<" + fmt, file.read(size))[0]


def _read_string(file: BinaryIO) -> str:
    length = int(_read(file, "Q"))
    return file.read(length).decode("utf-8", errors="replace")


def _skip_value(file: BinaryIO, vtype: int) -> str | None:
    if vtype == _STRING:
        return _read_string(file)
    if vtype == _ARRAY:
        etype, count = int(_read(file, "I")), int(_read(file, "Q"))
        if etype in _SCALARS:
            file.seek(struct.calcsize("<" + _SCALARS[etype]) * count, 1)
        else:
            for _ in range(count):
                _skip_value(file, etype)
        return None
    _read(file, _SCALARS[vtype])
    return None


def read_model(path: Path) -> tuple[str, dict[str, tuple[int, ...]]]:
    """Return (architecture, {tensor name: dims}) of a GGUF file."""
    with path.open("rb") as file:
        assert file.read(4) == MAGIC
        _read(file, "I")  # version
        tensors, kvs = int(_read(file, "Q")), int(_read(file, "Q"))
        arch = ""
        for _ in range(kvs):
            key = _read_string(file)
            value = _skip_value(file, int(_read(file, "I")))
            if key == "general.architecture" and value:
                arch = value
        shapes: dict[str, tuple[int, ...]] = {}
        for _ in range(tensors):
            name = _read_string(file)
            dims = tuple(int(_read(file, "Q")) for _ in range(int(_read(file, "I"))))
            _read(file, "I")  # type
            _read(file, "Q")  # offset
            shapes[name] = dims
    return arch, shapes


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def write_lora(
    path: Path,
    arch: str,
    targets: Iterable[tuple[str, tuple[int, ...]]],
    *,
    rank: int = 4,
    scale: float = 0.05,
    seed: int = 7,
) -> Path:
    """Write a LoRA adapter over `targets` (base tensor name, dims) with random weights."""
    rng = random.Random(seed)  # noqa: S311  # test weights, not secrets
    tensors: list[tuple[str, tuple[int, int], bytes]] = []
    for name, (n_in, n_out) in targets:
        for suffix, dims in (("lora_a", (n_in, rank)), ("lora_b", (rank, n_out))):
            count = dims[0] * dims[1]
            values = [rng.uniform(-scale, scale) for _ in range(count)]
            tensors.append(
                (f"{name}.{suffix}", dims, struct.pack(f"<{count}f", *values))
            )
    kvs = [
        _string("general.architecture") + struct.pack("<I", _STRING) + _string(arch),
        _string("general.type") + struct.pack("<I", _STRING) + _string("adapter"),
        _string("adapter.type") + struct.pack("<I", _STRING) + _string("lora"),
        _string("adapter.lora.alpha") + struct.pack("<If", 6, float(rank)),
    ]
    header = MAGIC + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs)
    infos = b""
    offset = 0
    for name, dims, data in tensors:
        infos += _string(name) + struct.pack("<I", 2) + struct.pack("<QQ", *dims)
        infos += struct.pack("<IQ", F32, offset)
        offset += -(-len(data) // ALIGNMENT) * ALIGNMENT
    with path.open("wb") as file:
        start = header + infos
        file.write(start + bytes(-len(start) % ALIGNMENT))
        for _, _, data in tensors:
            file.write(data + bytes(-len(data) % ALIGNMENT))
    return path
