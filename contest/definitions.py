"""What a contest is: the model, the device, the inputs, the options allowed and how it is judged.

Both contests share every code path; only these values differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from pipelines.generation import GenerationSettings
from pipelines.manifest import DType, RuntimeName


@dataclass(frozen=True)
class BaselineReference:
    """Where the baseline comes from: built offline from a seed, or a Hugging Face repository."""

    source: Literal["tiny-sdxl", "huggingface"]
    seed: int = 0
    repository: str | None = None
    revision: str | None = None


@dataclass(frozen=True)
class MetricWeights:
    """Exponents of each baseline/submission ratio in the score."""

    time: float = 1.0
    energy: float = 0.0
    memory: float = 0.0
    load: float = 0.0


@dataclass(frozen=True)
class Contest:
    id: str
    description: str
    baseline: BaselineReference
    device: str
    device_name: str | None
    default_dtype: DType
    generation: GenerationSettings
    timed_samples: int
    warmup_samples: int
    allowed_runtimes: tuple[RuntimeName, ...]
    metric_weights: MetricWeights
    similarity_threshold: float
    max_checkpoint_bytes: int
    load_timeout_s: float
    worker_memory_bytes: int  # resident memory a benchmark worker may use before it is killed
    opens_at: str = "12:00"
    timezone: str = "America/New_York"


_CONTESTS = (
    Contest(
        id="sdxl-newdream-20",
        description="Stable Diffusion XL (newdream-sdxl-20) on an RTX 4090, fp16, 1024x1024, 20 steps",
        baseline=BaselineReference(
            source="huggingface", repository="stablediffusionapi/newdream-sdxl-20", revision="main"
        ),
        device="cuda",
        device_name="NVIDIA GeForce RTX 4090",
        default_dtype="float16",
        generation=GenerationSettings(width=1024, height=1024, steps=20, guidance_scale=5.0),
        timed_samples=10,
        warmup_samples=2,
        allowed_runtimes=("diffusers", "onnxruntime"),
        metric_weights=MetricWeights(time=1.0, energy=0.5, memory=0.25, load=0.1),
        similarity_threshold=0.85,
        max_checkpoint_bytes=30 * 1024**3,
        load_timeout_s=600.0,
        worker_memory_bytes=32 * 1024**3,
    ),
    Contest(
        id="tiny-sdxl-cpu",
        description="A tiny SDXL-architecture pipeline built offline, on the CPU, 128x128, 8 steps",
        baseline=BaselineReference(source="tiny-sdxl", seed=0),
        device="cpu",
        device_name=None,
        default_dtype="float32",
        generation=GenerationSettings(width=128, height=128, steps=8, guidance_scale=5.0),
        timed_samples=12,
        warmup_samples=4,
        allowed_runtimes=("diffusers", "onnxruntime"),
        metric_weights=MetricWeights(time=1.0, memory=0.1, load=0.05),
        similarity_threshold=0.85,
        max_checkpoint_bytes=64 * 1024**2,
        load_timeout_s=30.0,  # loading and warming up takes about 2 s here
        worker_memory_bytes=2 * 1024**3,
    ),
)

CONTESTS = MappingProxyType({contest.id: contest for contest in _CONTESTS})
DEFAULT_CONTEST_ID = "tiny-sdxl-cpu"


def get_contest(contest_id: str) -> Contest:
    try:
        return CONTESTS[contest_id]
    except KeyError:
        raise ValueError(f"unknown contest {contest_id!r}; known contests: {', '.join(CONTESTS)}") from None
