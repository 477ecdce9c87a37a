"""PAI's brand images: the brands repository's rules, and Home Assistant really serving them."""

from __future__ import annotations

from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from PIL import Image
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

BRAND = Path(__file__).parent.parent / "custom_components" / "pai" / "brand"
ICONS = {"icon.png": 256, "icon@2x.png": 512}
LOGOS = {
    "logo.png": (128, 256),
    "logo@2x.png": (256, 512),
    "dark_logo.png": (128, 256),
    "dark_logo@2x.png": (256, 512),
}


@pytest.mark.parametrize(("name", "side"), ICONS.items())
def test_icons_are_square_transparent_and_trimmed(name: str, side: int) -> None:
    with Image.open(BRAND / name) as image:
        assert image.format == "PNG"
        assert image.size == (side, side)
        assert image.mode == "RGBA"
        alpha = image.getchannel("A")
        assert alpha.getpixel((0, 0)) == 0  # transparent background
        left, top, right, bottom = alpha.getbbox() or (0, 0, 0, 0)
        assert (right - left == side) or (bottom - top == side)  # no margin


@pytest.mark.parametrize(("name", "shortest"), LOGOS.items())
def test_logos_are_landscape_within_the_size_limits(
    name: str, shortest: tuple[int, int]
) -> None:
    with Image.open(BRAND / name) as image:
        assert image.format == "PNG"
        assert image.mode == "RGBA"
        width, height = image.size
        assert width > height
        assert shortest[0] <= height <= shortest[1]
        assert image.getchannel("A").getbbox() == (0, 0, width, height)


async def test_home_assistant_serves_the_icon_from_the_integration(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    assert await async_setup_component(hass, "brands", {})
    client = await hass_client()

    for name in ("icon.png", "dark_logo@2x.png"):
        response = await client.get(f"/api/brands/integration/pai/{name}")
        assert response.status == 200
        assert await response.read() == (BRAND / name).read_bytes()
