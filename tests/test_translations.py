"""Every translation says everything en.json says, with the same placeholders.

A missing key shows the English text (or the raw key) in the middle of a Chinese UI; a
missing or renamed placeholder makes Home Assistant fail to format the message at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
import json
from pathlib import Path
import re
from typing import Any

import pytest

TRANSLATIONS = (
    Path(__file__).parent.parent / "custom_components" / "pai" / "translations"
)
LANGUAGES = sorted(p.stem for p in TRANSLATIONS.glob("*.json") if p.stem != "en")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
HAN = re.compile(r"[\u4e00-\u9fff]")
NAMES = {
    "Anthropic",
    "Claude",
    "Home",
    "Assistant",
    "OpenAI",
    "GGUF",
    "LLM",
    "API",
    "PAI",
}


def flat(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        if isinstance(value, Mapping):
            yield from flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def strings(language: str) -> dict[str, Any]:
    return dict(
        flat(json.loads((TRANSLATIONS / f"{language}.json").read_text("utf-8")))
    )


def test_traditional_chinese_is_shipped() -> None:
    assert "zh-Hant" in LANGUAGES


@pytest.mark.parametrize("language", LANGUAGES)
def test_same_keys_as_english(language: str) -> None:
    english, other = strings("en"), strings(language)
    missing = sorted(set(english) - set(other))
    extra = sorted(set(other) - set(english))
    assert not missing, f"{language}.json lacks: {missing}"
    assert not extra, f"{language}.json has keys en.json no longer has: {extra}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_same_placeholders_and_no_empty_strings(language: str) -> None:
    english, other = strings("en"), strings(language)
    for key, text in other.items():
        assert isinstance(text, str), key
        assert text.strip(), f"{language}.json: {key} is empty"
        if key in english:
            assert set(PLACEHOLDER.findall(text)) == set(
                PLACEHOLDER.findall(english[key])
            ), f"{language}.json: {key} has other placeholders than en.json"


def test_chinese_is_chinese() -> None:
    """Every sentence is translated (not English copied over), in traditional characters."""
    english, chinese = strings("en"), strings("zh-Hant")
    untranslated = [  # copied English; names (Anthropic Claude) may stay as they are
        key
        for key, text in chinese.items()
        if text == english.get(key)
        and set(re.findall(r"[A-Za-z]{2,}", PLACEHOLDER.sub("", text))) - NAMES
    ]
    assert not untranslated, untranslated
    simplified = "这个们为设动执记录请时间实体无从过议"  # simplified-only forms
    assert not [key for key, text in chinese.items() if set(text) & set(simplified)]
    assert sum(bool(HAN.search(text)) for text in chinese.values()) > 0.9 * len(chinese)
