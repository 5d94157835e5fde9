"""Face to face: a later submission measured directly against an earlier one, which takes the baseline's place.

Each submission's own score drifts with the machine between runs minutes apart; side by side in one run that
drift cancels, so a copy is told from a faster model whatever their separate runs showed.
"""

from __future__ import annotations

from pathlib import Path

from contest.baseline import ContestModels
from contest.definitions import day_inputs
from contest.judging.judge import Judging
from tests.support.days import IMAGE_SET_CONTEST, nudged_copy

CONTEST = IMAGE_SET_CONTEST  # a copy and a model 1.6 times as fast are told apart on the image set alone
INPUTS = day_inputs(CONTEST, b"\x0b" * 32)
MINIMUM = CONTEST.minimum_improvement


def test_face_to_face_tells_a_faster_model_from_a_copy_of_the_earlier_one(
    tiny_models: ContestModels, tiny_checkpoint: Path, onnx_checkpoint: Path, tmp_path: Path
) -> None:
    nudged = nudged_copy(onnx_checkpoint, tmp_path / "nudged")
    with Judging(tiny_models, CONTEST, INPUTS) as judging:
        faster = judging.face_to_face("baseline", tiny_checkpoint, "onnx", onnx_checkpoint)
        copy = judging.face_to_face("onnx", onnx_checkpoint, "nudged", nudged)
    assert faster.later_stands_above(MINIMUM) and not faster.later_stands_below(MINIMUM), faster.summary
    assert faster.pairs >= CONTEST.sampling.min_pairs
    assert not copy.later_stands_above(MINIMUM) and not copy.later_stands_below(MINIMUM), copy.summary
    # The copy ties with its original: its interval reaches within the contest's tie margin of zero. A 95%
    # interval misses zero itself in one run of twenty even on a quiet machine, more on one that drifts.
    assert copy.score is not None and copy.score.low < CONTEST.tie_margin and copy.score.high > -CONTEST.tie_margin


def test_a_later_side_that_cannot_start_is_held_and_an_earlier_one_lets_it_stand(
    tiny_models: ContestModels, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()  # no model in it: its worker fails while loading
    with Judging(tiny_models, CONTEST, INPUTS) as judging:
        later_broken = judging.face_to_face("baseline", tiny_checkpoint, "broken", broken)
        earlier_broken = judging.face_to_face("broken", broken, "baseline", tiny_checkpoint)
    assert later_broken.score is None and not later_broken.earlier_failed
    assert later_broken.failed is not None and later_broken.failed.startswith("broken failed when measured again")
    assert not later_broken.later_stands_above(MINIMUM) and not later_broken.later_stands_below(MINIMUM)
    assert earlier_broken.earlier_failed and earlier_broken.later_stands_above(MINIMUM)
