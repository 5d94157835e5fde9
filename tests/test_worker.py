import os
import time

import pytest

from base.worker import Worker, WorkerCrashed, WorkerError, WorkerTimeout, run_in_worker
from tests import worker_jobs


def test_result_comes_back() -> None:
    assert run_in_worker(worker_jobs.square, 12, timeout_s=60) == 144


def test_exception_carries_type_message_and_traceback() -> None:
    with pytest.raises(WorkerError, match=r"ValueError: bad checkpoint") as caught:
        run_in_worker(worker_jobs.fail, "bad checkpoint", timeout_s=60)
    assert "Traceback" in str(caught.value)


def test_hung_worker_is_killed_at_its_limit() -> None:
    started = time.monotonic()
    with pytest.raises(WorkerTimeout):
        run_in_worker(worker_jobs.sleep_forever, None, timeout_s=3)
    assert time.monotonic() - started < 60  # killed, not waited out for the hour


def test_worker_that_dies_is_reported_with_its_exit_code() -> None:
    with pytest.raises(WorkerCrashed, match="exit code 7"):
        run_in_worker(worker_jobs.die_hard, 7, timeout_s=60)


def test_worker_runs_offline_without_changing_the_parent() -> None:
    before = os.environ.get("HF_HUB_OFFLINE")
    assert run_in_worker(worker_jobs.echo_environment, "HF_HUB_OFFLINE", timeout_s=60) == "1"
    assert os.environ.get("HF_HUB_OFFLINE") == before


def test_persistent_worker_keeps_state_between_calls_in_its_own_process() -> None:
    with Worker(worker_jobs.Counter, 10, start_timeout_s=60) as worker:
        assert worker.call("add", 5, timeout_s=30) == 15
        assert worker.call("add", 1, timeout_s=30) == 16
        assert worker.call("pid", timeout_s=30) != os.getpid()


def test_a_failing_call_leaves_the_worker_usable() -> None:
    with Worker(worker_jobs.Counter, 0, start_timeout_s=60) as worker:
        with pytest.raises(WorkerError, match="RuntimeError: call failed"):
            worker.call("fail", timeout_s=30)
        assert worker.call("add", 2, timeout_s=30) == 2


def test_failing_construction_is_reported() -> None:
    with pytest.raises(WorkerError, match="ValueError: negative start"):
        Worker(worker_jobs.Counter, -1, start_timeout_s=60)


def test_a_hung_call_kills_the_worker_and_later_calls_say_so() -> None:
    with Worker(worker_jobs.Counter, 0, start_timeout_s=60) as worker:
        with pytest.raises(WorkerTimeout):
            worker.call("hang", timeout_s=2)
        with pytest.raises(WorkerCrashed):
            worker.call("add", 1, timeout_s=30)


def test_a_worker_dying_mid_call_is_a_crash() -> None:
    with (
        Worker(worker_jobs.Counter, 0, start_timeout_s=60) as worker,
        pytest.raises(WorkerCrashed, match="exit code 3"),
    ):
        worker.call("exit", 3, timeout_s=30)


def test_workers_start_with_fixed_allocator_thresholds() -> None:
    threshold = run_in_worker(worker_jobs.echo_environment, "MALLOC_MMAP_THRESHOLD_", timeout_s=60)
    assert threshold is not None and int(threshold) >= 64 * 1024 * 1024
