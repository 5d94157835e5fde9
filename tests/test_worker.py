import os
import time

import pytest

from base.worker import WorkerCrashed, WorkerError, WorkerTimeout, run_in_worker
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
