from pathlib import Path

import numpy as np
import pytest

from base.energy import EnergyReading
from base.inputs import GenerationInput
from base.stats import ratio_ci
from contest.benchmark import SessionRequest, TimedImage, measure_alternately
from contest.definitions import get_contest
from contest.session import CheckpointSession
from pipelines.checkpoint_guard import CheckpointRefused

CONTEST = get_contest("tiny-sdxl-cpu")
INPUTS = tuple(GenerationInput(f"prompt {index}", index) for index in range(3))


class Recorder:
    """Stands in for a worker handle: records the order in which sides are asked for images."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    def generate(self, item: GenerationInput, timeout_s: float) -> TimedImage:
        self.log.append(self.name)
        return TimedImage(0.1, np.zeros((1, 1, 3), np.uint8), EnergyReading(None, "cpu"))


def test_alternation_is_abba_so_neither_side_always_goes_first() -> None:
    log: list[str] = []
    baseline, submission = measure_alternately(Recorder("A", log), Recorder("B", log), INPUTS * 2, 30)
    assert "".join(log) == "ABBABAAB" + "ABBA"
    assert len(baseline) == len(submission) == 6


def test_session_loads_then_generates_reproducibly(tiny_checkpoint: Path) -> None:
    session = CheckpointSession(SessionRequest(tiny_checkpoint, CONTEST.id, INPUTS[:2]))
    loaded = session.loaded()
    assert loaded.runtime == "diffusers" and loaded.load_seconds > 0 and loaded.warm_image_seconds > 0
    first, second = session.generate(INPUTS[2]), session.generate(INPUTS[2])
    assert np.array_equal(first.image, second.image) and first.image.shape == (128, 128, 3)
    assert first.energy.joules is None and "cpu" in first.energy.reason
    finished = session.finish()
    assert finished.memory.peak_bytes > 0 and finished.device.kind == "cpu"


def test_session_refuses_before_loading(tiny_checkpoint: Path, tmp_path: Path) -> None:
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_checkpoint, bad)
    (bad / "unet" / "weights.pt").write_bytes(b"pickle")
    with pytest.raises(CheckpointRefused, match=r"unet/weights\.pt"):
        CheckpointSession(SessionRequest(bad, CONTEST.id, INPUTS[:1]))


def test_paired_ratio_cancels_drift_shared_by_both_sides() -> None:
    drift = np.linspace(0.1, 0.3, 40)  # the machine slows down threefold during the run
    noise = np.random.default_rng(0).normal(1.0, 0.01, size=(2, 40))
    baseline, submission = drift * noise[0], drift * noise[1] / 1.2
    paired = ratio_ci(baseline, submission, paired=True)
    independent = ratio_ci(baseline, submission)
    assert paired.contains(1.2) and paired.half_width_fraction < independent.half_width_fraction
