import time

import pytest
import torch

from base.measure import synchronizer_for, timed


def test_timed_synchronizes_around_the_call_and_returns_its_result() -> None:
    events: list[str] = []

    def work() -> str:
        events.append("call")
        return "image"

    result = timed(work, lambda: events.append("sync"))
    assert events == ["sync", "call", "sync"]
    assert result.result == "image"
    assert result.seconds >= 0


def test_timed_covers_the_whole_call() -> None:
    assert timed(lambda: time.sleep(0.05), lambda: None).seconds >= 0.05


def test_time_includes_waiting_for_the_device() -> None:
    # The synchronize after the call is inside the timed span: queued device work is counted.
    calls = iter([0.0, 0.05])
    assert timed(lambda: None, lambda: time.sleep(next(calls))).seconds >= 0.05


def test_cpu_synchronizer_does_nothing() -> None:
    assert synchronizer_for("cpu")() is None


@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_synchronizer_waits_for_that_device(device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    synchronized: list[object] = []
    monkeypatch.setattr(torch.cuda, "synchronize", synchronized.append)
    synchronize = synchronizer_for(device)
    assert synchronized == []
    synchronize()
    assert synchronized == [device]


@pytest.mark.parametrize("device", ["gpu", "cuda:", "cpu:0", "mps"])
def test_unknown_device_is_rejected(device: str) -> None:
    with pytest.raises(ValueError, match="unknown device"):
        synchronizer_for(device)
