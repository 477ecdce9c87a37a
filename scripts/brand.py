"""Draw PAI's brand images into custom_components/pai/brand/ (run: scripts/run python scripts/brand.py).

Home Assistant (2026.3+) serves a custom integration's own brand/ folder. The images follow
the brands repository's rules: PNG with a transparent background, trimmed to the artwork;
icons square, 256x256 (icon@2x 512x512); logos landscape, shortest side 128-256 px (@2x
256-512 px); dark_ variants where the light ones would vanish on a dark background.

The mark is geometric (a house outline around a shield with a check: a home that acts, but
governed) and the letters are drawn as strokes, so no font is needed and the output does not
depend on what is installed.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent.parent / "custom_components" / "pai" / "brand"
BLUE = (3, 169, 244, 255)  # Home Assistant's primary blue
WHITE = (255, 255, 255, 255)
INK = (33, 33, 33, 255)  # text on light backgrounds
PAPER = (230, 230, 230, 255)  # text on dark backgrounds
SCALE = 4  # draw large, then shrink: smooth edges without a font renderer
UNIT = 1024  # the mark's design grid, before trimming


def mark() -> Image.Image:
    """Return the house-and-shield mark on a transparent square (UNIT * SCALE), trimmed."""
    size = UNIT * SCALE
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)

    def at(x: float, y: float) -> tuple[float, float]:
        return x * SCALE, y * SCALE

    stroke = 84 * SCALE
    house = [at(150, 470), at(512, 110), at(874, 470), at(874, 930), at(150, 930)]
    draw.line([*house, house[0], house[1]], fill=BLUE, width=stroke, joint="curve")
    for x, y in (house[0], house[2], house[3], house[4], house[1]):
        r = stroke / 2
        draw.ellipse((x - r, y - r, x + r, y + r), fill=BLUE)
    shield = [
        at(350, 470),
        at(512, 420),
        at(674, 470),
        at(674, 640),
        at(620, 760),
        at(512, 840),
        at(404, 760),
        at(350, 640),
    ]
    draw.polygon(shield, fill=BLUE)
    check = [at(430, 625), at(495, 690), at(605, 555)]
    draw.line(check, fill=WHITE, width=46 * SCALE, joint="curve")
    for x, y in (check[0], check[2]):
        r = 23 * SCALE
        draw.ellipse((x - r, y - r, x + r, y + r), fill=WHITE)
    return trimmed(image)


def letters(height: int, color: tuple[int, int, int, int]) -> Image.Image:
    """Return "PAI" drawn with strokes, `height` px tall (at SCALE), trimmed."""
    h = height
    w = round(h * 0.16)  # stroke width
    r = w / 2
    image = Image.new("RGBA", (round(h * 2.4), h + w), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)

    def stroke(*points: tuple[float, float]) -> None:
        draw.line(points, fill=color, width=w, joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=color)

    top, bottom = r, h + r - w / 2
    # P: a stem, and a bowl (two bars joined by a half circle) on its upper half
    x = r
    radius = (bottom - top) * 0.28
    joint = x + radius * 0.7  # where the bars meet the half circle
    stroke((x, bottom), (x, top))
    stroke((x, top), (joint, top))
    stroke((x, top + 2 * radius), (joint, top + 2 * radius))
    centre = top + radius
    draw.arc(
        (
            joint - radius - r,
            centre - radius - r,
            joint + radius + r,
            centre + radius + r,
        ),
        start=270,
        end=90,
        fill=color,
        width=w,
    )
    # A: two legs and a bar
    left = joint + radius + w * 1.9
    apex = left + (bottom - top) * 0.36
    right = apex + (bottom - top) * 0.36
    stroke((left, bottom), (apex, top), (right, bottom))
    bar = top + (bottom - top) * 0.64
    stroke(
        (left + (apex - left) * 0.36, bar),
        (right - (right - apex) * 0.36, bar),
    )
    # I: a stem
    stem = right + w * 1.8
    stroke((stem, top), (stem, bottom))
    return trimmed(image)


def trimmed(image: Image.Image) -> Image.Image:
    """Return `image` cropped to what is drawn (the brands repository wants no margin)."""
    box = image.getchannel("A").getbbox()
    if box is None:
        raise ValueError("nothing was drawn")
    return image.crop(box)


def squared(image: Image.Image) -> Image.Image:
    """Return `image` centred on a transparent square as wide as its longer side."""
    side = max(image.size)
    square = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return square


def logo(icon: Image.Image, text: tuple[int, int, int, int]) -> Image.Image:
    """Return the mark with "PAI" on its right, as one landscape image at SCALE."""
    word = letters(round(icon.height * 0.56), text)
    gap = round(icon.height * 0.14)
    image = Image.new(
        "RGBA", (icon.width + gap + word.width, icon.height), (0, 0, 0, 0)
    )
    image.paste(icon, (0, 0))
    image.paste(word, (icon.width + gap, icon.height - word.height), word)
    return image


def save(image: Image.Image, name: str, *, height: int) -> None:
    """Shrink `image` to `height` px tall and write it as an optimised PNG."""
    width = round(image.width * height / image.height)
    small = image.resize((width, height), Image.Resampling.LANCZOS)
    small.save(OUT / name, optimize=True)
    print(f"{name}: {width}x{height}")  # noqa: T201


def main() -> None:
    """Write the icons and logos (light and dark) into the integration's brand folder."""
    OUT.mkdir(exist_ok=True)
    drawn = mark()
    icon = squared(drawn)
    save(icon, "icon.png", height=256)
    save(icon, "icon@2x.png", height=512)
    for prefix, text in (("", INK), ("dark_", PAPER)):
        image = logo(drawn, text)
        save(image, f"{prefix}logo.png", height=256)
        save(image, f"{prefix}logo@2x.png", height=512)


if __name__ == "__main__":
    main()
