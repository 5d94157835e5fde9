"""A world of shapes to teach the embedded contest's tiny pipeline to draw what it is told.

Each scene is one or two shapes of a colour, a size and a place on a plain background, drawn with PIL, and
described by a sentence of a small grammar: "a small red star at the top left on a blue background". Scenes
come from a seed, so the pictures, the sentences and anything trained on them are the same on every machine;
``parse_prompt`` reads a sentence back into its scene, so a picture can be checked against what it was asked.

    python -m pipelines.shape_world --seed 0 --count 16 --output shape-world.png   # a look at the world
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "star", "ring", "cross")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "orange": (245, 140, 20),
    "yellow": (240, 220, 40),
    "green": (40, 170, 60),
    "cyan": (40, 200, 210),
    "blue": (40, 70, 210),
    "purple": (140, 50, 180),
    "pink": (245, 130, 190),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
SIZES = {"small": 0.22, "large": 0.4}  # the shape's width as a share of the picture's
PLACES = {  # where the shape's centre is, as shares of the width and the height
    "at the top left": (0.27, 0.27),
    "at the top right": (0.73, 0.27),
    "at the bottom left": (0.27, 0.73),
    "at the bottom right": (0.73, 0.73),
    "in the middle": (0.5, 0.5),
}
CORNERS = tuple(place for place in PLACES if place != "in the middle")  # two shapes keep apart: corners only
MAX_SHAPES = 2


@dataclass(frozen=True)
class Shape:
    kind: str
    colour: str
    size: str
    place: str

    @property
    def phrase(self) -> str:
        return f"a {self.size} {self.colour} {self.kind} {self.place}"


@dataclass(frozen=True)
class Scene:
    shapes: tuple[Shape, ...]
    background: str

    @property
    def prompt(self) -> str:
        return f"{' and '.join(shape.phrase for shape in self.shapes)} on {_article(self.background)} background"


def grammar_words() -> tuple[str, ...]:
    """Every word a sentence of the grammar can use, in a fixed order."""
    fixed = ("a", "an", "and", "on", "background", *SIZES, *COLOURS, *SHAPES)
    return tuple(dict.fromkeys(fixed + tuple(word for place in PLACES for word in place.split())))


def _article(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def random_scene(rng: np.random.Generator) -> Scene:
    """One shape anywhere, or two in different corners, each of a colour other than the background's."""
    background = str(rng.choice(list(COLOURS)))
    colours = [colour for colour in COLOURS if colour != background]
    count = int(rng.integers(1, MAX_SHAPES + 1))
    places = rng.permutation(list(PLACES) if count == 1 else list(CORNERS))
    shapes = tuple(
        Shape(str(rng.choice(SHAPES)), str(rng.choice(colours)), str(rng.choice(list(SIZES))), str(places[index]))
        for index in range(count)
    )
    return Scene(shapes, background)


def scenes(seed: int, count: int) -> list[Scene]:
    rng = np.random.default_rng(seed)
    return [random_scene(rng) for _ in range(count)]


_PHRASE = re.compile(
    rf"a ({'|'.join(SIZES)}) ({'|'.join(COLOURS)}) ({'|'.join(SHAPES)}) ({'|'.join(PLACES)})",
)
_SENTENCE = re.compile(rf"(?P<shapes>.+) on an? (?P<background>{'|'.join(COLOURS)}) background")


def parse_prompt(prompt: str) -> Scene:
    """The scene a sentence of the grammar describes; anything else is a ``ValueError``."""
    sentence = _SENTENCE.fullmatch(prompt)
    if sentence is None:
        raise ValueError(f"not a sentence of the shape world: {prompt!r}")
    shapes = []
    for phrase in sentence["shapes"].split(" and "):
        match = _PHRASE.fullmatch(phrase)
        if match is None:
            raise ValueError(f"not a shape of the shape world: {phrase!r}")
        size, colour, kind, place = match.groups()
        shapes.append(Shape(kind, colour, size, place))
    if not 1 <= len(shapes) <= MAX_SHAPES:
        raise ValueError(f"a scene has 1 to {MAX_SHAPES} shapes, not {len(shapes)}: {prompt!r}")
    return Scene(tuple(shapes), sentence["background"])


def render(scene: Scene, size: int) -> Image.Image:
    """The scene as an RGB picture of ``size`` by ``size`` pixels."""
    picture = Image.new("RGB", (size, size), COLOURS[scene.background])
    draw = ImageDraw.Draw(picture)
    for shape in scene.shapes:
        _draw(draw, shape, size)
    return picture


def _draw(draw: ImageDraw.ImageDraw, shape: Shape, size: int) -> None:
    fill = COLOURS[shape.colour]
    x, y = (share * size for share in PLACES[shape.place])
    r = SIZES[shape.size] * size / 2
    box = (x - r, y - r, x + r, y + r)
    if shape.kind == "circle":
        draw.ellipse(box, fill=fill)
    elif shape.kind == "square":
        draw.rectangle(box, fill=fill)
    elif shape.kind == "triangle":
        draw.polygon([(x, y - r), (x + r, y + r), (x - r, y + r)], fill=fill)
    elif shape.kind == "star":
        points = [
            (x + radius * math.sin(math.pi * k / 5), y - radius * math.cos(math.pi * k / 5))
            for k, radius in enumerate([r, r * 0.45] * 5)
        ]
        draw.polygon(points, fill=fill)
    elif shape.kind == "ring":
        draw.ellipse(box, outline=fill, width=max(2, round(r * 0.35)))
    elif shape.kind == "cross":
        arm = r * 0.33
        draw.rectangle((x - r, y - arm, x + r, y + arm), fill=fill)
        draw.rectangle((x - arm, y - r, x + arm, y + r), fill=fill)
    else:
        raise ValueError(f"no shape {shape.kind!r} in the shape world")


def nearest_colours(picture: np.ndarray) -> np.ndarray:
    """Each pixel's nearest colour of the world, as its index in ``COLOURS``."""
    palette = np.array(list(COLOURS.values()), dtype=np.float32)
    distances = ((picture[..., None, :].astype(np.float32) - palette) ** 2).sum(axis=-1)
    return distances.argmin(axis=-1)


def dominant_colour(picture: np.ndarray, background: str) -> str | None:
    """The world's colour that most pixels other than the background's are nearest to (None: there are none)."""
    names = list(COLOURS)
    counts = np.bincount(nearest_colours(picture).ravel(), minlength=len(names))
    counts[names.index(background)] = 0
    return names[int(counts.argmax())] if counts.any() else None


def contact_sheet(scenes_drawn: list[Scene], size: int, columns: int = 4) -> Image.Image:
    """The scenes' pictures in rows of ``columns``, to look the world over."""
    rows = math.ceil(len(scenes_drawn) / columns)
    sheet = Image.new("RGB", (columns * size, rows * size), COLOURS["white"])
    for index, scene in enumerate(scenes_drawn):
        sheet.paste(render(scene, size), ((index % columns) * size, (index // columns) * size))
    return sheet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Draw the shape world's scenes on a contact sheet, with their prompts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--size", type=int, default=128, help="pixels a side of each picture (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=Path("shape-world.png"))
    args = parser.parse_args(argv)
    drawn = scenes(args.seed, args.count)
    contact_sheet(drawn, args.size).save(args.output)
    for index, scene in enumerate(drawn):
        print(f"{index:3d}  {scene.prompt}")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
