"""Set-up shared by the tests that run contest days: submissions that are not the baseline, chains at an opening."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from contest.day.schedule import next_opening
from contest.definitions import get_contest
from tests.support.image_set import ONE_BLOCK, image_set_only
from tests.support.in_process_substrate import InProcessSubstrate

CONTEST = get_contest("tiny-sdxl-cpu")
IMAGE_SET_CONTEST = image_set_only(CONTEST)  # for the tests that read which model is faster
ONE_BLOCK_CONTEST = image_set_only(CONTEST, ONE_BLOCK)  # for those that read whether, where and how often
VAE_WEIGHTS = Path("vae") / "diffusion_pytorch_model.safetensors"


class HeldClock:
    """Wall time that moves only when the test says so."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now.timestamp()


def nudge_output(folder: Path, shift: float) -> Path:
    """Shift the VAE's output a little: a model of its own (other images, well within the similarity gate) that
    is exactly as fast as the baseline, so it is valid and never significant."""
    weights_file = folder / VAE_WEIGHTS
    weights = load_file(weights_file)
    weights["decoder.conv_out.bias"] = weights["decoder.conv_out.bias"] + np.float32(shift)
    save_file(weights, weights_file)
    return folder


def nudged_copy(source: Path, destination: Path, shift: float = 0.01) -> Path:
    shutil.copytree(source, destination)
    return nudge_output(destination, shift)


def substrate_before_opening(minutes: float = 10.0, **options: object) -> InProcessSubstrate:
    """An in-process chain whose head is ``minutes`` before the contest's next opening time."""
    opening = next_opening(CONTEST, datetime.now(UTC))
    return InProcessSubstrate(head_time=opening - timedelta(minutes=minutes), **options)


def past_the_opening(substrate: InProcessSubstrate, minutes: float = 10.0) -> None:
    """Produce blocks until the head is ``minutes`` past the opening that ``substrate_before_opening`` faced."""
    head = substrate.timestamp_of(substrate.block)
    opening = next_opening(CONTEST, head)
    substrate.advance(int(((opening - head).total_seconds() + 60 * minutes) / substrate.block_seconds) + 1)
