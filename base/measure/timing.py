"""Wall-clock timing of generation calls that may run asynchronously on a GPU.

CUDA kernels are queued, not finished, when a Python call returns, so each timed call is bracketed by a
device synchronization: the time covers exactly the work of that call.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from base.measure.device import parse_device

R = TypeVar("R")


def _no_sync() -> None:
    """Nothing queued on a cpu: calls have finished when they return."""


def synchronizer_for(device: str) -> Callable[[], None]:
    """A function that waits until ``device`` has finished all queued work."""
    if parse_device(device).kind == "cpu":
        return _no_sync
    import torch  # only cuda needs it; cpu timing must not load torch for nothing

    return functools.partial(torch.cuda.synchronize, device)


@dataclass(frozen=True)
class TimedCall(Generic[R]):
    seconds: float
    result: R


def timed(fn: Callable[[], R], synchronize: Callable[[], None]) -> TimedCall[R]:
    """Time ``fn()``, synchronizing first so that earlier queued work is not counted."""
    synchronize()
    start = time.perf_counter()
    result = fn()
    synchronize()
    return TimedCall(seconds=time.perf_counter() - start, result=result)
