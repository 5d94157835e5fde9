import gc
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from base.isolation import (
    SCRATCH_PREFIX,
    Worker,
    WorkerCrashed,
    WorkerError,
    WorkerOverMemory,
    WorkerTimeout,
    started_once_more,
)
from tests.support import worker_jobs
from tests.support.paths import ROOT


def test_worker_keeps_state_between_calls_in_its_own_process() -> None:
    with Worker(worker_jobs.Counter, 10, start_timeout_s=60) as worker:
        assert worker.call(worker_jobs.Counter.add, 5, timeout_s=30) == 15
        assert worker.call(worker_jobs.Counter.add, 1, timeout_s=30) == 16
        assert worker.call(worker_jobs.Counter.pid, timeout_s=30) != os.getpid()


def test_factory_named_by_string_is_resolved_in_the_worker() -> None:
    with Worker("tests.support.worker_jobs:Counter", 3, start_timeout_s=60) as worker:
        assert worker.call(worker_jobs.Counter.add, 4, timeout_s=30) == 7


def test_a_failing_call_carries_its_traceback_and_leaves_the_worker_usable() -> None:
    with Worker(worker_jobs.Counter, 0, start_timeout_s=60) as worker:
        with pytest.raises(WorkerError, match="RuntimeError: call failed") as caught:
            worker.call(worker_jobs.Counter.fail, timeout_s=30)
        assert "Traceback" in str(caught.value)
        assert worker.call(worker_jobs.Counter.add, 2, timeout_s=30) == 2


def test_a_worker_collects_its_own_garbage_and_leaves_what_it_inherited_out_of_every_collection() -> None:
    """The server never collects while it imports; each worker collects what it makes, not what it was forked
    with. The parent's collector is as it was."""
    before = gc.isenabled(), gc.get_freeze_count()
    with Worker(worker_jobs.Counter, 0, start_timeout_s=60) as worker:
        enabled, inherited = worker.call(worker_jobs.Counter.collector, timeout_s=30)
    assert enabled and inherited > 1_000  # the interpreter and what the server imported
    assert (gc.isenabled(), gc.get_freeze_count()) == before


def test_failing_construction_is_reported() -> None:
    with pytest.raises(WorkerError, match="ValueError: negative start"):
        Worker(worker_jobs.Counter, -1, start_timeout_s=60)


def test_a_hung_call_kills_the_worker_and_later_calls_say_so() -> None:
    with Worker(worker_jobs.Counter, 0, start_timeout_s=60) as worker:
        started = time.monotonic()
        with pytest.raises(WorkerTimeout):
            worker.call(worker_jobs.Counter.hang, timeout_s=2)
        assert time.monotonic() - started < 60  # killed, not waited out for the hour
        with pytest.raises(WorkerCrashed):
            worker.call(worker_jobs.Counter.add, 1, timeout_s=30)


def test_a_worker_dying_mid_call_is_a_crash_with_its_exit_code() -> None:
    with (
        Worker(worker_jobs.Counter, 0, start_timeout_s=60) as worker,
        pytest.raises(WorkerCrashed, match="exit code 3"),
    ):
        worker.call(worker_jobs.Counter.exit, 3, timeout_s=30)


def test_workers_run_offline_with_fixed_allocator_thresholds_without_changing_the_parent() -> None:
    before = os.environ.get("HF_HUB_OFFLINE")
    with Worker(worker_jobs.Counter, 0, start_timeout_s=60) as worker:
        assert worker.call(worker_jobs.Counter.environment, "HF_HUB_OFFLINE", timeout_s=30) == "1"
        threshold = worker.call(worker_jobs.Counter.environment, "MALLOC_MMAP_THRESHOLD_", timeout_s=30)
    assert threshold is not None and int(threshold) >= 64 * 1024 * 1024
    assert os.environ.get("HF_HUB_OFFLINE") == before


def test_a_worker_over_its_memory_limit_is_killed_and_says_so() -> None:
    with Worker(worker_jobs.Counter, 0, start_timeout_s=60, memory_limit_bytes=200 * 2**20) as worker:
        with pytest.raises(WorkerOverMemory, match=r"allocate used \d+ MiB, over the limit of 200 MiB"):
            worker.call(worker_jobs.Counter.allocate, 400, timeout_s=60)
        with pytest.raises(WorkerCrashed):
            worker.call(worker_jobs.Counter.add, 1, timeout_s=5)


@pytest.mark.parametrize("swallow", [False, True])
def test_an_isolated_worker_cannot_connect_and_fails_even_if_it_swallows_the_error(swallow: bool) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        refused = f"tried to reach the network \\(127.0.0.1:{port}\\)"
        with (
            Worker(worker_jobs.Counter, 0, start_timeout_s=60, isolated=True) as worker,
            pytest.raises(WorkerError, match=refused),
        ):
            worker.call(worker_jobs.Counter.connect, port, swallow, timeout_s=30)
        with pytest.raises(TimeoutError):
            listener.accept()


def test_a_worker_that_is_not_isolated_can_connect() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with Worker(worker_jobs.Counter, 0, start_timeout_s=60) as worker:
            port = listener.getsockname()[1]
            assert worker.call(worker_jobs.Counter.connect, port, False, timeout_s=30) == "connected"


def eventually(condition, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def process_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def test_a_frozen_worker_and_what_it_started_stop_until_the_next_call() -> None:
    with Worker(worker_jobs.Counter, 0, start_timeout_s=60) as worker:
        pid = worker.call(worker_jobs.Counter.pid, timeout_s=30)
        child = worker.call(worker_jobs.Counter.start_child, timeout_s=30)
        worker.freeze()
        assert process_state(pid) == "T"  # freeze() waits for the worker itself
        assert eventually(lambda: process_state(child) == "T")  # the signal reaches its group as well
        assert worker.call(worker_jobs.Counter.add, 1, timeout_s=30) == 1  # a call thaws it
        assert process_state(child) != "T"
        worker.freeze()
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{child}") and process_state(child) != "Z" and time.monotonic() < deadline:
        time.sleep(0.05)
    # closing a frozen worker kills its process group too
    assert not os.path.exists(f"/proc/{child}") or process_state(child) == "Z"


def test_a_frozen_worker_dies_with_a_parent_killed_by_sigkill() -> None:
    """Nothing of the parent is left to thaw or close it: the worker must not stay behind, stopped for ever."""
    code = (
        "from tests.support.worker_jobs import hold_a_frozen_worker\nif __name__ == '__main__':\n"
        "    hold_a_frozen_worker()"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        worker = int(parent.stdout.readline())
        assert process_state(worker) == "T"
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{worker}") and process_state(worker) != "Z" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{worker}") or process_state(worker) == "Z"


def test_the_folder_of_a_worker_whose_parent_was_killed_goes_when_the_next_worker_starts(tmp_path: Path) -> None:
    """A parent killed by SIGKILL never closes its worker, nor removes the worker's scratch folder (a runtime's
    engine cache may lie there): the next worker made in the same place removes it."""
    code = (
        "import sys\nfrom pathlib import Path\nfrom base.isolation import Worker\n"
        "from tests.support.worker_jobs import Counter\nif __name__ == '__main__':\n"
        "    worker = Worker(Counter, 0, start_timeout_s=60, scratch_in=Path(sys.argv[1]))\n"
        "    print(worker.call(Counter.pid, timeout_s=30), flush=True)\n    sys.stdin.read()"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        parent.stdout.readline()
        (left,) = tmp_path.glob(f"{SCRATCH_PREFIX}{parent.pid}-*")
    finally:
        parent.kill()
        parent.wait()
    with Worker(worker_jobs.Counter, 0, start_timeout_s=60, scratch_in=tmp_path):
        (own,) = tmp_path.glob(f"{SCRATCH_PREFIX}{os.getpid()}-*")
        assert not left.exists()
    assert not own.exists()


def test_a_start_that_ran_out_of_time_is_tried_once_more_never_more() -> None:
    tries: list[int] = []

    def late_once() -> str:
        tries.append(1)
        if len(tries) == 1:
            raise WorkerTimeout("start exceeded its 1 s limit")
        return "started"

    retried: list[str] = []
    assert started_once_more(late_once, lambda error: retried.append(str(error))) == "started"
    assert retried == ["start exceeded its 1 s limit"]

    def always_late() -> str:
        raise WorkerTimeout("start exceeded its 1 s limit")

    with pytest.raises(WorkerTimeout):
        started_once_more(always_late)


@pytest.mark.parametrize("started_as", [["tests/support/worker_command.py"], ["-m", "tests.support.worker_command"]])
def test_a_commands_imports_are_done_once_in_the_server_not_again_in_each_worker(
    started_as: list[str], tmp_path: Path
) -> None:
    """multiprocessing runs the command's main module again in every worker it starts: the server runs it first."""
    command = subprocess.run(
        [sys.executable, *started_as], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
        env={**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    workers = {int(pid) for pid in command.stdout.split()}
    importers = [int(line) for line in (tmp_path / "imported-by").read_text().split()]
    assert len(workers) == 2 and len(importers) == len(set(importers)) == 2, (workers, importers)
    assert not workers & set(importers)  # the command itself and the server


@pytest.mark.parametrize(
    ("script", "command"),
    [("validator/validator.py", "contest.cli.validating"), ("miner/miner.py", "contest.cli.mining")],
)
def test_an_entry_script_run_again_as_the_servers_main_leaves_its_command_unimported(script: str, command: str) -> None:
    """The server imports the entry script as multiprocessing would (``__mp_main__``): the command, with the chain's
    SDK, is the script's to import when it runs, not two more seconds of every server's start."""
    probe = (
        "import sys; from multiprocessing import spawn; "
        f"spawn.import_main_path({script!r}); "
        "print(' '.join(sorted(sys.modules)))"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    imported = set(run.stdout.split())
    assert "__mp_main__" in imported
    assert command not in imported and "bittensor" not in imported
