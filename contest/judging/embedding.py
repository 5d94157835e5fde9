"""The similarity gate's image encoder, in a worker of its own: the parent never imports torch.

One worker per judging run loads the contest's pinned CLIP model once and embeds both sides' images of each
comparison. It is the validator's own model, never a submission's; between calls it is frozen, so nothing
it leaves running can reach the pairs being timed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from base.isolation import Worker, WorkerHandle
from contest.definitions import Contest, get_contest
from contest.judging.checkpoint_worker import ANSWER_LIMIT_S, SESSION_MODULE
from contest.judging.similarity import Similarity, compare_images

ENCODER_SESSION = "contest.judging.embedding:EncoderSession"


@dataclass(frozen=True)
class EncoderRequest:
    folder: Path
    contest_id: str


class EncoderSession:
    """Lives in the worker: the contest's image encoder on the contest's device."""

    def __init__(self, request: EncoderRequest) -> None:
        from pipelines.image_encoder import ImageEncoder  # torch and transformers load in the worker only

        self.encoder = ImageEncoder(request.folder, get_contest(request.contest_id).device)

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return self.encoder.embed(images)


class ImageEncoderWorker(WorkerHandle):
    """The parent's handle: compares a submission's images with the baseline's as the contest's gate does.

    The worker reads no file but the encoder's and the libraries'; its scratch folder is made in ``scratch_in``
    (the system's temporary folder by default) and deleted when it closes.
    """

    def __init__(self, folder: Path, contest: Contest, scratch_in: Path | None = None) -> None:
        self.contest = contest
        self._worker = Worker(
            ENCODER_SESSION,
            EncoderRequest(folder, contest.id),
            contest.load_timeout_s,
            preload=[SESSION_MODULE],  # the checkpoint workers' server: one server serves both
            memory_limit_bytes=contest.worker_memory_bytes,
            isolated=True,
            readable=[folder],
            scratch_in=scratch_in,
        )
        self._worker.freeze()

    def similarity(self, baseline: Sequence[np.ndarray], candidate: Sequence[np.ndarray]) -> Similarity:
        """Each candidate image against the baseline's at the same position, with the contest's weights."""
        if len(baseline) != len(candidate):
            raise ValueError(f"image counts differ: baseline {len(baseline)}, candidate {len(candidate)}")
        try:
            embeddings = self._worker.call(EncoderSession.embed, [*baseline, *candidate], timeout_s=ANSWER_LIMIT_S)
        finally:
            self._worker.freeze()
        count = len(baseline)
        weight = self.contest.similarity.clip_weight
        return compare_images(baseline, candidate, embeddings[:count], embeddings[count:], weight)
