"""What a contest is: the model, the device, the inputs, the options allowed and how it is judged.

Both contests share every code path; only these values differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from contest.inputs import PromptSource, derive_inputs
from pipelines.checkpoint_guard import CheckpointRefused, inspect_checkpoint
from pipelines.generation import GenerationInput, GenerationSettings
from pipelines.manifest import MANIFEST_NAME, DType, ExecutionProvider, Manifest, OnnxOptions, RuntimeName


@dataclass(frozen=True)
class ModelReference:
    """Where one of the contest's own models comes from: shipped in this package, built offline from a seed, or
    a pinned repository.

    ``shipped`` is a folder under ``contest/data`` (``path``) whose ``folder_digest`` is ``sha256``: the embedded
    default's trained models (``pipelines.tiny_world.train``). ``tiny-clip`` is an untrained tiny image encoder
    and ``full-size-sdxl`` SDXL's architecture at its published size, both with random weights, for device checks
    (``pipelines.full_sdxl``).
    """

    source: Literal["shipped", "tiny-clip", "full-size-sdxl", "huggingface"]
    seed: int = 0
    repository: str | None = None
    revision: str | None = None
    path: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class SimilarityGate:
    """How a submission's images are compared with the baseline's, and how close they must stay.

    Each image scores ``clip_weight`` times the cosine of the two images' CLIP embeddings plus the rest times
    their grayscale SSIM. A submission is out when its lowest score over the day's images falls below
    ``threshold`` (one broken picture) or their mean below ``mean_threshold`` (every picture a little off,
    none the worst). Both come from ``benchmarks/similarity_calibration.py`` (docs/scoring.md).
    """

    threshold: float
    mean_threshold: float
    clip_weight: float
    image_encoder: ModelReference


@dataclass(frozen=True)
class MetricWeights:
    """Exponents of each baseline/submission ratio in the score."""

    time: float = 1.0
    energy: float = 0.0
    memory: float = 0.0
    load: float = 0.0


@dataclass(frozen=True)
class SamplingPolicy:
    """How many pairs (one baseline image, one submission image) a comparison takes.

    Pairs come in ABBA blocks until the speed ratio's 95% interval over the pairs is as narrow as
    ``target_half_width`` (the worker spread, which more pairs cannot reduce, is added after), or already shows
    the decision, or a cap is reached. The first ``min_pairs`` inputs are the day's
    image set: every submission is judged for similarity and near-copies on exactly these.
    """

    min_pairs: int
    max_pairs: int
    target_half_width: float  # of the speed ratio's 95% interval, as a fraction of the ratio
    max_seconds: float  # wall seconds of timed pairs per comparison
    # The relative spread of the speed ratio between two workers of one checkpoint that no number of pairs
    # averages away (measured with benchmarks/null_submission.py); it is added to every ratio's interval.
    worker_spread: float = 0.0
    block_pairs: int = 4  # one ABBA block

    def __post_init__(self) -> None:
        if not 0 < self.min_pairs <= self.max_pairs:
            raise ValueError(f"pairs must satisfy 0 < min_pairs <= max_pairs, got {self.min_pairs}, {self.max_pairs}")
        if self.min_pairs % self.block_pairs or self.max_pairs % self.block_pairs:
            raise ValueError(f"min_pairs and max_pairs must be whole ABBA blocks of {self.block_pairs}")


@dataclass(frozen=True)
class ControlPolicy:
    """The A/A control: the baseline judged against an identical copy of itself.

    It runs when judging starts and again every ``interval_s``; the baseline's median inside it is the
    reference its time inside every other pair is checked against.
    """

    interval_s: float
    # The baseline may run this much slower beside a submission than in its reference, beyond the noise: the
    # slow-down's 95% interval must lie wholly above it before the submission is measured again.
    slowdown_tolerance: float
    # The relative spread of the baseline's median between runs minutes apart with nothing else changed (the
    # machine's own drift), added to the slow-down's interval; benchmarks/null_submission.py measures it.
    drift: float


@dataclass(frozen=True)
class LeaderPolicy:
    """How hard first place is to take: a challenger must score above the reigning leader's score today plus a
    margin that starts at ``start_margin`` and falls evenly to ``floor_margin`` over ``decay_days`` of its reign.

    A noise-sized edge (a later submission one tier above) cannot move first place day after day, and a leader
    that has held long enough can be passed by a small, real improvement.
    """

    start_margin: float = 0.05
    floor_margin: float = 0.01
    decay_days: int = 10

    def __post_init__(self) -> None:
        if not 0 <= self.floor_margin <= self.start_margin or self.decay_days < 1:
            raise ValueError(f"a leader margin falls from start to floor over at least one day: {self}")

    def margin(self, days_held: int) -> float:
        """The margin in force after the leader has held first place ``days_held`` days (0 on its first)."""
        if days_held >= self.decay_days:
            return self.floor_margin
        fallen = (self.start_margin - self.floor_margin) * max(days_held, 0) / self.decay_days
        return max(self.floor_margin, self.start_margin - fallen)


@dataclass(frozen=True)
class Contest:
    id: str
    description: str
    baseline: ModelReference
    device: str
    device_name: str | None
    default_dtype: DType
    generation: GenerationSettings
    sampling: SamplingPolicy
    control: ControlPolicy
    warmup_samples: int
    allowed_runtimes: tuple[RuntimeName, ...]
    # ONNX Runtime providers that run the work somewhere other than the contest's device, out of sight of its
    # memory and energy measures: a manifest may list them only after every provider that runs on the device.
    off_device_providers: tuple[ExecutionProvider, ...]
    metric_weights: MetricWeights
    similarity: SimilarityGate
    minimum_improvement: float  # weight only where the score's 95% interval lies wholly above this
    tie_margin: float  # scores closer than this (or than their noise) share a tier: the earliest commit leads
    no_winner_uid: int  # all weight goes here when no submission qualifies (uid 0: burned, as subnets commonly do)
    max_checkpoint_bytes: int
    load_timeout_s: float
    worker_memory_bytes: int  # resident memory a benchmark worker may use before it is killed
    # The CPU threads a checkpoint draws with (torch's and ONNX Runtime's intra-op pools, in its worker); None
    # leaves the libraries' default, one per core.
    cpu_threads: int | None = None
    leader: LeaderPolicy = LeaderPolicy()
    prompts: PromptSource = "words"
    opens_at: str = "12:00"
    timezone: str = "America/New_York"

    def __post_init__(self) -> None:
        if self.cpu_threads is not None and self.cpu_threads < 1:
            raise ValueError(f"contest {self.id!r}: cpu_threads must be at least 1 or None, got {self.cpu_threads}")


SDXL = Contest(
    id="sdxl-newdream-20",
    description="Stable Diffusion XL (newdream-sdxl-20) on an RTX 4090, fp16, 1024x1024, 20 steps",
    baseline=ModelReference(
        source="huggingface",
        repository="stablediffusionapi/newdream-sdxl-20",
        revision="4bdd502bca7abd1ea57ee12fba0b0f23052958cc",
    ),
    device="cuda",
    device_name="NVIDIA GeForce RTX 4090",
    default_dtype="float16",
    generation=GenerationSettings(width=1024, height=1024, steps=20, guidance_scale=5.0),
    sampling=SamplingPolicy(min_pairs=12, max_pairs=40, target_half_width=0.01, max_seconds=150.0, worker_spread=0.004),
    control=ControlPolicy(interval_s=3600.0, slowdown_tolerance=0.02, drift=0.01),
    warmup_samples=2,
    allowed_runtimes=("diffusers", "onnxruntime"),
    off_device_providers=("CPUExecutionProvider",),
    metric_weights=MetricWeights(time=1.0, energy=0.5, memory=0.25, load=0.1),
    similarity=SimilarityGate(
        threshold=0.85,
        mean_threshold=0.85,  # not yet calibrated on the 4090: the minimum's bar, which a mean always clears
        clip_weight=0.35,
        image_encoder=ModelReference(
            source="huggingface",
            repository="openai/clip-vit-large-patch14",
            revision="32bd64288804d66eefd0ccbe215aa642df71cc41",
        ),
    ),
    minimum_improvement=0.02,
    tie_margin=0.01,
    no_winner_uid=0,
    max_checkpoint_bytes=30 * 1024**3,
    load_timeout_s=120.0,  # with the pairs' cap, 256 submissions fit in a day (README, "How many pairs")
    worker_memory_bytes=32 * 1024**3,
)
# The SDXL contest's every setting, on a baseline and an image encoder built offline: what a device check runs
# where the Hub cannot be reached (benchmarks/device_check.py). Random weights: never a day that pays.
SDXL_OFFLINE = replace(
    SDXL,
    id="sdxl-offline-cuda",
    description="SDXL's architecture at full size with random weights (built offline), fp16, 1024x1024, 20 steps: "
    "for device checks on any CUDA device",
    baseline=ModelReference(source="full-size-sdxl", seed=0),
    device_name=None,
    similarity=replace(SDXL.similarity, image_encoder=ModelReference(source="tiny-clip", seed=0)),
)

# The embedded default's models as ``python -m pipelines.tiny_world.train`` wrote them (``folder_digest``).
TINY_BASELINE_SHA256 = "8c64e914b35c046cc17e81d4967d66790be39260d429f6b26e41fd369f722753"
TINY_IMAGE_ENCODER_SHA256 = "d8ba4d2f36f11161a46fec2da2b8be8a01e0bc96f8b0be27ef7a42c5a3eb0335"

_CONTESTS = (
    SDXL,
    SDXL_OFFLINE,
    Contest(
        id="tiny-sdxl-cpu",
        description="A tiny SDXL-architecture pipeline trained on a world of shapes, on one CPU thread, 128x128, "
        "8 steps",
        baseline=ModelReference(source="shipped", path="tiny-sdxl-cpu/baseline", sha256=TINY_BASELINE_SHA256),
        device="cpu",
        device_name=None,
        default_dtype="float32",
        generation=GenerationSettings(width=128, height=128, steps=8, guidance_scale=5.0),
        sampling=SamplingPolicy(
            min_pairs=12, max_pairs=64, target_half_width=0.03, max_seconds=60.0, worker_spread=0.02
        ),
        control=ControlPolicy(interval_s=300.0, slowdown_tolerance=0.10, drift=0.15),
        warmup_samples=4,
        allowed_runtimes=("diffusers", "onnxruntime"),
        # Empty: a cpu validator's ONNX Runtime (the CPU build) has only the CPU provider, so any list runs there.
        off_device_providers=(),
        metric_weights=MetricWeights(time=1.0, memory=0.1, load=0.05),
        similarity=SimilarityGate(
            # From the day image sets of 20 days (benchmarks/similarity_calibration.py, docs/scoring.md): the
            # minimum halfway between the highest day minimum of a case that must fail (0.713, two colour words
            # swapped) and the lowest of a recipe that keeps the pictures (0.752, 6 of 8 steps); the mean
            # halfway between noised UNet weights (0.876 at most) and the lowest such recipe (0.946, guidance
            # cut-off 0.5).
            threshold=0.73,
            mean_threshold=0.91,
            clip_weight=0.35,
            image_encoder=ModelReference(
                source="shipped", path="tiny-sdxl-cpu/image-encoder", sha256=TINY_IMAGE_ENCODER_SHA256
            ),
        ),
        minimum_improvement=0.05,
        # The machine's drift between runs (``control.drift``): on two validators over ten days one ONNX UNet
        # scored from +0.38 to +0.55 while each score's interval showed only its pairs' noise, and a copy of it
        # with a nudged weight cleared a 0.02 margin once (benchmarks/agreement.py).
        tie_margin=0.15,
        no_winner_uid=0,
        max_checkpoint_bytes=64 * 1024**2,
        load_timeout_s=30.0,  # loading and warming up takes about 2 s here
        worker_memory_bytes=2 * 1024**3,
        # On two cores a second thread draws the tiny model 7-15% faster for twice the CPU time, and A/A pairs
        # spread more (benchmarks/cpu_threads.py): one thread measures more steadily and leaves the other core to
        # the validator, its hosts and its encoder.
        cpu_threads=1,
        prompts="shape-world",
    ),
)

CONTESTS = MappingProxyType({contest.id: contest for contest in _CONTESTS})
DEFAULT_CONTEST_ID = "tiny-sdxl-cpu"


def get_contest(contest_id: str) -> Contest:
    try:
        return CONTESTS[contest_id]
    except KeyError:
        raise ValueError(f"unknown contest {contest_id!r}; known contests: {', '.join(CONTESTS)}") from None


def inspect_for_contest(folder: Path, contest: Contest) -> Manifest:
    """The checkpoint guard with this contest's limits: runtimes, size, steps and where ONNX Runtime may run."""
    manifest = inspect_checkpoint(
        folder, contest.allowed_runtimes, contest.max_checkpoint_bytes, contest.generation.steps
    )
    if manifest.runtime == "onnxruntime":
        _check_providers((manifest.onnx or OnnxOptions()).providers, contest)
    return manifest


def _check_providers(providers: Sequence[str], contest: Contest) -> None:
    """Refuse a providers list that would move work off the contest's device.

    Work moved to the CPU on a cuda contest is still timed, but NVML sees neither its memory nor its energy, so
    a slower checkpoint could still score as a leaner and more frugal one.
    """
    off_device = contest.off_device_providers
    on_device = [index for index, name in enumerate(providers) if name not in off_device]
    if not on_device:
        raise CheckpointRefused(
            MANIFEST_NAME,
            f"onnx.providers {list(providers)} has no provider that runs on this contest's device ({contest.device})",
        )
    ahead = [name for name in providers[: on_device[-1]] if name in off_device]
    if ahead:
        raise CheckpointRefused(
            MANIFEST_NAME,
            f"onnx.providers lists {ahead[0]} ahead of {providers[on_device[-1]]}: on this contest every provider "
            f"that runs on its device ({contest.device}) comes first, so that no work moves off it",
        )


def day_inputs(contest: Contest, block_hash: bytes) -> tuple[GenerationInput, ...]:
    """Every input a day opened at ``block_hash`` may need: one per pair, up to the contest's cap.

    The one derivation for the validator (the opening block's hash) and the miner's self-check (a recent one).
    """
    return derive_inputs(block_hash, contest.id, contest.sampling.max_pairs, contest.prompts)
