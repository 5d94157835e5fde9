"""The daemon's decisions with a controllable clock and the embedded chain: which day it owes on start,
when it sets weights again, and how the download cache keeps room."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bittensor import Wallet

from base.chain import TEMPO, LocalChain
from contest.day import state as state_module
from contest.day.daemon import ValidatorDaemon
from contest.day.fetching import make_room
from contest.day.state import OUTCOME_SCHEMA, STATE_VERSION, StateVersionError, ValidatorState
from contest.day.steps import DaySetup
from contest.definitions import get_contest
from contest.judging.hosts import HostActivity
from contest.judging.reasons import Reason, ReasonKind

CONTEST = get_contest("tiny-sdxl-cpu")
NETUID = 7


@pytest.fixture
def daemon_at(tmp_path: Path):
    """A daemon whose wall clock and chain are both at ``now``; blocks move only when advanced or ``now`` moves."""
    wall = {"now": datetime(2026, 1, 1, tzinfo=UTC)}
    chain = LocalChain(tmp_path / "chain.sqlite", clock=lambda: wall["now"].timestamp())
    wallet = Wallet(name="validator", hotkey="default", path=str(tmp_path / "wallets"))
    wallet.create_new_hotkey(use_password=False, overwrite=True, suppress=True)
    chain.register(wallet.hotkey.ss58_address, NETUID, stake=1000.0, validator_permit=True)
    miner = chain.register("5" + "C" * 47, NETUID)

    def make(now: datetime, interval_blocks: int | None = None) -> ValidatorDaemon:
        wall["now"] = now
        setup = DaySetup(chain, {}, CONTEST, NETUID, wallet, tmp_path)
        return ValidatorDaemon(setup, interval_blocks=interval_blocks, clock=lambda: now)

    return make, chain, miner


def test_a_fresh_validator_owes_the_latest_opening(daemon_at) -> None:
    make, _, _ = daemon_at
    assert make(datetime(2026, 1, 15, 12, tzinfo=UTC)).owed_day()


@pytest.mark.parametrize(
    ("finished_day", "now", "owed"),
    [
        ("2026-01-14", datetime(2026, 1, 15, 16, 59, tzinfo=UTC), False),  # 11:59 EST: the 14th is the latest
        ("2026-01-14", datetime(2026, 1, 15, 17, 0, tzinfo=UTC), True),  # 12:00 EST opens the 15th
        ("2026-07-14", datetime(2026, 7, 15, 15, 59, tzinfo=UTC), False),  # 11:59 EDT
        ("2026-07-14", datetime(2026, 7, 15, 16, 0, tzinfo=UTC), True),  # 12:00 EDT
    ],
)
def test_a_finished_day_is_not_run_again_until_the_next_noon(daemon_at, finished_day, now, owed) -> None:
    make, _, _ = daemon_at
    daemon = make(now)
    day = daemon.state.start_day(CONTEST.id, finished_day, 100, b"\x01" * 32, now)
    daemon.state.finish_day(day.id, Path("board.json"))
    assert daemon.owed_day() is owed


def test_the_owed_day_follows_the_chains_clock_not_the_validators(daemon_at) -> None:
    make, chain, _ = daemon_at
    daemon = make(datetime(2026, 7, 15, 15, 0, tzinfo=UTC))  # 11:00 EDT on the 15th, by both clocks
    day = daemon.state.start_day(CONTEST.id, "2026-07-14", 100, b"\x01" * 32, daemon.clock())
    daemon.state.finish_day(day.id, Path("board.json"))
    assert not daemon.owed_day()
    chain.advance(600)  # two hours of blocks: the chain's clock reads 13:00 EDT, past the opening
    assert daemon.owed_day()


def test_an_interrupted_day_is_owed_whatever_the_time(daemon_at) -> None:
    make, _, _ = daemon_at
    now = datetime(2026, 7, 15, 15, 0, tzinfo=UTC)
    daemon = make(now)
    daemon.state.start_day(CONTEST.id, "2026-07-14", 100, b"\x01" * 32, now)
    assert daemon.owed_day()


def test_weights_are_set_again_every_interval_from_the_latest_day(daemon_at) -> None:
    make, chain, miner = daemon_at
    daemon = make(datetime(2026, 7, 15, 17, tzinfo=UTC), interval_blocks=50)
    assert daemon.keep_weights() is None  # no finished day yet
    day = daemon.state.start_day(CONTEST.id, "2026-07-15", chain.current_block(), b"\x01" * 32, daemon.clock())
    daemon.state.record_weights(day.id, chain.current_block(), [miner], [1.0])
    chain.advance(49)
    assert daemon.keep_weights() is None
    chain.advance(1)
    block = daemon.keep_weights()
    assert block == chain.current_block()
    assert chain.weights(NETUID)[-1].uids == (miner,)
    assert daemon.state.last_weights().block == block
    assert daemon.keep_weights() is None


def test_the_default_interval_is_the_subnet_tempo(daemon_at) -> None:
    make, chain, miner = daemon_at
    daemon = make(datetime(2026, 7, 15, 17, tzinfo=UTC))
    day = daemon.state.start_day(CONTEST.id, "2026-07-15", chain.current_block(), b"\x01" * 32, daemon.clock())
    daemon.state.record_weights(day.id, chain.current_block(), [miner], [1.0])
    chain.advance(TEMPO - 1)
    assert daemon.keep_weights() is None
    chain.advance(1)
    assert daemon.keep_weights() is not None


def test_status_reports_the_day_the_weights_and_errors(tmp_path: Path) -> None:
    state = ValidatorState(tmp_path / "state.sqlite")
    day = state.start_day(CONTEST.id, "2026-07-15", 100, b"\x01" * 32, datetime(2026, 7, 15, 16, tzinfo=UTC))
    state.set_submission_count(day.id, 3)
    state.record_weights(day.id, 120, [1, 2], [0.7, 0.3])
    state.record_error("weights: cannot reach the chain")
    status = state.status().model_dump()
    assert status["day"] | {"judged": 0} == {
        "contest": CONTEST.id, "day": "2026-07-15", "opening_block": 100, "status": "running", "judged": 0,
        "submissions": 3, "leaderboard": None,
    }  # fmt: skip
    assert status["last_weights"]["uids"] == [1, 2] and status["last_weights"]["block"] == 120
    assert status["errors"][0]["message"] == "weights: cannot reach the chain"


def test_status_lists_each_host_of_the_latest_day_with_what_it_did_last(tmp_path: Path) -> None:
    state = ValidatorState(tmp_path / "state.sqlite")
    earlier = state.start_day(CONTEST.id, "2026-07-14", 50, b"\x02" * 32, datetime(2026, 7, 14, 16, tzinfo=UTC))
    state.record_host(earlier.id, HostActivity("host-9", "ready", "old-box: cpu"))
    state.finish_day(earlier.id, tmp_path / "earlier.json")
    day = state.start_day(CONTEST.id, "2026-07-15", 100, b"\x01" * 32, datetime(2026, 7, 15, 16, tzinfo=UTC))
    assert state.status().hosts == []
    for activity in (
        HostActivity("host-1", "opening"),
        HostActivity("host-0", "opening"),
        HostActivity("host-0", "ready", "gpu-a: NVIDIA H100"),
        HostActivity("host-1", "refused", note="host-1 on gpu-b has a NVIDIA A100, not NVIDIA H100"),
        HostActivity("host-0", "judging", "gpu-a: NVIDIA H100", "[2/5] 5Fxyz"),
    ):
        state.record_host(day.id, activity)
    hosts = [entry.model_dump(exclude={"at"}) for entry in state.status().hosts]
    assert hosts == [
        {"name": "host-0", "doing": "judging", "machine": "gpu-a: NVIDIA H100", "submission": "[2/5] 5Fxyz",
         "note": None},
        {"name": "host-1", "doing": "refused", "machine": "",  "submission": None,
         "note": "host-1 on gpu-b has a NVIDIA A100, not NVIDIA H100"},
    ]  # fmt: skip


def test_a_state_file_of_version_5_gains_the_hosts_and_keeps_its_days(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    day = ValidatorState(path).start_day(CONTEST.id, "2026-07-15", 100, b"\x01" * 32, datetime(2026, 7, 15, tzinfo=UTC))
    with sqlite3.connect(path) as db:  # version 5 is this file less the hosts
        db.executescript("DROP TABLE hosts; PRAGMA user_version = 5;")
    migrated = ValidatorState(path)
    assert migrated.running_day(CONTEST.id) == day
    migrated.record_host(day.id, HostActivity("host-0", "ready", "box: cpu"))
    assert [entry.name for entry in migrated.status().hosts] == ["host-0"]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == STATE_VERSION == 6


def test_make_room_clears_other_days_and_partial_downloads_only_when_short(tmp_path: Path) -> None:
    root, current = tmp_path / "checkpoints", tmp_path / "checkpoints" / "today"
    (root / "yesterday" / "hotkey").mkdir(parents=True)
    (current / "kept").mkdir(parents=True)
    (current / ".download-x").mkdir()
    assert make_room(root, current, needed=0)
    assert (root / "yesterday").exists() and (current / ".download-x").exists()
    assert not make_room(root, current, needed=1 << 62)
    assert not (root / "yesterday").exists() and not (current / ".download-x").exists()
    assert (current / "kept").exists()


def test_the_next_opening_closes_a_running_day_before_it_starts(daemon_at, monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon's coordination only: the day itself is a stand-in that runs until it is told to close."""
    make, _, _ = daemon_at
    daemon = make(datetime(2026, 7, 15, 16, tzinfo=UTC))
    events: list[str] = []
    first_started = threading.Event()

    def day(*args, closing, **hooks) -> None:
        if not events:
            events.append("first starts")
            first_started.set()
            while not closing():
                time.sleep(0.01)
            events.append("first closes")
        else:
            events.append(f"second starts, closing={closing()}")

    monkeypatch.setattr("contest.day.daemon.run_day", day)
    first = threading.Thread(target=daemon.open_day)
    first.start()
    assert first_started.wait(5)
    daemon.open_day()
    first.join(5)
    assert events == ["first starts", "first closes", "second starts, closing=False"]


def test_two_days_may_open_at_the_same_block(tmp_path: Path) -> None:
    """A validator run twice within one block (the embedded chain's 12 s) opens a second day, not an error."""
    state = ValidatorState(tmp_path / "state.sqlite")
    now = datetime(2026, 7, 15, 16, tzinfo=UTC)
    first = state.start_day(CONTEST.id, "2026-07-15", 100, b"\x01" * 32, now)
    state.finish_day(first.id, tmp_path / "board.json")
    second = state.start_day(CONTEST.id, "2026-07-15", 100, b"\x01" * 32, now)
    assert second.id != first.id and state.running_day(CONTEST.id) == second


def test_a_stored_outcome_this_version_cannot_read_is_measured_again(tmp_path: Path, caplog) -> None:
    state = ValidatorState(tmp_path / "state.sqlite")
    day = state.start_day(CONTEST.id, "2026-07-15", 100, b"\x01" * 32, datetime(2026, 7, 15, 16, tzinfo=UTC))
    record = state.recorder(day.id)
    record("kept", Reason(ReasonKind.REFUSED, "refused: unet/x.bin: pickle files are not accepted"), None)
    older = {"measurement": {"similarity": {"mean": 0.9, "minimum": 0.9, "per_image": [0.9]}}, "refusal": None}
    with sqlite3.connect(tmp_path / "state.sqlite") as db:  # under this schema's name, with fields it lacks
        db.execute("INSERT INTO outcomes (day_id, hotkey, outcome, recorded_at, schema) VALUES (?, ?, ?, ?, ?)",
                   (day.id, "older", json.dumps(older), "then", OUTCOME_SCHEMA))  # fmt: skip
    assert state.outcomes(day.id) == {
        "kept": Reason(ReasonKind.REFUSED, "refused: unet/x.bin: pickle files are not accepted")
    }
    assert "the stored outcome of older is not readable here" in caplog.text
    measured_again = Reason(ReasonKind.FAILED, "benchmark failed: measured again")
    record("older", measured_again, b"\x02" * 32)  # replaces the unreadable row
    assert state.outcomes(day.id)["older"] == measured_again
    assert state.digests(day.id) == {"older": b"\x02" * 32}  # "kept" was never fetched: no digest


def test_an_outcome_stored_under_another_outcome_schema_is_measured_again(tmp_path: Path, caplog) -> None:
    state = ValidatorState(tmp_path / "state.sqlite")
    day = state.start_day(CONTEST.id, "2026-07-15", 100, b"\x01" * 32, datetime(2026, 7, 15, 16, tzinfo=UTC))
    readable = json.dumps({"kind": "hash", "message": "content hash differs"})
    with sqlite3.connect(tmp_path / "state.sqlite") as db:  # it would parse, but was written for other outcomes
        db.execute("INSERT INTO outcomes (day_id, hotkey, outcome, recorded_at, schema) VALUES (?, ?, ?, ?, ?)",
                   (day.id, "earlier", readable, "then", "0" * 16))  # fmt: skip
    assert state.outcomes(day.id) == {}
    assert "the stored outcome of earlier was written by a validator whose outcomes differ" in caplog.text


def test_migrations_bring_a_file_up_one_version_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.sqlite"
    day = ValidatorState(path).start_day(
        CONTEST.id, "2026-07-15", 100, b"\x01" * 32, datetime(2026, 7, 15, 16, tzinfo=UTC)
    )
    monkeypatch.setattr(state_module, "STATE_VERSION", STATE_VERSION + 2)
    monkeypatch.setattr(state_module, "MIGRATIONS", {
        STATE_VERSION: "ALTER TABLE days ADD COLUMN first_added TEXT;",
        STATE_VERSION + 1: "UPDATE days SET first_added = 'by the second step';",
    })  # fmt: skip
    migrated = ValidatorState(path)
    assert migrated.running_day(CONTEST.id) == day
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT first_added FROM days").fetchall() == [("by the second step",)]
        assert db.execute("PRAGMA user_version").fetchone()[0] == STATE_VERSION + 2


def test_state_from_a_development_version_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with sqlite3.connect(path) as db:  # a file of a version no release wrote
        db.executescript("CREATE TABLE days (id INTEGER PRIMARY KEY); PRAGMA user_version = 4;")
    with pytest.raises(StateVersionError, match=r"written by a development version .* \(state version 4, before 5\)"):
        ValidatorState(path)


def test_state_from_a_newer_version_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {STATE_VERSION + 1}")
    with pytest.raises(StateVersionError, match="written by a newer validator"):
        ValidatorState(path)
