"""judge()'s queue over several hosts, with hosts that stand in for Ray actors: who judges what, and when a host is
lost. Outcomes are reasons naming the host that judged, so no worker is started."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from contest.definitions import get_contest
from contest.judging.hosts import Finished, HostLost, HostReport
from contest.judging.judge import NOT_JUDGED, Folders, Outcome, judge
from contest.judging.pairing import BaselineFailed
from contest.judging.reasons import Reason, ReasonKind
from contest.judging.scoring import FaceToFace

CONTEST = get_contest("tiny-sdxl-cpu")


class ScriptedHosts:
    """``count`` hosts; ``lose(host, key, attempt)`` says whether that host is lost while it judges the key."""

    def __init__(self, count: int, lose: Callable[[str, str, int], bool] = lambda *_: False) -> None:
        self.idle = [f"host-{n}" for n in range(count)]
        self.running: list[tuple[str, str]] = []
        self.lose, self.attempts = lose, dict[str, int]()
        self.most_at_once = 0
        self.started: list[tuple[str, str]] = []

    @property
    def free(self) -> int:
        return len(self.idle)

    @property
    def busy(self) -> int:
        return len(self.running)

    def start(self, key: str, folder: Path, at: str) -> None:
        host = self.idle.pop(0)
        self.running.append((host, key))
        self.started.append((host, key))
        self.most_at_once = max(self.most_at_once, len(self.running))

    def finished(self) -> list[Finished]:
        host, key = self.running.pop(0)
        self.attempts[key] = attempt = self.attempts.get(key, 0) + 1
        if self.lose(host, key, attempt):
            return [Finished(key, host, HostLost(f"{host} went away"))]
        self.idle.append(host)
        return [Finished(key, host, Reason(ReasonKind.FAILED, f"judged on {host}"))]

    def face_to_face(self, earlier: str, earlier_folder: Path, later: str, later_folder: Path) -> FaceToFace:
        raise AssertionError("no face-to-face run was asked for")

    def reports(self) -> Sequence[HostReport]:
        return [HostReport(host, "", (), None, 0.0) for host in ("host-0",)]  # type: ignore[arg-type]

    def close(self) -> None:
        self.closed = True


class Recorded:
    def __init__(self) -> None:
        self.outcomes: list[tuple[str, Outcome]] = []
        self.released: list[str] = []

    def __call__(self, key: str, outcome: Outcome) -> None:
        self.outcomes.append((key, outcome))


class TrackedFolders(Folders):
    def __init__(self, keys: Sequence[str], recorded: Recorded) -> None:
        super().__init__({key: Path("/nonexistent") / key for key in keys})
        self.recorded = recorded

    def release(self, key: str) -> None:
        self.recorded.released.append(key)


def judged(hosts: ScriptedHosts, keys: Sequence[str], **options: object) -> tuple[dict[str, Outcome], Recorded]:
    recorded = Recorded()
    run = judge(
        None,  # type: ignore[arg-type]  # the scripted hosts start nothing
        TrackedFolders(keys, recorded),
        CONTEST,
        [],
        progress=lambda _: None,
        record=recorded,
        hosts=lambda *_: hosts,
        **options,  # type: ignore[arg-type]
    )
    messages = {key: judgement.verdict.reason for key, judgement in run.judgements.items()}
    return messages, recorded  # type: ignore[return-value]


def test_each_submission_goes_to_the_first_free_host_and_no_host_takes_two() -> None:
    hosts = ScriptedHosts(2)
    reasons, recorded = judged(hosts, ["a", "b", "c", "d", "e"])
    assert hosts.most_at_once == 2
    assert [key for _, key in hosts.started] == ["a", "b", "c", "d", "e"]
    assert [host for host, _ in hosts.started] == ["host-0", "host-1", "host-0", "host-1", "host-0"]
    assert sorted(recorded.released) == ["a", "b", "c", "d", "e"]
    assert [key for key, _ in recorded.outcomes] == ["a", "b", "c", "d", "e"]
    assert reasons["d"] == Reason(ReasonKind.FAILED, "judged on host-1")
    assert hosts.closed


def test_a_submission_whose_host_is_lost_is_judged_again_on_another_host() -> None:
    hosts = ScriptedHosts(2, lose=lambda host, key, attempt: host == "host-0" and key == "a")
    reasons, recorded = judged(hosts, ["a", "b", "c"])
    assert reasons == {key: Reason(ReasonKind.FAILED, "judged on host-1") for key in "abc"}
    assert [key for key, _ in recorded.outcomes].count("a") == 1  # the loss itself is not an outcome
    assert recorded.released.count("a") == 2  # checked out for each try


def test_the_run_says_which_host_judged_each_submission() -> None:
    hosts = ScriptedHosts(2, lose=lambda host, key, attempt: host == "host-0")
    run = judge(
        None,  # type: ignore[arg-type]
        TrackedFolders(["a", "b", "c"], Recorded()),
        CONTEST,
        [],
        progress=lambda _: None,
        hosts=lambda *_: hosts,
    )
    assert run.judged_on == {"a": "host-1", "b": "host-1", "c": "host-1"}


def test_a_submission_that_loses_two_hosts_is_out_with_its_own_kind_and_the_rest_go_on() -> None:
    hosts = ScriptedHosts(3, lose=lambda host, key, attempt: key == "a")
    reasons, _ = judged(hosts, ["a", "b"])
    assert reasons["a"] is not None and reasons["a"].kind == ReasonKind.HOST_LOST
    assert "lost twice" in reasons["a"].message and "went away" in reasons["a"].message
    assert reasons["b"] == Reason(ReasonKind.FAILED, "judged on host-1")


def test_when_every_host_is_lost_the_day_fails_as_the_validators_fault() -> None:
    hosts = ScriptedHosts(1, lose=lambda *_: True)
    with pytest.raises(BaselineFailed, match="no judging host is left"):
        judged(hosts, ["a", "b"])


def test_a_day_closed_mid_queue_leaves_the_rest_not_judged_and_unrecorded() -> None:
    hosts = ScriptedHosts(1)
    reasons, recorded = judged(hosts, ["a", "b", "c"], closing=lambda: len(hosts.started) >= 2)
    assert reasons["b"] == Reason(ReasonKind.FAILED, "judged on host-0")  # started before the close: finished
    assert reasons["c"] == NOT_JUDGED
    assert [key for key, _ in recorded.outcomes] == ["a", "b"]


class Stopping(Exception):
    pass


def test_a_stop_asked_for_mid_submission_comes_after_its_outcome_is_recorded() -> None:
    hosts = ScriptedHosts(1)

    def closing() -> bool:
        if hosts.started:
            raise Stopping  # as the daemon stops a day: at the first look after the stop was asked for
        return False

    recorded = Recorded()
    with pytest.raises(Stopping):
        judge(
            None,  # type: ignore[arg-type]
            TrackedFolders(["a", "b"], recorded),
            CONTEST,
            [],
            progress=lambda _: None,
            record=recorded,
            closing=closing,
            hosts=lambda *_: hosts,
        )
    assert recorded.outcomes == [("a", Reason(ReasonKind.FAILED, "judged on host-0"))]
    assert recorded.released == ["a"] and hosts.closed
