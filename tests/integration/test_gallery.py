"""Thumbnails the validator keeps of what the baseline and each submission drew."""

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from contest.baseline import ContestModels
from contest.definitions import day_inputs
from contest.judging.judge import judge
from contest.publish.gallery import MAX_SIDE, Gallery
from tests.support.days import IMAGE_SET_CONTEST


def pictures(count: int, side: int, seed: int = 0) -> list[np.ndarray]:
    """Flat colours, so a lossy thumbnail still shows which picture it is."""
    generator = np.random.default_rng(seed)
    return [np.full((side, side, 3), generator.integers(0, 256, 3), dtype=np.uint8) for _ in range(count)]


def test_keeps_the_first_pictures_in_input_order_and_lists_them_with_their_hashes(tmp_path: Path) -> None:
    gallery = Gallery(tmp_path, "2026-11-22-8", count=3)
    drawn = pictures(5, 128)
    gallery.keep("5Gk1jwj1fapP7x7idq5PPrZATm3n7KvFRiAJQkBuZRZGwRPY", drawn)
    listed = gallery.thumbnails("5Gk1jwj1fapP7x7idq5PPrZATm3n7KvFRiAJQkBuZRZGwRPY")
    assert [thumbnail.file for thumbnail in listed] == [
        f"2026-11-22-8/miners/5Gk1jwj1fapP7x7idq5PPrZATm3n7KvFRiAJQkBuZRZGwRPY/{index}.webp" for index in range(3)
    ]
    for thumbnail, picture in zip(listed, drawn, strict=False):
        path = tmp_path / thumbnail.file
        assert thumbnail.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        with Image.open(path) as image:
            assert image.format == "WEBP" and image.size == (128, 128)
            shown = np.asarray(image.convert("RGB"), dtype=np.int16)
        assert np.abs(shown - picture).max() <= 8


def test_large_pictures_shrink_to_the_thumbnail_size(tmp_path: Path) -> None:
    gallery = Gallery(tmp_path, "day")
    gallery.keep(None, pictures(1, 1024))
    (thumbnail,) = gallery.thumbnails(None)
    assert thumbnail.file == "day/baseline/0.webp"
    with Image.open(tmp_path / thumbnail.file) as image:
        assert image.size == (MAX_SIDE, MAX_SIDE)


def test_the_baseline_and_a_miner_never_share_a_folder_and_odd_keys_stay_inside(tmp_path: Path) -> None:
    gallery = Gallery(tmp_path, "day", count=1)
    gallery.keep(None, pictures(1, 16, seed=1))
    for key in ("baseline", "../../escape", "a/b"):
        gallery.keep(key, pictures(1, 16, seed=2))
    baseline = gallery.thumbnails(None)[0]
    files = {key: gallery.thumbnails(key)[0].file for key in ("baseline", "../../escape", "a/b")}
    assert baseline.file not in files.values() and len(set(files.values())) == 3
    for file in files.values():
        assert (tmp_path / file).resolve().is_relative_to((tmp_path / "day" / "miners").resolve())
    assert sorted(path.name for path in tmp_path.iterdir()) == ["day"]


def test_a_second_keep_replaces_the_pictures_and_nothing_half_written_is_left(tmp_path: Path) -> None:
    gallery = Gallery(tmp_path, "day", count=2)
    gallery.keep("miner", pictures(2, 32, seed=3))
    before = [thumbnail.sha256 for thumbnail in gallery.thumbnails("miner")]
    gallery.keep("miner", pictures(2, 32, seed=4))
    after = [thumbnail.sha256 for thumbnail in gallery.thumbnails("miner")]
    assert before != after and len(after) == 2
    assert sorted(path.name for path in (tmp_path / "day" / "miners" / "miner").iterdir()) == ["0.webp", "1.webp"]


def test_a_checkpoint_that_drew_nothing_has_no_thumbnails(tmp_path: Path) -> None:
    assert Gallery(tmp_path, "day").thumbnails("never-measured") == []


def test_a_day_with_nothing_to_measure_still_keeps_the_baselines_pictures(
    tiny_models: ContestModels, tmp_path: Path
) -> None:
    contest = IMAGE_SET_CONTEST  # what is kept, not how precisely it was timed
    gallery = Gallery(tmp_path, "day")
    inputs = day_inputs(contest, bytes(32))
    judged = judge(tiny_models, {}, contest, inputs, keep_images=gallery.keep)
    (control,) = judged.controls  # the A/A control runs whatever the day holds
    assert judged.judgements == {}
    assert len(judged.baseline.sample_seconds) == control.pairs >= contest.sampling.min_pairs
    thumbnails = gallery.thumbnails(None)
    assert len(thumbnails) == 4 and len({thumbnail.sha256 for thumbnail in thumbnails}) == 4  # four inputs
    for thumbnail in thumbnails:
        with Image.open(tmp_path / thumbnail.file) as image:
            assert image.size == (contest.generation.width, contest.generation.height)
