from pathlib import Path

import numpy as np
import pytest

from base.isolation import WorkerTimeout
from base.measure import EnergyReading, ratio_ci
from contest.definitions import SamplingPolicy, get_contest
from contest.judging.checkpoint_worker import SessionRequest, TimedImage
from contest.judging.pairing import BaselineFailed, Stop, measure_pairs
from contest.judging.worker_session import CheckpointSession
from pipelines.checkpoint_guard import CheckpointRefused
from pipelines.generation import GenerationInput

CONTEST = get_contest("tiny-sdxl-cpu")
INPUTS = tuple(GenerationInput(f"prompt {index}", index) for index in range(3))


class Recorder:
    """Stands in for a worker handle: records which side is asked for images and which is frozen meanwhile."""

    def __init__(self, name: str, log: list[str], seconds: float = 0.1) -> None:
        self.name, self.log, self.seconds = name, log, seconds

    def freeze(self) -> None:
        self.log.append(self.name.lower())

    def generate(self, item: GenerationInput, timeout_s: float) -> TimedImage:
        self.log.append(self.name)
        return TimedImage(self.seconds, np.full((1, 1, 3), int(item.seed), np.uint8), EnergyReading(None, "cpu"))


MANY = tuple(GenerationInput(f"prompt {index}", index) for index in range(16))
SAMPLING = SamplingPolicy(min_pairs=8, max_pairs=16, target_half_width=0.03, max_seconds=60.0)


def test_pairs_are_abba_with_the_other_side_frozen_and_only_the_day_set_of_images_kept() -> None:
    log: list[str] = []
    run = measure_pairs(Recorder("A", log), Recorder("B", log), MANY, SAMPLING, 30, lambda *_: Stop.PRECISE)
    block = "bAaB" + "aBbA" + "aBbA" + "bAaB"  # before each image, the other side is frozen
    assert "".join(log) == block  # one ABBA block: the decider is asked after each block
    assert run.pairs == 4 and run.stop is Stop.PRECISE
    assert len(run.baseline.images) == len(run.submission.images) == 4


def test_sampling_goes_on_block_by_block_until_decided_or_capped() -> None:
    asked: list[int] = []

    def undecided(baseline, other) -> Stop | None:
        asked.append(len(baseline.seconds))
        return None

    run = measure_pairs(Recorder("A", []), Recorder("B", []), MANY, SAMPLING, 30, undecided)
    assert asked == [4, 8, 12, 16] and run.stop is Stop.PAIR_CAP and run.pairs == 16
    assert len(run.baseline.images) == 8 and len(run.baseline.seconds) == 16  # later images are timed, not kept


def test_the_time_cap_stops_sampling_at_a_block_end() -> None:
    ticks = iter([0.0, 5.0, 11.0])  # the start, then the end of each block
    quick = SamplingPolicy(min_pairs=4, max_pairs=16, target_half_width=0.03, max_seconds=10.0)
    run = measure_pairs(Recorder("A", []), Recorder("B", []), MANY, quick, 30, lambda *_: None, lambda: next(ticks))
    assert run.stop is Stop.TIME_CAP and run.pairs == 8


def test_the_time_cap_never_stops_a_run_before_the_days_image_set_is_complete() -> None:
    ticks = iter([0.0, 100.0])  # the start, then long past the cap at the end of the first block that may stop
    run = measure_pairs(Recorder("A", []), Recorder("B", []), MANY, SAMPLING, 30, lambda *_: None, lambda: next(ticks))
    assert run.stop is Stop.TIME_CAP and run.pairs == SAMPLING.min_pairs == len(run.baseline.images)


def test_a_failure_of_the_baseline_side_is_the_validators_never_the_submissions() -> None:
    class Failing(Recorder):
        def generate(self, item: GenerationInput, timeout_s: float) -> TimedImage:
            raise WorkerTimeout("generate exceeded its 30 s limit and the worker was killed")

    with pytest.raises(BaselineFailed, match="the baseline failed: generate exceeded"):
        measure_pairs(Failing("A", []), Recorder("B", []), MANY, SAMPLING, 30, lambda *_: None)
    with pytest.raises(WorkerTimeout) as raised:
        measure_pairs(Recorder("A", []), Failing("B", []), MANY, SAMPLING, 30, lambda *_: None)
    assert not isinstance(raised.value, BaselineFailed)


def test_too_few_inputs_for_the_cap_is_an_error() -> None:
    with pytest.raises(ValueError, match="16 pairs need as many inputs"):
        measure_pairs(Recorder("A", []), Recorder("B", []), MANY[:8], SAMPLING, 30, lambda *_: None)


def test_sampling_must_come_in_whole_abba_blocks() -> None:
    with pytest.raises(ValueError, match="whole ABBA blocks"):
        SamplingPolicy(min_pairs=10, max_pairs=40, target_half_width=0.01, max_seconds=1.0)


def test_session_loads_then_generates_reproducibly(tiny_checkpoint: Path) -> None:
    session = CheckpointSession(SessionRequest(tiny_checkpoint, CONTEST.id, INPUTS[:2]))
    loaded = session.loaded()
    assert loaded.runtime == "diffusers" and loaded.load_seconds > 0 and loaded.warm_image_seconds > 0
    assert loaded.device.kind == "cpu"
    first, second = session.generate(INPUTS[2]), session.generate(INPUTS[2])
    assert np.array_equal(first.image, second.image) and first.image.shape == (128, 128, 3)
    assert first.energy.joules is None and "cpu" in first.energy.reason
    so_far = session.memory()
    assert session.finish().peak_bytes >= so_far.peak_bytes > 0


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
