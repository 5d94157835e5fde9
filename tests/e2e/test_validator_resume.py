"""The validator as a real process: killed with SIGKILL mid-benchmark while it judges on a Ray cluster, restarted,
it finishes the day with every submission judged exactly once; SIGTERM stops it cleanly; ``status`` reads its
state."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bittensor import Wallet

from base.chain import LocalChain
from base.stores import GitStore
from contest.cli.world import World
from contest.day.opening import move_to_next_opening
from contest.day.state import ValidatorState
from contest.day.steps import DaySetup, run_day
from contest.definitions import get_contest
from contest.judging.ray_hosts import DEVICE_RESOURCE
from contest.judging.reasons import Reason, ReasonKind
from tests.support.days import ONE_BLOCK_CONTEST, nudge_output
from tests.support.image_set import ONE_BLOCK, image_set_environment
from tests.support.paths import ROOT

NETUID = 7
MINERS = ("ann", "bob", "cy")


@pytest.fixture(scope="module")
def committed_day(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path) -> Path:
    """An embedded chain with three miners' distinct, valid submissions committed (three different models)."""
    data_dir = tmp_path_factory.mktemp("resume") / "data"
    world = World(data_dir, NETUID, "tiny-sdxl-cpu")
    world.validator()
    for index, name in enumerate(MINERS, start=1):
        folder = data_dir.parent / "work" / name
        shutil.copytree(tiny_checkpoint, folder)
        nudge_output(folder, 0.01 * index)  # a model of its own: not a near-copy of the others
        world.submit(name, folder, repository=f"{name}/fast")
    chain = world.chain
    move_to_next_opening(chain, get_contest("tiny-sdxl-cpu"))
    return data_dir


def validator(data_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "validator/validator.py", *extra, "--data_dir", str(data_dir), "--netuid", str(NETUID),
        "--wallet.name", "validator", "--wallet.hotkey", "default", "--wallet.path", str(data_dir / "wallets"),
    ]  # fmt: skip


def run_to_end(command: list[str], environment: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
        env=image_set_environment(environment, blocks=ONE_BLOCK),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def killed_after_a_first_outcome(data_dir: Path, *extra: str, environment: dict[str, str] | None = None) -> set[str]:
    """``validator.py --once`` SIGKILLed as soon as its state holds one outcome: the hotkeys judged by then."""
    state = ValidatorState.of(data_dir)
    process = subprocess.Popen(
        validator(data_dir, "--once", *extra), cwd=ROOT, env=image_set_environment(environment, blocks=ONE_BLOCK),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        day = state.running_day("tiny-sdxl-cpu")
        if day is not None and len(state.outcomes(day.id)) >= 1:
            break
        time.sleep(0.2)
    assert process.poll() is None, "the validator finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    day = state.running_day("tiny-sdxl-cpu")
    judged_before = set(state.outcomes(day.id))
    assert 1 <= len(judged_before) < len(MINERS)
    return judged_before


def leaderboard(data_dir: Path) -> dict:
    (path,) = (data_dir / "leaderboards" / "tiny-sdxl-cpu").glob("*.json")
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def serving_then_stopped(committed_day: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A serving validator mid-benchmark; a second one started on its folder; then SIGTERM to the first.

    The first measures two blocks, not one: it must still be judging once the second has started and exited, a
    second or two, and in that time a validator on a core of its own judges all three submissions on one block each."""
    data_dir = tmp_path_factory.mktemp("serving") / "data"
    shutil.copytree(committed_day, data_dir)
    output_to = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    first = subprocess.Popen(validator(data_dir), cwd=ROOT, env=image_set_environment(), **output_to)
    output, deadline = "", time.monotonic() + 300
    while time.monotonic() < deadline and "benchmarking " not in output and first.poll() is None:
        output += first.stdout.readline()
    running_when_second_started = first.poll() is None
    second = subprocess.run(
        validator(data_dir, "--once"), cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=image_set_environment(),
    )  # fmt: skip
    first.send_signal(signal.SIGTERM)
    output += first.communicate(timeout=120)[0]
    return {
        "data_dir": data_dir, "first": first, "output": output, "second": second,
        "running_when_second_started": running_when_second_started,
    }  # fmt: skip


def test_sigterm_mid_day_exits_cleanly_and_leaves_the_day_to_resume(serving_then_stopped: dict) -> None:
    output = serving_then_stopped["output"]
    assert "resumes" not in output and "opens at block" in output, output  # the day it owed, run at once
    assert serving_then_stopped["first"].returncode == 0, output[-3000:]
    state = ValidatorState.of(serving_then_stopped["data_dir"])
    day = state.running_day("tiny-sdxl-cpu")
    assert day is not None and 1 <= len(state.outcomes(day.id)) < len(MINERS)


def test_a_day_closed_by_the_next_opening_keeps_what_it_judged(committed_day: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "closing"
    shutil.copytree(committed_day, data_dir)
    chain, stores = LocalChain(data_dir / "chain.sqlite"), {"local": GitStore(data_dir / "repositories")}
    validator_wallet = Wallet(name="validator", hotkey="default", path=str(data_dir / "wallets"))
    judged: list[str] = []

    def progress(message: str) -> None:
        judged.extend(["one"] if "benchmarking" in message else [])

    board, _ = run_day(
        DaySetup(chain, stores, ONE_BLOCK_CONTEST, NETUID, validator_wallet, data_dir),
        progress=progress,
        closing=lambda: bool(judged),
    )
    rows = board.submissions
    assert len(judged) == 1 and sum(row.reason_kind == ReasonKind.NOT_JUDGED for row in rows) == len(MINERS) - 1
    assert sum(row.valid for row in rows) == 1
    assert [len(row.thumbnails) for row in rows if row.reason_kind != ReasonKind.NOT_JUDGED] == [4]
    assert len(board.baseline_thumbnails) == 4
    state = ValidatorState.of(data_dir)
    finished = state.latest_day("tiny-sdxl-cpu")
    assert finished.status == "finished"
    assert not (data_dir / "validator" / "checkpoints" / f"tiny-sdxl-cpu-{board.opening_block}").exists()


def test_a_second_validator_on_the_same_folder_exits_and_the_first_goes_on_unharmed(
    serving_then_stopped: dict,
) -> None:
    """The second exits in one line naming the first; the first judges on and stops cleanly when told."""
    first, second = serving_then_stopped["first"], serving_then_stopped["second"]
    assert serving_then_stopped["running_when_second_started"], serving_then_stopped["output"][-3000:]
    lines = (second.stdout + second.stderr).strip().splitlines()
    assert second.returncode == 1 and len(lines) == 1
    assert lines[0].startswith(f"error: another validator (pid {first.pid}, ")
    assert first.returncode == 0 and "Traceback" not in serving_then_stopped["output"]
    state = ValidatorState.of(serving_then_stopped["data_dir"])
    day = state.running_day("tiny-sdxl-cpu")
    assert all(not isinstance(outcome, Reason) for outcome in state.outcomes(day.id).values())


@pytest.fixture(scope="module")
def ray_head() -> Iterator[tuple[str, dict[str, str]]]:
    """A Ray head started apart from any validator, as docs/validating.md starts one: token authentication, one
    CPU-contest device (the one the killed validator's host held, so the restarted one needs it back), on
    loopback. It outlives the validators the test kills.

    Started in the foreground (``--block``) in a session of its own and ended by killing that session, not with
    ``ray stop``, which ends every Ray process on the machine, another test's cluster included."""
    ray = str(Path(sys.executable).with_name("ray"))
    environment = {**os.environ, "RAY_AUTH_MODE": "token"}
    subprocess.run([ray, "get-auth-token", "--generate"], env=environment, capture_output=True, check=True, timeout=60)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = [
        ray, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "1",
        "--resources", json.dumps({DEVICE_RESOURCE: 1}), "--include-dashboard", "false", "--disable-usage-stats",
        "--block",
    ]  # fmt: skip
    head = subprocess.Popen(
        start, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    too_slow = threading.Timer(120, os.killpg, [head.pid, signal.SIGKILL])  # a head that never starts ends the read
    too_slow.start()
    try:
        printed = []
        assert head.stdout is not None
        for line in head.stdout:  # the head is up once it says so
            printed.append(line)
            if "Ray runtime started" in line:
                break
        else:
            raise AssertionError("the Ray head exited before it started:\n" + "".join(printed)[-3000:])
        too_slow.cancel()
        yield f"127.0.0.1:{port}", environment
    finally:
        too_slow.cancel()
        os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=60)


@pytest.fixture(scope="module")
def killed_and_resumed(
    committed_day: Path, ray_head: tuple[str, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> dict:
    """A validator judging on the cluster, SIGKILLed once it has judged a first submission, then started again on
    the same folder and cluster, then asked for its ``status``: the pictures each hotkey judged before the kill had
    on disk, and what the restarted validator printed."""
    address, environment = ray_head
    data_dir = tmp_path_factory.mktemp("spread") / "data"
    shutil.copytree(committed_day, data_dir)
    judged_before = killed_after_a_first_outcome(data_dir, "--ray.address", address, environment=environment)
    day = ValidatorState.of(data_dir).running_day("tiny-sdxl-cpu")
    boards = data_dir / "leaderboards" / "tiny-sdxl-cpu"
    pictures_before = {
        hotkey: {
            path.relative_to(boards).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in boards.glob(f"*/miners/{hotkey}/*.webp")
        }
        for hotkey in judged_before
    }
    resumed = run_to_end(validator(data_dir, "--once", "--ray.address", address), environment)
    status = json.loads(run_to_end(validator(data_dir, "status")).stdout)
    return {
        "data_dir": data_dir, "day": day, "judged_before": judged_before, "pictures_before": pictures_before,
        "resumed": resumed.stdout, "status": status,
    }  # fmt: skip


def test_sigkill_mid_benchmark_then_restart_judges_each_submission_once(killed_and_resumed: dict) -> None:
    data_dir, day, judged_before = (killed_and_resumed[key] for key in ("data_dir", "day", "judged_before"))
    resumed = killed_and_resumed["resumed"]
    assert f"resumes at block {day.opening_block}" in resumed
    assert resumed.count("was judged before the restart") == len(judged_before)
    assert resumed.count("benchmarking against the baseline") == len(MINERS) - len(judged_before)

    board = leaderboard(data_dir)
    hotkeys = [row["hotkey"] for row in board["submissions"]]
    assert len(hotkeys) == len(set(hotkeys)) == len(MINERS)
    assert board["opening_block"] == day.opening_block
    state = ValidatorState.of(data_dir)
    assert state.latest_day("tiny-sdxl-cpu").status == "finished"
    assert set(state.outcomes(day.id)) == set(hotkeys)

    assert all(row["valid"] for row in board["submissions"])  # three distinct valid models, as run without a kill
    pictures = {row["hotkey"]: {t["file"]: t["sha256"] for t in row["thumbnails"]} for row in board["submissions"]}
    assert all(len(files) == 4 for files in pictures.values())  # judged before the kill or after it
    for hotkey in judged_before:  # the pictures taken before the kill are the ones listed
        assert pictures[hotkey] == killed_and_resumed["pictures_before"][hotkey]

    status = killed_and_resumed["status"]
    assert status["day"]["status"] == "finished" and status["day"]["judged"] == len(MINERS)
    assert status["last_weights"]["block"] == board["weights_set_at_block"]
    assert status["leader"] == board["leader"]


def test_a_validator_killed_mid_day_with_the_cluster_up_resumes_with_only_what_is_left(
    killed_and_resumed: dict,
) -> None:
    """The killed validator's host held the cluster's one device: the restarted one opens a host on it again."""
    resumed, judged_before = killed_and_resumed["resumed"], killed_and_resumed["judged_before"]
    assert sum(" is ready on " in line for line in resumed.splitlines()) == 1
    board = leaderboard(killed_and_resumed["data_dir"])
    assert [host["name"] for host in board["hosts"]] == ["host-0"]
    judged_now = {row["hotkey"] for row in board["submissions"]} - judged_before
    assert all(row["host"] == "host-0" for row in board["submissions"] if row["hotkey"] in judged_now)
    status = killed_and_resumed["status"]
    assert [(host["name"], host["doing"]) for host in status["hosts"]] == [("host-0", "ready")]
