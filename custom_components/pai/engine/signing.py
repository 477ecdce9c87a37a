r"""Optional publisher signatures for `.pai` files (Ed25519).

A signed file carries one more JSON section, `signature.json`:

    {"algorithm": "ed25519", "public_key": "<base64, 32 bytes>",
     "sections": {"<name>": "<sha256 hex>", ...}, "signature": "<base64, 64 bytes>"}

`sections` lists every other section of the file with the SHA-256 of its raw content (the
values the section table already carries), except `ha_bindings.json`, which an exporting
Home Assistant adds for itself. The signature covers the message

    PAI-SIGNATURE-1\\n<name> <sha256>\\n... (names sorted)

A reader that verifies the section checksums (every reader here does) then knows the signed
content exactly. A file whose signed sections were altered, added or removed is refused. The
signer is named by the fingerprint of the public key: SHA-256, the first 16 bytes in hex
groups of four. Whether a key belongs to whom it claims is the user's judgement; the
fingerprint lets them recognise a publisher they trust again. paigent ignores the section.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
import hashlib
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from .container import PaiFormatError, SectionInfo, SectionSource, json_section

SIGNATURE_SECTION = "signature.json"
UNSIGNED_SECTIONS = frozenset({SIGNATURE_SECTION, "ha_bindings.json"})
"""Sections a signature does not cover: itself, and what Home Assistant adds on export."""
ALGORITHM = "ed25519"
_PREFIX = b"PAI-SIGNATURE-1\n"


class SignatureError(PaiFormatError):
    """A signed file whose signature does not hold (altered, added or removed sections)."""


def fingerprint(public_key: bytes) -> str:
    """Name a public key: SHA-256, the first 16 bytes as hex in groups of four."""
    digest = hashlib.sha256(public_key).hexdigest()[:32]
    return ":".join(digest[i : i + 4] for i in range(0, 32, 4))


def _message(sections: Mapping[str, str]) -> bytes:
    lines = "".join(f"{name} {sections[name]}\n" for name in sorted(sections))
    return _PREFIX + lines.encode("utf-8")


def signed_sections(infos: Iterable[SectionInfo]) -> dict[str, str]:
    """Return {name: sha256 hex} for the sections a signature covers."""
    return {
        info.name: info.sha256_hex
        for info in infos
        if info.name not in UNSIGNED_SECTIONS
    }


def sign(
    infos: Iterable[SectionInfo], private_key: Ed25519PrivateKey
) -> dict[str, Any]:
    """Return the `signature.json` document for a file's sections."""
    sections = signed_sections(infos)
    public = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return {
        "algorithm": ALGORITHM,
        "public_key": base64.b64encode(public).decode("ascii"),
        "sections": sections,
        "signature": base64.b64encode(private_key.sign(_message(sections))).decode(
            "ascii"
        ),
    }


def signature_section(
    infos: Iterable[SectionInfo], private_key: Ed25519PrivateKey
) -> SectionSource:
    """Return the `signature.json` section to add to a file."""
    return json_section(SIGNATURE_SECTION, sign(infos, private_key))


def verify(infos: Iterable[SectionInfo], document: Any) -> str:
    """Check a `signature.json` document against the file's sections; return the signer.

    Raises SignatureError (one line, naming what is wrong) when it does not hold.
    """

    def refuse(problem: str) -> SignatureError:
        return SignatureError(
            f"section {SIGNATURE_SECTION!r}: {problem}", section=SIGNATURE_SECTION
        )

    if not isinstance(document, Mapping) or document.get("algorithm") != ALGORITHM:
        raise refuse(f"not an {ALGORITHM} signature")
    try:
        public = base64.b64decode(str(document.get("public_key")), validate=True)
        signature = base64.b64decode(str(document.get("signature")), validate=True)
        key = Ed25519PublicKey.from_public_bytes(public)
    except binascii.Error, ValueError:
        raise refuse("the public key or the signature is malformed") from None
    claimed = document.get("sections")
    if not isinstance(claimed, Mapping) or not all(
        isinstance(name, str) and isinstance(sha, str) for name, sha in claimed.items()
    ):
        raise refuse("its list of sections is malformed")
    actual = signed_sections(infos)
    for name in sorted(set(claimed) | set(actual)):
        if name not in actual:
            raise refuse(f"the signed section {name!r} was removed")
        if name not in claimed:
            raise refuse(f"the section {name!r} was added after signing")
        if claimed[name] != actual[name]:
            raise refuse(f"the section {name!r} was altered after signing")
    try:
        key.verify(signature, _message(actual))
    except InvalidSignature:
        raise refuse("the signature does not match (the file was altered)") from None
    return fingerprint(public)


class SignedReader(Protocol):
    """What `read_signer` needs of an open, checksum-verified file (PaiReader)."""

    sections: tuple[SectionInfo, ...]

    def __contains__(self, name: object) -> bool:
        """Whether the file has a section of that name."""
        ...

    def read_json(self, name: str) -> Any:
        """Return the section decoded from JSON."""
        ...


def read_signer(reader: SignedReader) -> str | None:
    """Return the fingerprint of a signed file's signer, None for an unsigned file.

    Call it on a file whose checksums were verified; raises SignatureError when the
    signature does not hold.
    """
    if SIGNATURE_SECTION not in reader:
        return None
    return verify(reader.sections, reader.read_json(SIGNATURE_SECTION))


def load_private_key(data: bytes) -> Ed25519PrivateKey:
    """Read an Ed25519 private key: PEM (PKCS#8, unencrypted) or the raw 32-byte seed."""
    if len(data) == 32:
        return Ed25519PrivateKey.from_private_bytes(data)
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError("the key is not an Ed25519 private key")
    return key


def new_private_key_pem() -> bytes:
    """Make a new Ed25519 private key, as unencrypted PEM (PKCS#8)."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
