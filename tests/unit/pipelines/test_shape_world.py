"""The shape world: scenes from seeds, sentences that read back into their scenes, pictures that show them."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from pipelines.shape_world import (
    COLOURS,
    PLACES,
    SHAPES,
    SIZES,
    Scene,
    Shape,
    dominant_colour,
    main,
    parse_prompt,
    render,
    scenes,
)

SIZE = 128


def pixels_of(picture: np.ndarray, colour: str) -> np.ndarray:
    """Where the picture is exactly ``colour`` (PIL draws without smoothing): (row, column) pairs."""
    return np.argwhere((picture == np.array(COLOURS[colour], dtype=np.uint8)).all(axis=-1))


def test_a_seed_gives_the_same_scenes_and_the_same_pictures() -> None:
    first, again = scenes(7, 20), scenes(7, 20)
    assert first == again and first != scenes(8, 20)
    assert all(render(a, SIZE).tobytes() == render(b, SIZE).tobytes() for a, b in zip(first, again, strict=True))


def test_the_worked_example_reads_as_it_is_written() -> None:
    prompt = "a small red star at the top left and a large green circle at the bottom right on an orange background"
    assert parse_prompt(prompt) == Scene(
        (Shape("star", "red", "small", "at the top left"), Shape("circle", "green", "large", "at the bottom right")),
        "orange",
    )
    assert parse_prompt(prompt).prompt == prompt


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_every_scene_reads_back_from_its_sentence(seed: int) -> None:
    for scene in scenes(seed, 10):
        assert parse_prompt(scene.prompt) == scene


def test_scenes_cover_the_grammar_and_keep_shapes_apart_from_the_background_and_each_other() -> None:
    drawn = scenes(0, 600)
    assert len(COLOURS) >= 8 and len(SHAPES) >= 5
    shapes = [shape for scene in drawn for shape in scene.shapes]
    assert {s.kind for s in shapes} == set(SHAPES) and {s.colour for s in shapes} == set(COLOURS)
    assert {s.size for s in shapes} == set(SIZES) and {s.place for s in shapes} == set(PLACES)
    assert set(Counter(len(scene.shapes) for scene in drawn)) == {1, 2}
    assert {scene.background for scene in drawn} == set(COLOURS)
    for scene in drawn:
        assert all(shape.colour != scene.background for shape in scene.shapes)
        assert len({shape.place for shape in scene.shapes}) == len(scene.shapes)
        assert len(scene.shapes) == 1 or all(shape.place != "in the middle" for shape in scene.shapes)


def test_shapes_of_two_never_overlap() -> None:
    for scene in scenes(1, 300):
        if len(scene.shapes) == 2:
            picture = np.asarray(render(scene, SIZE))
            first, second = (Scene((shape,), scene.background) for shape in scene.shapes)
            alone = [len(pixels_of(np.asarray(render(one, SIZE)), one.shapes[0].colour)) for one in (first, second)]
            together = sum(len(pixels_of(picture, shape.colour)) for shape in scene.shapes)
            assert together == sum(alone) or scene.shapes[0].colour == scene.shapes[1].colour


@pytest.mark.parametrize("kind", SHAPES)
@pytest.mark.parametrize("place", list(PLACES))
def test_a_shape_is_drawn_in_its_colour_where_the_sentence_puts_it(kind: str, place: str) -> None:
    scene = Scene((Shape(kind, "orange", "small", place),), "purple")
    picture = np.asarray(render(scene, SIZE))
    drawn = pixels_of(picture, "orange")
    assert len(drawn) + len(pixels_of(picture, "purple")) == SIZE * SIZE  # nothing but the two colours
    row, column = drawn.mean(axis=0) / SIZE
    want_column, want_row = PLACES[place]
    assert abs(row - want_row) < 0.06 and abs(column - want_column) < 0.06, (row, column)
    assert dominant_colour(picture, "purple") == "orange"


@pytest.mark.parametrize("kind", SHAPES)
def test_a_large_shape_covers_more_than_a_small_one(kind: str) -> None:
    def area(size: str) -> int:
        picture = np.asarray(render(Scene((Shape(kind, "white", size, "in the middle"),), "black"), SIZE))
        return len(pixels_of(picture, "white"))

    assert area("large") > 2 * area("small") > 0


def test_the_dominant_colour_is_the_larger_shapes_and_none_on_a_blank_picture() -> None:
    larger = Shape("square", "cyan", "large", "at the top left")
    smaller = Shape("ring", "red", "small", "in the middle")
    scene = Scene((smaller, larger), "white")
    assert dominant_colour(np.asarray(render(scene, SIZE)), "white") == "cyan"
    assert dominant_colour(np.asarray(render(Scene((), "green"), SIZE)), "green") is None


@pytest.mark.parametrize(
    "prompt, message",
    [
        ("a red star", "not a sentence of the shape world"),
        ("a tiny red star at the top left on a blue background", "not a shape of the shape world"),
        ("a small red hexagon in the middle on a blue background", "not a shape of the shape world"),
        (
            " and ".join(["a small red star in the middle"] * 3) + " on a blue background",
            "a scene has 1 to 2 shapes, not 3",
        ),
    ],
)
def test_a_sentence_outside_the_grammar_is_refused(prompt: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_prompt(prompt)


def test_the_contact_sheet_command_draws_the_seeds_scenes_and_lists_their_prompts(tmp_path, capsys) -> None:
    output = tmp_path / "sheet.png"
    assert main(["--seed", "5", "--count", "6", "--size", "64", "--output", str(output)]) == 0
    printed = capsys.readouterr().out.splitlines()
    drawn = scenes(5, 6)
    assert printed[:6] == [f"{index:3d}  {scene.prompt}" for index, scene in enumerate(drawn)]
    sheet = np.asarray(Image.open(output))
    assert sheet.shape == (2 * 64, 4 * 64, 3)
    assert (sheet[64:128, 64:128] == np.asarray(render(drawn[5], 64))).all()  # the sixth: second row, second column
